"""Keyring: unwrapped key material and loaded key objects, cached by the immutable (key id, version).

State and policy are never cached (they are read fresh per request); material of a version never changes,
so caching it is safe. Imported material too: a version up to the key's current one can only ever be
re-imported as the same material (docs/decisions/0012-import-key-material.md); a deleted one may stay cached
here, unused, since the key's state (PendingImport) refuses every use of it.
The cache is bounded and its repr shows nothing but a count.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from trent.crypto import material as crypto_material
from trent.kms.errors import KMSInternalException, KMSInvalidStateException
from trent.kms.keys import Key
from trent.kms.sensitive import Sensitive
from trent.kms.specs import Origin
from trent.rootoftrust.base import RootOfTrust, UnwrapError, WrappedMaterial, material_aad
from trent.store.base import Reader


class MissingMaterial(LookupError):
    """No such material version (a forged or foreign ciphertext header names one)."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """One version of a key's material: raw bytes (symmetric) or a pyca private key plus its DER SPKI."""

    secret: bytes = field(repr=False)
    private_key: Any = field(repr=False, default=None)
    public_der: bytes = b""


class Keyring:
    def __init__(self, root: RootOfTrust, capacity: int = 4096) -> None:
        self._root = root
        self._capacity = capacity
        self._cache: OrderedDict[tuple[str, int], Loaded] = OrderedDict()

    def __repr__(self) -> str:
        return f"Keyring(entries={len(self._cache)})"

    def clear(self) -> None:
        """Forget every entry: after a dev server's reset, a key id and version may name other material."""
        self._cache.clear()

    def wrap(self, key_id: str, version: int, secret: bytes) -> bytes:
        return self._root.wrap(Sensitive(secret), material_aad(key_id, version)).to_bytes()

    def load(self, reader: Reader, key: Key, version: int | None = None) -> Loaded:
        version = key.current_version if version is None else version
        if version > key.current_version:
            # Imported material pending rotation is never used, so never cached: until the key rotates to it, it
            # may be deleted and other material imported in its place under the same version.
            raise MissingMaterial(f"{key.store_id} has no usable material version {version}")
        entry = self._cache.get((key.store_id, version))
        if entry is not None:
            self._cache.move_to_end((key.store_id, version))
            return entry
        wrapped = reader.get_material(key.store_id, version)
        if wrapped is None and key.origin is Origin.EXTERNAL:
            # Its imported material was deleted (or expired) since the key's state was read.
            raise KMSInvalidStateException(f"{key.arn} is pending import.")
        if wrapped is None:
            raise MissingMaterial(f"{key.store_id} has no material version {version}")
        try:
            secret = self._root.unwrap(
                WrappedMaterial.from_bytes(wrapped), material_aad(key.store_id, version)
            ).reveal()
        except UnwrapError as exc:
            raise KMSInternalException() from exc
        entry = self._build(key, secret)
        self._cache[(key.store_id, version)] = entry
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return entry

    @staticmethod
    def _build(key: Key, secret: bytes) -> Loaded:
        if key.info.family in crypto_material.SYMMETRIC_FAMILIES:
            return Loaded(secret)
        private = crypto_material.load_private(secret)
        return Loaded(secret, private, crypto_material.public_key_der(private))
