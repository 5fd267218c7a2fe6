"""X.509 certificates in PEM: the trust anchor certificate of a CloudHSM cluster (RFC 5280; RFC 7468 for PEM)."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding


def certificate_der(pem: str) -> bytes:
    """The DER of the one certificate in `pem`; ValueError if it holds none that parses. Two PEM texts name the
    same certificate exactly when their DER is equal (whatever their line breaks or surrounding text)."""
    from cryptography import x509  # here: the package costs a server's start ~15 ms, and few read certificates

    try:
        return x509.load_pem_x509_certificate(pem.strip().encode()).public_bytes(Encoding.DER)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError("not a PEM-encoded X.509 certificate") from exc
