"""Custom key store test support: a trust anchor certificate, and `trent admin add-hsm-cluster` on a token."""

from __future__ import annotations

import datetime
import itertools
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.softhsm import Token, make_token
from tests.support import TrentServer, error_of, trent_command


def fails(call: Any, code: str, **params: Any) -> str:
    """The message of the KMS error `code` that `call(**params)` must raise."""
    with pytest.raises(ClientError) as excinfo:
        call(**params)
    got, message = error_of(excinfo)
    assert got == code, (got, message)
    return message


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


def add_cluster(
    data_dir: Path, token: Token, cluster_id: str, certificate: Path, env: dict[str, str] | None = None
) -> None:
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
        env={**token.env(), **(env or {})},
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


_labels = itertools.count(1)
REGIONS = (
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "ap-east-1",
    "me-south-1",
    "af-south-1",
    "eu-south-1",
    "ap-northeast-3",
    "il-central-1",
)


@dataclass
class Clusters:
    """The server, its data directory and a token directory in which each test makes tokens of its own."""

    server: TrentServer
    data: Path
    first: Token
    certificate: Path
    other_certificate: Path

    def new(self, certificate: Path | None = None) -> tuple[str, Token]:
        """A new token, registered as a new cluster (with the shared trust anchor unless told otherwise)."""
        token = another_token(self.first, f"store-{next(_labels)}")
        cluster = cluster_id()
        add_cluster(self.data, token, cluster, certificate or self.certificate)
        return cluster, token

    def create_store(self, kms: Any, name: str | None = None, prefix: str = "store") -> tuple[str, str, Token]:
        """CreateCustomKeyStore on a new cluster (new()), named `name` or else "PREFIX CLUSTER-ID": the store id,
        the cluster id and its token."""
        cluster, token = self.new()
        store_id = kms.create_custom_key_store(
            CustomKeyStoreName=name or f"{prefix} {cluster}",
            CloudHsmClusterId=cluster,
            TrustAnchorCertificate=self.certificate.read_text(),
            KeyStorePassword=token.pin,
        )["CustomKeyStoreId"]
        return store_id, cluster, token


def serving_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clusters]:
    """A real `trent serve` (2 workers, software root) that reaches one SoftHSM2 token directory."""
    hsm = make_token(tmp_path_factory.mktemp("hsm"), label="unused")
    data = tmp_path_factory.mktemp("trent-data-cks")
    certs = tmp_path_factory.mktemp("certs")
    with TrentServer(data, env=hsm.env()) as server:
        yield Clusters(
            server, data, hsm, trust_anchor(certs / "customerCA.crt"), trust_anchor(certs / "other.crt", "Other CA")
        )
