"""The HTTPS listener's TLS context: one certificate chain and its key, from PEM files."""

from __future__ import annotations

import ssl
from pathlib import Path


class TlsError(ValueError):
    """The certificate or key cannot be used; the message names the files and says why, in one line."""


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A server context with the stdlib's secure defaults (TLS 1.2 or later, no compression). With `client_ca`,
    a client may present a certificate and, if it does, the handshake fails unless it chains to that CA
    (CERT_OPTIONAL: the KMS API on the same port needs none; the XKS proxy API requires one, docs/xks.md)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path, what in ((cert, "certificate"), (key, "key")):
        if not path.is_file():
            raise TlsError(f"TLS {what} file {path} does not exist or is not a file")
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise TlsError(f"cannot load the TLS certificate {cert} with key {key}: {reason}") from None
    if client_ca is not None:
        if not client_ca.is_file():
            raise TlsError(f"TLS client CA file {client_ca} does not exist or is not a file")
        try:
            context.load_verify_locations(cafile=client_ca)
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            raise TlsError(f"cannot load the TLS client CA certificates {client_ca}: {reason}") from None
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
