"""Software root of trust: AES-256-GCM under root keys kept in a file of mode 0600.

The file holds one or more root keys (a keyring, newest active); blobs name the key that made them, so
adding a root key never invalidates old blobs. File format (JSON): {"version": 1, "active": id,
"keys": {id: base64(32 bytes)}}.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import stat
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.kms.sensitive import Sensitive
from trent.rootoftrust.base import UnwrapError, WrappedMaterial

ALGORITHM = "AES-256-GCM"
FILE_VERSION = 1
_IV = 12


class RootKeyFileError(Exception):
    """The root key file is missing, unreadable, too open, or malformed."""


class SoftwareRoot:
    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        if active not in keys or any(len(k) != 32 for k in keys.values()):
            raise RootKeyFileError("root key file must name an active 32-byte key")
        self._aeads = {kid: AESGCM(k) for kid, k in keys.items()}
        self._active = active

    def __repr__(self) -> str:
        return f"SoftwareRoot(active={self._active!r}, keys={len(self._aeads)})"

    @property
    def active_key_id(self) -> str:
        return self._active

    def wrap(self, material: Sensitive, aad: bytes) -> WrappedMaterial:
        iv = os.urandom(_IV)
        return WrappedMaterial(
            self._active, ALGORITHM, iv + self._aeads[self._active].encrypt(iv, material.reveal(), aad)
        )

    def unwrap(self, wrapped: WrappedMaterial, aad: bytes) -> Sensitive:
        aead = self._aeads.get(wrapped.root_key_id)
        if aead is None or wrapped.algorithm != ALGORITHM:
            raise UnwrapError(f"unknown root key {wrapped.root_key_id!r} or algorithm {wrapped.algorithm!r}")
        try:
            return Sensitive(aead.decrypt(wrapped.blob[:_IV], wrapped.blob[_IV:], aad))
        except (InvalidTag, ValueError) as exc:
            raise UnwrapError("wrapped material failed authentication") from exc

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> SoftwareRoot:
        """Load the root key file; create it (mode 0600, atomically) on first start."""
        if not path.exists():
            if not create:
                raise RootKeyFileError(f"root key file {path} does not exist; restore it from your backup (mode 0600)")
            _create(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise RootKeyFileError(
                f"root key file {path} has mode {mode:o}; it must not be readable by others (chmod 600 {path})"
            )
        try:
            doc = json.loads(path.read_text())
            if not isinstance(doc, dict) or doc.get("version") != FILE_VERSION or not isinstance(doc["keys"], dict):
                raise ValueError("not a version 1 root key file")
            keys = {kid: base64.b64decode(v, validate=True) for kid, v in doc["keys"].items()}
            return cls(keys, doc["active"])
        except (ValueError, KeyError, TypeError, AttributeError, RootKeyFileError) as exc:
            raise RootKeyFileError(f"root key file {path} is malformed; restore it from your backup") from exc


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    kid = "rk-" + secrets.token_hex(8)
    doc = {"version": FILE_VERSION, "active": kid, "keys": {kid: base64.b64encode(os.urandom(32)).decode()}}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")  # mode 0600, unique
    try:
        os.write(fd, json.dumps(doc).encode())
        os.fsync(fd)
        os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic; if another process created the file first, theirs is kept
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new directory entry is durable too
        finally:
            os.close(dir_fd)
    finally:
        os.unlink(tmp)
