"""Which quota each request draws from (ops/throttling.py), in-process through the AWS JSON front, with buckets
that record every draw and refuse those the test says to."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.unit.protocol.test_front import NOW, REGION, Harness, b64
from trent.audit.sqlite import SqliteAuditLog
from trent.auth.principals import Authenticator
from trent.kms.principals import DEFAULT_ACCOUNT, root_arn
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.ops.principals import create_access_key
from trent.ops.throttling import Throttle
from trent.protocol.awsjson.front import AwsJsonFront
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore

THROTTLED = {
    "__type": "ThrottlingException",
    "message": "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
}


@dataclass
class Recording:
    """Buckets that admit everything but the quotas in `empty`, and note each draw as (key, rate, burst)."""

    draws: list[tuple[str, float, float]] = field(default_factory=list)
    empty: set[str] = field(default_factory=set)

    def take(self, key: bytes, rate: float, burst: float) -> bool:
        self.draws.append((key.decode(), rate, burst))
        return key.decode().rpartition("\0")[2] not in self.empty

    def quotas(self) -> list[str]:
        return [key.rpartition("\0")[2] for key, _, _ in self.draws]


@dataclass
class Throttled:
    harness: Harness
    buckets: Recording

    def draws(self, operation: str, payload: object) -> tuple[int, list[str]]:
        """The status of one request and the quotas it drew from."""
        self.buckets.draws.clear()
        status, _ = self.harness.call(operation, payload)
        return status, self.buckets.quotas()


@pytest.fixture
def throttled() -> Iterator[Throttled]:
    store = SqliteStore(":memory:")
    root = SoftwareRoot({"rk-test": os.urandom(32)}, "rk-test")
    buckets = Recording()
    deps = Deps(
        store=store,
        root_of_trust=root,
        keyring=Keyring(root),
        audit=SqliteAuditLog(":memory:", os.urandom(32)),
        clock=lambda: NOW,
        throttle=Throttle(buckets, {"CreateKey": 0.5}),
    )
    record, secret = create_access_key(deps, DEFAULT_ACCOUNT, root_arn(DEFAULT_ACCOUNT))
    front = AwsJsonFront(deps, Authenticator(store, root), clock=lambda: NOW)
    yield Throttled(Harness(front, record.access_key_id, secret.reveal().decode()), buckets)
    store.close()


def _key(throttled: Throttled, **params: str) -> str:
    status, created = throttled.harness.call("CreateKey", params)
    assert status == 200
    key_id: str = created["KeyMetadata"]["KeyId"]
    return key_id


def test_each_operation_draws_from_its_own_quota_for_the_callers_account_and_region(throttled: Throttled) -> None:
    assert throttled.draws("CreateKey", {}) == (200, ["CreateKey"])
    key, rate, burst = throttled.buckets.draws[0]
    assert key == f"{DEFAULT_ACCOUNT}\0{REGION}\0CreateKey"
    assert (rate, burst) == (0.5, 1.0)  # --quota CreateKey=0.5: one in each 2-second interval, burst of one
    assert throttled.draws("ListKeys", {}) == (200, ["ListKeys"])
    assert throttled.buckets.draws[0][1:] == (500, 500)  # AWS's default, a second's worth of burst
    assert throttled.draws("GenerateRandom", {"NumberOfBytes": 8}) == (200, ["symmetric"])


def test_cryptographic_operations_draw_from_the_quota_of_their_keys_type(throttled: Throttled) -> None:
    symmetric = _key(throttled)
    rsa = _key(throttled, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    ecc = _key(throttled, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    hmac = _key(throttled, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    message = {"Message": b64(b"m"), "MessageType": "RAW"}
    assert throttled.draws("Encrypt", {"KeyId": symmetric, "Plaintext": b64(b"x")}) == (200, ["symmetric"])
    assert throttled.draws("Sign", {"KeyId": rsa, **message, "SigningAlgorithm": "RSASSA_PSS_SHA_256"}) == (
        200,
        ["rsa"],
    )
    assert throttled.draws("Sign", {"KeyId": ecc, **message, "SigningAlgorithm": "ECDSA_SHA_256"}) == (200, ["ecc"])
    # "This quota applies to cryptographic operations with symmetric encryption keys and HMAC keys"
    assert throttled.draws("GenerateMac", {"KeyId": hmac, "Message": b64(b"m"), "MacAlgorithm": "HMAC_SHA_256"}) == (
        200,
        ["symmetric"],
    )
    assert throttled.draws("GetPublicKey", {"KeyId": rsa}) == (200, ["GetPublicKey"])  # not a cryptographic one
    assert throttled.draws("GenerateDataKeyPair", {"KeyId": symmetric, "KeyPairSpec": "ECC_NIST_P384"}) == (
        200,
        ["GenerateDataKeyPair:ECC_NIST_P384"],
    )


def test_a_request_draws_once_however_many_keys_it_uses(throttled: Throttled) -> None:
    source, destination = _key(throttled), _key(throttled, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    _, blob = throttled.harness.call("Encrypt", {"KeyId": source, "Plaintext": b64(b"x")})
    assert throttled.draws(
        "ReEncrypt",
        {
            "CiphertextBlob": blob["CiphertextBlob"],
            "DestinationKeyId": destination,
            "DestinationEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
        },
    ) == (200, ["symmetric"])


def test_a_throttled_request_is_answered_as_aws_does_and_changes_nothing(throttled: Throttled) -> None:
    throttled.buckets.empty.add("CreateKey")
    status, answer = throttled.harness.call("CreateKey", {})
    assert (status, answer) == (400, THROTTLED)
    throttled.buckets.empty.clear()
    _, listed = throttled.harness.call("ListKeys", {})
    assert listed["Keys"] == []
    key = _key(throttled)
    throttled.buckets.empty.add("symmetric")
    status, answer = throttled.harness.call("Encrypt", {"KeyId": key, "Plaintext": b64(b"x")})
    assert (status, answer) == (400, THROTTLED)
    assert throttled.harness.call("DescribeKey", {"KeyId": key})[0] == 200  # another quota
