"""Software root of trust: AES-256-GCM under root keys kept in a file of mode 0600 (rootoftrust/keyfile.py).

The file holds a keyring (several root key versions, the newest active); blobs name the key that made them, so
adding a root key never invalidates old blobs. Every process of every node that shares the file follows it:
a blob naming a root key this process does not hold, and each wrap at most once a second, re-read the file
if it changed (trent admin rotate-root-key adds a key there). A keyring may name a successor (trent admin
migrate-root): from then on the successor wraps, and opens what it wrapped; the keyring opens the rest.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.kms.sensitive import Sensitive
from trent.rootoftrust import keyfile
from trent.rootoftrust.base import RootOfTrust, RootSetupError, RootUnavailable, UnwrapError, WrappedMaterial
from trent.rootoftrust.keyfile import Keyring, RootKeyFileError, Seal

__all__ = ["ALGORITHM", "RootKeyFileError", "SoftwareRoot", "Successor"]

log = logging.getLogger("trent.rootoftrust")
ALGORITHM = "AES-256-GCM"
REFRESH_SECONDS = 1.0  # how stale a process's copy of the file may be when it wraps
_IV = 12
# Opens the root of trust a keyring's "successor" names (the composition root supplies it).
Successor = Callable[[Mapping[str, str]], RootOfTrust]


class _Source:
    """Where a file-backed root reads its keyring again: the path, the passphrase, the seal last used."""

    def __init__(self, path: Path, passphrase: Sensitive | None, seal: Seal | None, successor: Successor | None):
        self.path, self.passphrase, self.seal, self.open_successor = path, passphrase, seal, successor
        self.stamp = keyfile.stamp(path)
        self.checked = time.monotonic()
        self.lock = threading.Lock()


class SoftwareRoot:
    def __init__(
        self,
        keys: Mapping[str, bytes],
        active: str,
        *,
        successor: RootOfTrust | None = None,
        source: _Source | None = None,
    ) -> None:
        if active not in keys or any(len(k) != 32 for k in keys.values()):
            raise RootKeyFileError("root key file must name an active 32-byte key")
        self._aeads = {kid: AESGCM(k) for kid, k in keys.items()}
        self._active = active
        self._successor = successor
        self._source = source

    def __repr__(self) -> str:
        return f"SoftwareRoot(active={self._active!r}, keys={len(self._aeads)}, successor={self._successor!r})"

    @property
    def active_key_id(self) -> str:
        self._refresh(force=False)
        return self._successor.active_key_id if self._successor is not None else self._active

    @property
    def successor(self) -> RootOfTrust | None:
        return self._successor

    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._aeads)

    def wrap(self, material: Sensitive, aad: bytes) -> WrappedMaterial:
        self._refresh(force=False)
        if self._successor is not None:
            return self._successor.wrap(material, aad)
        iv = os.urandom(_IV)
        return WrappedMaterial(
            self._active, ALGORITHM, iv + self._aeads[self._active].encrypt(iv, material.reveal(), aad)
        )

    def unwrap(self, wrapped: WrappedMaterial, aad: bytes) -> Sensitive:
        if wrapped.algorithm != ALGORITHM:
            if self._successor is None:
                self._refresh(force=True)  # perhaps a migration handed over since this process last looked
            if self._successor is not None:
                return self._successor.unwrap(wrapped, aad)
            raise UnwrapError(f"unknown root key {wrapped.root_key_id!r} or algorithm {wrapped.algorithm!r}")
        aead = self._aeads.get(wrapped.root_key_id)
        if aead is None and self._refresh(force=True):  # a root key added since (a rotation)
            aead = self._aeads.get(wrapped.root_key_id)
        if aead is None:
            raise UnwrapError(f"unknown root key {wrapped.root_key_id!r}")
        try:
            return Sensitive(aead.decrypt(wrapped.blob[:_IV], wrapped.blob[_IV:], aad))
        except (InvalidTag, ValueError) as exc:
            raise UnwrapError("wrapped material failed authentication") from exc

    def close(self) -> None:
        if self._successor is not None:
            self._successor.close()

    # -- the file ---------------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Path,
        *,
        create: bool = True,
        passphrase: Sensitive | None = None,
        successor: Successor | None = None,
    ) -> SoftwareRoot:
        """Load the root key file; create it (mode 0600, atomically; sealed if a passphrase is given) on first
        start. `successor` opens the root of trust the keyring hands over to, if it names one."""
        if not path.exists():
            if not create:
                raise RootKeyFileError(f"root key file {path} does not exist; restore it from your backup (mode 0600)")
            kid = new_key_id()
            seal = None if passphrase is None else Seal.new(passphrase)
            keyfile.write(path, Keyring({kid: os.urandom(32)}, kid), seal, replace=False)
        ring, seal = keyfile.read(path, passphrase)
        source = _Source(path, passphrase, seal, successor)
        return cls(ring.keys, ring.active, successor=_open_successor(source, ring), source=source)

    def _refresh(self, *, force: bool) -> bool:
        """Re-read the file if it changed (at most once per REFRESH_SECONDS unless `force`); whether it did."""
        source = self._source
        if source is None or (not force and time.monotonic() - source.checked < REFRESH_SECONDS):
            return False
        with source.lock:
            source.checked = time.monotonic()
            now = keyfile.stamp(source.path)
            if now is None or now == source.stamp:
                return False
            try:
                ring, seal = keyfile.read(source.path, source.passphrase, source.seal)
            except (RootSetupError, OSError) as exc:
                log.warning(
                    "root key file %s changed but cannot be read (%s); keeping the keys read before", source.path, exc
                )
                source.stamp = now  # tried again when it changes again
                return False
            try:
                successor = self._successor if self._successor is not None else _open_successor(source, ring)
            except (RootSetupError, RootUnavailable) as exc:
                log.warning(
                    "root key file %s hands over to a root of trust that cannot be opened: %s", source.path, exc
                )
                return False  # tried again at the next refresh
            self._aeads = {kid: AESGCM(k) for kid, k in ring.keys.items()}
            self._active, self._successor, source.seal, source.stamp = ring.active, successor, seal, now
            return True

    def change(self, edit: Callable[[Keyring], Keyring]) -> Keyring:
        """Read the file afresh, apply `edit`, write it back (same seal) and follow it; under the file's lock."""
        source = self._source
        if source is None:
            raise RootKeyFileError("this root of trust has no key file to change")
        with keyfile.changing(source.path):
            ring, seal = keyfile.read(source.path, source.passphrase, source.seal)
            changed = edit(ring)
            keyfile.write(source.path, changed, seal)
        self._refresh(force=True)
        return changed

    def add_key(self) -> str:
        """A new root key version in the file, active from now on (in every process within REFRESH_SECONDS)."""
        kid = new_key_id()

        def add(ring: Keyring) -> Keyring:
            if ring.successor is not None:
                raise RootKeyFileError(
                    f"root key file {self._path()} hands over to a {ring.successor.get('root_of_trust')} root of "
                    "trust: rotate that one (start with --root-of-trust as the migration said)"
                )
            return Keyring({**ring.keys, kid: os.urandom(32)}, kid)

        self.change(add)
        return kid

    def _path(self) -> Path | None:
        return None if self._source is None else self._source.path


def new_key_id() -> str:
    return "rk-" + secrets.token_hex(8)


def _open_successor(source: _Source, ring: Keyring) -> RootOfTrust | None:
    if ring.successor is None:
        return None
    if source.open_successor is None:
        raise RootKeyFileError(
            f"root key file {source.path} hands over to another root of trust this command cannot open"
        )
    return source.open_successor(ring.successor)
