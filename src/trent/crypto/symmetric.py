"""SYMMETRIC_DEFAULT: AES-256-GCM under a key derived per message from the key material.

As AWS KMS does (Cryptographic Details, "Encrypt"/"Decrypt" operations), each ciphertext gets its own
256-bit key, derived from the material and a random nonce, so no GCM key approaches the 2^32-invocation
limit for random IVs (NIST SP 800-38D 8.3). Derivation: NIST SP 800-108 counter mode with HMAC-SHA256,
one block: K = HMAC(material, [1]_4 || label || 0x00 || nonce || [256]_4).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.crypto.ciphertext import IV_SIZE, NONCE_SIZE, Blob

KEY_SIZE = 32
_LABEL = b"\x00\x00\x00\x01trent/symmetric/v1\x00"
_LENGTH = b"\x00\x00\x01\x00"


def generate_key() -> bytes:
    return os.urandom(KEY_SIZE)


def _derive(material: bytes, nonce: bytes) -> AESGCM:
    if len(material) != KEY_SIZE:
        raise ValueError("SYMMETRIC_DEFAULT material must be 32 bytes")
    mac = hmac.HMAC(material, hashes.SHA256())
    mac.update(_LABEL + nonce + _LENGTH)
    return AESGCM(mac.finalize())


def encrypt(material: bytes, key_id: str, material_version: int, plaintext: bytes, context_aad: bytes) -> bytes:
    nonce, iv = os.urandom(NONCE_SIZE), os.urandom(IV_SIZE)
    header = Blob(key_id, material_version, nonce, iv, b"").header
    body = _derive(material, nonce).encrypt(iv, plaintext, header + context_aad)
    return header + body


def decrypt(material: bytes, blob: Blob, context_aad: bytes) -> bytes:
    """Raises cryptography's InvalidTag for any tampering, a wrong key or a wrong context."""
    aead = _derive(material, blob.nonce)  # a wrong-size key is the caller's bug (ValueError), not tampering
    try:
        return aead.decrypt(blob.iv, blob.body, blob.header + context_aad)
    except InvalidTag:
        raise
    except ValueError as exc:  # e.g. a body shorter than the tag
        raise InvalidTag() from exc
