"""The symmetric ciphertext blob: self-describing and versioned, so Decrypt needs no KeyId.

Version 1 layout (big-endian; everything before the ciphertext is the header, bound as AAD):

    offset  size  field
    0       2     magic b"TK"
    2       1     format version = 1
    3       1     n = length of the key id
    4       n     key id (ASCII)
    4+n     4     key material version
    8+n     16    derivation nonce (input to the per-message key derivation)
    24+n    12    AES-GCM IV
    36+n    ...   AES-256-GCM ciphertext || 16-byte tag

Readers accept every version ever written; writers emit only the newest.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

MAGIC = b"TK"
VERSION_1 = 1
NONCE_SIZE = 16
IV_SIZE = 12
TAG_SIZE = 16
_FIXED = struct.Struct(">2sBB")
_VERSION = struct.Struct(">I")


class MalformedBlob(ValueError):
    """The bytes are not a ciphertext blob this code ever wrote."""


@dataclass(frozen=True, slots=True)
class Blob:
    key_id: str
    material_version: int
    nonce: bytes
    iv: bytes
    body: bytes  # ciphertext || tag

    @property
    def header(self) -> bytes:
        key = self.key_id.encode("ascii")
        return (
            _FIXED.pack(MAGIC, VERSION_1, len(key)) + key + _VERSION.pack(self.material_version) + self.nonce + self.iv
        )

    def pack(self) -> bytes:
        return self.header + self.body


def unpack(data: bytes) -> Blob:
    if len(data) < _FIXED.size:
        raise MalformedBlob("too short")
    magic, version, key_len = _FIXED.unpack_from(data)
    if magic != MAGIC or version != VERSION_1:
        raise MalformedBlob("unknown format")
    at = _FIXED.size
    end_of_header = at + key_len + _VERSION.size + NONCE_SIZE + IV_SIZE
    if len(data) < end_of_header + TAG_SIZE:
        raise MalformedBlob("truncated")
    try:
        key_id = data[at : at + key_len].decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedBlob("bad key id") from exc
    at += key_len
    (material_version,) = _VERSION.unpack_from(data, at)
    at += _VERSION.size
    nonce = data[at : at + NONCE_SIZE]
    iv = data[at + NONCE_SIZE : end_of_header]
    return Blob(key_id, material_version, nonce, iv, data[end_of_header:])


def new_header(key_id: str, material_version: int) -> tuple[bytes, bytes]:
    """A fresh header (random derivation nonce and IV) and its IV, for a sealer that runs AES-GCM itself: a
    key inside a custom key store's token, which uses the IV and not the nonce (ops/storekeys.py)."""
    iv = os.urandom(IV_SIZE)
    return Blob(key_id, material_version, os.urandom(NONCE_SIZE), iv, b"").header, iv
