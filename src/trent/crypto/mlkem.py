"""ML-KEM (FIPS 203) encapsulation and decapsulation for Encapsulate and Decapsulate."""

from __future__ import annotations

from typing import Any


class InvalidEncapsulation(ValueError):
    """The ciphertext is not an ML-KEM ciphertext for this parameter set (wrong length)."""


def encapsulate(public_key: Any) -> tuple[bytes, bytes]:
    """(shared secret, ciphertext): FIPS 203 7.2 ML-KEM.Encaps."""
    shared, ciphertext = public_key.encapsulate()
    return shared, ciphertext


def decapsulate(private_key: Any, ciphertext: bytes) -> bytes:
    """FIPS 203 7.3 ML-KEM.Decaps. A tampered ciphertext of the right length yields an unrelated secret
    (implicit rejection, by design); only a wrong length is an error."""
    try:
        shared: bytes = private_key.decapsulate(ciphertext)
    except ValueError as exc:
        raise InvalidEncapsulation("not an ML-KEM ciphertext of this parameter set") from exc
    return shared
