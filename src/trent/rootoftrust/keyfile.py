"""The software root's key file: a keyring (root key versions, one active), in the clear or sealed under a
passphrase. Written atomically with mode 0600; read by every process of every node that shares it.

Plain (version 1): {"version": 1, "active": id, "keys": {id: base64(32 bytes)}[, "successor": {...}]}
Sealed (version 2): {"version": 2, "kdf": {"name": "scrypt", "salt": b64, "n": N, "r": r, "p": p},
"nonce": b64, "sealed": b64(AES-256-GCM(scrypt(passphrase), nonce, the version 1 document, AAD))}, the AAD being
SEALED_AAD followed by the canonical JSON of "kdf", so a changed parameter fails like a wrong passphrase.
scrypt is RFC 7914 through pyca/cryptography; its parameters are stored with the file, so they can grow.
"successor" names the root of trust the keyring hands over to (trent admin migrate-root): settings of it,
never a secret.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from trent.kms.sensitive import Sensitive
from trent.rootoftrust.base import RootSetupError

PLAIN_VERSION, SEALED_VERSION = 1, 2
SEALED_AAD = b"trent:sealed-root-key:v1:"
# 2**15 * 8 * 128 bytes = 32 MiB and about 0.1 s per derivation; every process derives once at start.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_N_RANGE, _R_RANGE, _P_RANGE = (2**14, 2**20), (1, 32), (1, 16)  # what a file may ask for (memory, time)


class RootKeyFileError(RootSetupError):
    """The root key file is missing, unreadable, too open, malformed, or sealed under another passphrase."""


@dataclass(frozen=True, slots=True)
class Keyring:
    keys: Mapping[str, bytes] = field(repr=False)
    active: str
    successor: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Seal:
    """How a file is sealed: the scrypt parameters and the key they derive (never the passphrase)."""

    salt: bytes
    n: int
    r: int
    p: int
    key: bytes = field(repr=False)

    @classmethod
    def derive(
        cls, passphrase: Sensitive, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
    ) -> Seal:
        return cls(salt, n, r, p, Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.reveal()))

    @classmethod
    def new(cls, passphrase: Sensitive) -> Seal:
        if not passphrase.reveal():
            raise RootKeyFileError("the root key passphrase is empty")
        return cls.derive(passphrase, os.urandom(16))

    def kdf(self) -> dict[str, Any]:
        return {"name": "scrypt", "salt": _b64(self.salt), "n": self.n, "r": self.r, "p": self.p}


def stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is replaced (inode, mtime, size); None if it is gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def is_sealed(path: Path) -> bool:
    return _load(path).get("version") == SEALED_VERSION


def read(path: Path, passphrase: Sensitive | None, known: Seal | None = None) -> tuple[Keyring, Seal | None]:
    """The keyring in the file, and its seal (None: in the clear). `known`, a seal of this file read before,
    saves the key derivation when the salt and parameters are unchanged."""
    doc = _load(path)
    if doc.get("version") != SEALED_VERSION:
        return _keyring(path, doc), None
    try:
        kdf, nonce, sealed = doc["kdf"], _unb64(doc["nonce"]), _unb64(doc["sealed"])
        salt, n, r, p = _unb64(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        if kdf.get("name") != "scrypt" or not _allowed(n, r, p):
            raise ValueError("unsupported key derivation")
    except (KeyError, TypeError, ValueError) as exc:
        raise RootKeyFileError(f"root key file {path} is malformed ({exc}); restore it from your backup") from None
    seal = known if known is not None and (known.salt, known.n, known.r, known.p) == (salt, n, r, p) else None
    if seal is None:
        if passphrase is None:
            raise RootKeyFileError(
                f"root key file {path} is sealed: give its passphrase with --root-key-passphrase-file FILE or the "
                "environment variable TRENT_ROOT_KEY_PASSPHRASE"
            )
        seal = Seal.derive(passphrase, salt, n, r, p)
    try:
        plain = AESGCM(seal.key).decrypt(nonce, sealed, SEALED_AAD + _canonical(kdf))
    except (InvalidTag, ValueError):
        raise RootKeyFileError(
            f"root key file {path} is sealed under another passphrase (or was altered): the passphrase given does "
            "not open it"
        ) from None
    return _keyring(path, json.loads(plain)), seal


def write(path: Path, keyring: Keyring, seal: Seal | None, *, replace: bool = True) -> None:
    """Write the keyring atomically (mode 0600, fsynced, then renamed into place). `replace=False`: only if
    there is no file yet (another process that made one first keeps its own)."""
    doc: dict[str, Any] = {
        "version": PLAIN_VERSION,
        "active": keyring.active,
        "keys": {kid: _b64(k) for kid, k in keyring.keys.items()},
    }
    if keyring.successor is not None:
        doc["successor"] = dict(keyring.successor)
    data = json.dumps(doc).encode()
    if seal is not None:
        nonce, kdf = os.urandom(12), seal.kdf()
        sealed = AESGCM(seal.key).encrypt(nonce, data, SEALED_AAD + _canonical(kdf))
        data = json.dumps(
            {"version": SEALED_VERSION, "kdf": kdf, "nonce": _b64(nonce), "sealed": _b64(sealed)}
        ).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")  # mode 0600, unique
    try:
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # atomic; if another process created the file first, theirs is kept
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new directory entry is durable too
        finally:
            os.close(dir_fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def changing(path: Path) -> Iterator[None]:
    """Held while a command reads, changes and writes the file: an flock on its directory, since the file
    itself is replaced by each write (two rotations at once must not both add a key and lose one)."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _load(path: Path) -> dict[str, Any]:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise RootKeyFileError(
                f"root key file {path} has mode {mode:o}; it must not be readable by others (chmod 600 {path})"
            )
        doc = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise RootKeyFileError(f"root key file {path} is malformed; restore it from your backup") from exc
    if not isinstance(doc, dict) or doc.get("version") not in (PLAIN_VERSION, SEALED_VERSION):
        raise RootKeyFileError(f"root key file {path} is malformed; restore it from your backup")
    return doc


def _keyring(path: Path, doc: Any) -> Keyring:
    try:
        if not isinstance(doc, dict) or doc.get("version") != PLAIN_VERSION or not isinstance(doc["keys"], dict):
            raise ValueError("not a version 1 keyring")
        keys = {str(kid): base64.b64decode(v, validate=True) for kid, v in doc["keys"].items()}
        successor = doc.get("successor")
        if successor is not None and not (
            isinstance(successor, dict) and all(isinstance(v, str) for v in successor.values())
        ):
            raise ValueError("malformed successor")
        active = doc["active"]
        if active not in keys or any(len(k) != 32 for k in keys.values()):
            raise ValueError("no active 32-byte key")
        return Keyring(keys, active, successor)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RootKeyFileError(f"root key file {path} is malformed; restore it from your backup") from exc


def _allowed(n: int, r: int, p: int) -> bool:
    power_of_two = n & (n - 1) == 0
    return (
        power_of_two
        and _N_RANGE[0] <= n <= _N_RANGE[1]
        and _R_RANGE[0] <= r <= _R_RANGE[1]
        and _P_RANGE[0] <= p <= _P_RANGE[1]
    )


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text, validate=True)
