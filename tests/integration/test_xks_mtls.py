"""The XKS proxy API over HTTPS with mutual TLS (--xks-client-ca, --xks-client-names): a client certificate
chained to the CA with an accepted subject is served; one chained elsewhere, or expired, fails the handshake;
none, or another subject, is refused by the XKS front; the KMS API on the same port needs none."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import ipaddress
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.xks_client import XksClient, data_dir_of
from tests.support import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, TrentServer, trent_command

KMS_NAME = "cks.kms.us-east-1.amazonaws.com"
XKS_ID = "MTLSTESTKEYAAAAAAAAA"
XKS_SECRET = base64.b64encode(b"m" * 32).decode()


@dataclass
class Issued:
    cert: Path
    key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    issued = Issued(directory / f"{stem}.pem", directory / f"{stem}.key")
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    issued.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return issued


class Authority:
    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.issued = _write(directory, name, self.cert, self.key)

    def issue(self, stem: str, cn: str, *, server: bool = False, expired: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now - dt.timedelta(hours=1) if expired else now + dt.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return _write(self.directory, stem, builder.sign(self.key, hashes.SHA256()), key)


@dataclass
class Setup:
    server: TrentServer
    ca: Authority
    xks: XksClient

    def client(self, issued: Issued | None) -> XksClient:
        context = ssl.create_default_context(cafile=str(self.ca.issued.cert))
        if issued is not None:
            context.load_cert_chain(issued.cert, issued.key)
        return replace(self.xks, ssl_context=context)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("mtls")
    ca = Authority(directory, "trent-test-ca")
    tls = ca.issue("server", "localhost", server=True)
    env = {
        "TRENT_TLS_CERT": str(tls.cert),
        "TRENT_TLS_KEY": str(tls.key),
        "TRENT_XKS_CLIENT_CA": str(ca.issued.cert),
        "TRENT_XKS_CLIENT_NAMES": f"{KMS_NAME},cks.kms.eu-west-1.amazonaws.com",
    }
    with TrentServer(directory / "data", env=env, workers=1) as server:
        assert server.endpoint.startswith("https://")
        done = subprocess.run(
            [*trent_command(), "admin", "xks", "create-keystore", "--uri-prefix", "mtls", "--data-dir",
             str(data_dir_of(server)), "--access-key-id", XKS_ID, "--secret-access-key", XKS_SECRET],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield Setup(server, ca, XksClient(server.endpoint, "mtls", XKS_ID, XKS_SECRET))


def test_a_certificate_of_the_ca_with_an_accepted_subject_is_served(setup: Setup) -> None:
    client = setup.client(setup.ca.issue("kms", KMS_NAME))
    answer = client.health()
    assert answer.status == 200, answer.body


@pytest.mark.parametrize("cn", ["someone.example", "cks.kms.us-east-2.amazonaws.com"])
def test_another_subject_is_refused(setup: Setup, cn: str) -> None:
    answer = setup.client(setup.ca.issue(f"other-{cn}", cn)).health()
    assert (answer.status, answer.error) == (401, "AuthenticationFailedException")


def test_no_client_certificate_is_refused_by_the_xks_front(setup: Setup) -> None:
    answer = setup.client(None).health()
    assert (answer.status, answer.error) == (401, "AuthenticationFailedException")


def test_the_kms_api_on_the_same_port_needs_no_client_certificate(setup: Setup) -> None:
    kms = boto3.client(
        "kms",
        endpoint_url=setup.server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        verify=str(setup.ca.issued.cert),
        config=Config(retries={"max_attempts": 0}),
    )
    assert kms.list_keys()["Keys"] == []


@pytest.mark.parametrize("bogus", ["self-signed", "expired"])
def test_a_certificate_chained_elsewhere_or_expired_fails_the_handshake(
    setup: Setup, tmp_path: Path, bogus: str
) -> None:
    if bogus == "self-signed":
        issued = Authority(tmp_path, "bogus-ca").issue("bogus", KMS_NAME)
    else:
        issued = setup.ca.issue("expired", KMS_NAME, expired=True)
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
        setup.client(issued).health()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"TRENT_XKS_CLIENT_CA": "ca.pem"}, "needs HTTPS"),
        ({"TRENT_XKS_CLIENT_NAMES": "x"}, "needs 'xks_client_ca'"),
    ],
)
def test_mutual_tls_settings_need_their_companions(tmp_path: Path, env: dict[str, str], says: str) -> None:
    done = subprocess.run(
        [*trent_command(), "serve", "--data-dir", str(tmp_path / "d"), "--port", "0"],
        capture_output=True, text=True, timeout=60, env={**{k: v for k, v in os.environ.items() if not k.startswith("TRENT_")}, **env},
    )  # fmt: skip
    assert done.returncode != 0 and says in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_missing_client_ca_file_is_one_clear_error(tmp_path: Path) -> None:
    ca = Authority(tmp_path, "ca")
    tls = ca.issue("server", "localhost", server=True)
    done = subprocess.run(
        [*trent_command(), "serve", "--data-dir", str(tmp_path / "d"), "--port", "0", "--tls-cert", str(tls.cert),
         "--tls-key", str(tls.key), "--xks-client-ca", str(tmp_path / "nope.pem")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "client CA" in done.stderr and "Traceback" not in done.stderr, done.stderr
