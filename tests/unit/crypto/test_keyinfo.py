"""crypto/keyinfo.py takes ObjectIdentifier from where pyca/cryptography defines it, not from the
cryptography.x509 package (which a server's start need not import): the same class."""

from __future__ import annotations

from cryptography import x509

from trent.crypto import keyinfo


def test_the_object_identifier_is_x509s() -> None:
    assert keyinfo.ObjectIdentifier is x509.ObjectIdentifier
    assert x509.ObjectIdentifier("1.2.840.10045.2.1") == keyinfo._EC_PUBLIC_KEY
