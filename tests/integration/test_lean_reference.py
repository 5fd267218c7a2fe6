"""The benchmark's lean reference is a real peer: it checks SigV4 and does the real cryptography.

Issue 5 measures Trent as a fraction of this server; a reference that skipped the signature check or
answered without doing the work would make every ratio in benchmarks/results a lie.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from tests.support import ACCESS_KEY_ID, SECRET_ACCESS_KEY, kms_client

LEAN = Path(__file__).resolve().parents[2] / "benchmarks" / "lean_reference.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(extra: list[str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(LEAN), "--port", str(port), "--workers", "2"]
        + ["--access-key", ACCESS_KEY_ID, "--secret-key", SECRET_ACCESS_KEY]
        + extra,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert "listening on" in process.stdout.readline()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):  # the workers bind after the parent announces
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield endpoint
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        process.stdout.close()


@pytest.fixture(scope="module")
def lean() -> Iterator[str]:
    yield from _start([])


def test_durable_mode_writes_each_request_before_answering_it(tmp_path: Path) -> None:
    """lean-durable, the floor under audit-before-response, really puts a record per request on disk."""
    for endpoint in _start(["--durable", str(tmp_path)]):
        kms = _client(endpoint)
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        answers = [kms.encrypt(KeyId=key_id, Plaintext=b"x") for _ in range(5)]
        request_ids = {a["ResponseMetadata"]["RequestId"] for a in answers}
        written = b"".join(p.read_bytes() for p in tmp_path.glob("*.journal"))
        assert all(request_id.encode() in written for request_id in request_ids)


def _client(endpoint: str, secret: str = SECRET_ACCESS_KEY) -> Any:
    return kms_client(endpoint, secret=secret)


def test_a_wrong_secret_is_refused(lean: str) -> None:
    with pytest.raises(ClientError) as caught:
        _client(lean, secret="not-the-secret").create_key()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_symmetric_round_trip_is_bound_to_the_context(lean: str) -> None:
    kms = _client(lean)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"lean", EncryptionContext={"a": "b"})["CiphertextBlob"]
    assert b"lean" not in blob
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"lean"
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "c"})


def test_asymmetric_operations_are_real(lean: str) -> None:
    kms = _client(lean)
    signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=signer)["PublicKey"])
    assert isinstance(public, ec.EllipticCurvePublicKey)
    signature = kms.sign(KeyId=signer, Message=b"m", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    public.verify(signature["Signature"], b"m", ec.ECDSA(hashes.SHA256()))

    agreement = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    theirs = serialization.load_der_public_key(kms.get_public_key(KeyId=agreement)["PublicKey"])
    assert isinstance(theirs, ec.EllipticCurvePublicKey)
    mine = ec.generate_private_key(ec.SECP256R1())
    der = mine.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    shared = kms.derive_shared_secret(KeyId=agreement, KeyAgreementAlgorithm="ECDH", PublicKey=der)
    assert shared["SharedSecret"] == mine.exchange(ec.ECDH(), theirs)

    rsa_key = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    rsa_public: Any = serialization.load_der_public_key(kms.get_public_key(KeyId=rsa_key)["PublicKey"])
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    blob = rsa_public.encrypt(b"wrapped", oaep)
    plain = kms.decrypt(KeyId=rsa_key, CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert plain["Plaintext"] == b"wrapped"


def test_keys_are_seen_by_every_worker(lean: str) -> None:
    kms = _client(lean)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(20):  # fresh connections land on either worker (SO_REUSEPORT)
        assert _client(lean).describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id
