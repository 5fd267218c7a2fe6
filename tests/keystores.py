"""Custom key store test support: a trust anchor certificate, and `trent admin add-hsm-cluster` on a token."""

from __future__ import annotations

import datetime
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.softhsm import Token
from tests.support import trent_command


def trust_anchor(path: Path, name: str = "Trent test cluster CA") -> Path:
    """A self-signed CA certificate in PEM at `path` (what a CloudHSM cluster's customerCA.crt is)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def admin(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")} | (env or {})
    return subprocess.run(
        [*trent_command(), "admin", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )


def add_cluster(data_dir: Path, token: Token, cluster_id: str, certificate: Path) -> None:
    done = admin(
        data_dir,
        "add-hsm-cluster",
        "--cluster-id",
        cluster_id,
        "--pkcs11-module",
        token.module,
        "--token-label",
        token.label,
        "--trust-anchor-certificate",
        str(certificate),
        env=token.env(),
    )
    assert done.returncode == 0, done.stderr


def another_token(token: Token, label: str) -> Token:
    """One more token beside `token` (the same SOFTHSM2_CONF and token directory), with PINs of its own."""
    softhsm2_util = shutil.which("softhsm2-util")
    assert softhsm2_util is not None
    other = Token(token.directory, label, secrets.token_hex(8), secrets.token_hex(8), token.module)
    subprocess.run(
        [softhsm2_util, "--init-token", "--free", "--label", label, "--so-pin", other.so_pin, "--pin", other.pin],
        env={**os.environ, **token.env()},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return other


def cluster_id() -> str:
    return "cluster-" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(11))
