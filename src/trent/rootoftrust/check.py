"""The key check value: proof, kept beside the data, of which root of trust the data was made with.

Several nodes share one store and must all use the same root key file. A node given another one would wrap
new keys no other node can open, or (with no data of its own to fail on) serve an empty-looking store. So
the first start stores the root's wrap of a fixed probe, and every start unwraps it: a root that cannot
open it is not the one the store was made with. The wrap is AES-GCM (or whatever the root does) of a public
constant under its own AAD: it reveals nothing of the key, and cannot stand in for any other wrapped blob.
"""

from __future__ import annotations

from trent.kms.sensitive import Sensitive
from trent.rootoftrust.base import RootOfTrust, UnwrapError, WrappedMaterial

_AAD = b"trent:root-check:v1"
_PROBE = b"trent root of trust check value, version 1"


def make_check(root: RootOfTrust) -> bytes:
    return root.wrap(Sensitive(_PROBE), _AAD).to_bytes()


def opens_check(root: RootOfTrust, check: bytes) -> bool:
    """Whether `root` is the root of trust that made `check`."""
    try:
        return root.unwrap(WrappedMaterial.from_bytes(check), _AAD).reveal() == _PROBE
    except (UnwrapError, ValueError):
        return False
