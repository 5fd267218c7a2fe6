"""AwsJsonFront in process: real SQLite (in memory), software root of trust, requests signed by botocore's SigV4Auth."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from trent.audit.sqlite import SqliteAuditLog
from trent.auth.principals import Authenticator
from trent.kms.principals import DEFAULT_ACCOUNT, root_arn
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.ops.principals import create_access_key
from trent.ops.registry import OPERATIONS
from trent.protocol.awsjson.front import AwsJsonFront, WireRequest, WireResponse
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore

REGION = "us-east-1"
HOST = "kms.us-east-1.amazonaws.com"
NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Harness:
    front: AwsJsonFront
    access_key_id: str
    secret: str

    def request(
        self,
        target: str | None,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        sign: bool = True,
        secret: str | None = None,
        content_type: str = "application/x-amz-json-1.1",
    ) -> WireRequest:
        body = raw if raw is not None else orjson.dumps({} if payload is None else payload)
        headers = {"Content-Type": content_type, "Host": HOST}
        if target is not None:
            headers["X-Amz-Target"] = target
        aws = AWSRequest(method="POST", url=f"https://{HOST}/", data=body, headers=headers)
        if sign:
            naive = NOW.replace(tzinfo=None)
            with mock.patch("botocore.auth.get_current_datetime", lambda *args, **kwargs: naive):
                SigV4Auth(Credentials(self.access_key_id, secret or self.secret), "kms", REGION).add_auth(aws)
        wire_headers = [(name.lower(), value) for name, value in aws.headers.items()]
        wire_headers.append(("user-agent", "Boto3/1.40.0 test"))
        return WireRequest("POST", "/", "", wire_headers, body, client_ip="127.0.0.1")

    def send(self, request: WireRequest) -> WireResponse:
        return asyncio.run(self.front.handle(request))

    def call(self, operation: str, payload: Any = None) -> tuple[int, dict[str, Any]]:
        response = self.send(self.request(f"TrentService.{operation}", payload))
        check_headers(response)
        document: dict[str, Any] = orjson.loads(response.body)
        return response.status, document


def check_headers(response: WireResponse) -> None:
    headers = dict(response.headers)
    assert UUID.fullmatch(headers["x-amzn-requestid"])
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert headers["cache-control"] == "no-cache, no-store, must-revalidate, private"


@pytest.fixture
def harness() -> Iterator[Harness]:
    store = SqliteStore(":memory:")
    root = SoftwareRoot({"rk-test": os.urandom(32)}, "rk-test")
    deps = Deps(
        store=store,
        root_of_trust=root,
        keyring=Keyring(root),
        audit=SqliteAuditLog(":memory:", os.urandom(32)),
        clock=lambda: NOW,
    )
    record, secret = create_access_key(deps, DEFAULT_ACCOUNT, root_arn(DEFAULT_ACCOUNT))
    front = AwsJsonFront(deps, Authenticator(store, root), clock=lambda: NOW)
    yield Harness(front, record.access_key_id, secret.reveal().decode())
    store.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- the happy path ------------------------------------------------------------------------------------------


def test_create_key_then_encrypt_and_decrypt(harness: Harness) -> None:
    status, created = harness.call("CreateKey", {"Description": "front test"})
    assert status == 200
    metadata = created["KeyMetadata"]
    assert metadata["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert metadata["KeyState"] == "Enabled"
    assert metadata["Description"] == "front test"
    assert metadata["AWSAccountId"] == DEFAULT_ACCOUNT
    assert metadata["Arn"] == f"arn:aws:kms:{REGION}:{DEFAULT_ACCOUNT}:key/{metadata['KeyId']}"
    assert metadata["CreationDate"] == NOW.timestamp()

    plaintext = os.urandom(100)
    context = {"purpose": "unit-test"}
    status, encrypted = harness.call(
        "Encrypt", {"KeyId": metadata["KeyId"], "Plaintext": b64(plaintext), "EncryptionContext": context}
    )
    assert status == 200
    assert encrypted["KeyId"] == metadata["Arn"]
    assert encrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = base64.b64decode(encrypted["CiphertextBlob"])
    assert plaintext not in blob

    status, decrypted = harness.call("Decrypt", {"CiphertextBlob": b64(blob), "EncryptionContext": context})
    assert status == 200
    assert base64.b64decode(decrypted["Plaintext"]) == plaintext
    assert decrypted["KeyId"] == metadata["Arn"]


def test_decrypt_with_the_wrong_context_is_invalid_ciphertext(harness: Harness) -> None:
    _, created = harness.call("CreateKey")
    key_id = created["KeyMetadata"]["KeyId"]
    _, encrypted = harness.call("Encrypt", {"KeyId": key_id, "Plaintext": b64(b"x"), "EncryptionContext": {"a": "1"}})
    status, error = harness.call("Decrypt", {"CiphertextBlob": encrypted["CiphertextBlob"]})
    assert status == 400
    assert error == {"__type": "InvalidCiphertextException"}


def test_describe_key_by_arn(harness: Harness) -> None:
    _, created = harness.call("CreateKey")
    status, described = harness.call("DescribeKey", {"KeyId": created["KeyMetadata"]["Arn"]})
    assert status == 200
    assert described == created


def test_domain_error_is_rendered(harness: Harness) -> None:
    status, error = harness.call("DescribeKey", {"KeyId": "fake-key-id"})
    assert status == 400
    assert error == {"__type": "NotFoundException", "message": "Invalid keyId 'fake-key-id'"}


def test_validation_error_is_rendered(harness: Harness) -> None:
    status, error = harness.call("Encrypt", {"Plaintext": b64(b"x")})
    assert status == 400
    assert error == {
        "__type": "ValidationException",
        "message": "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: "
        "Member must not be null",
    }


# --- protocol errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["TrentService.NoSuchOperation", "TrentService.encrypt", "KMS.Encrypt", "Encrypt", "TrentService."],
)
def test_unknown_target(harness: Harness, target: str) -> None:
    response = harness.send(harness.request(target, {}))
    check_headers(response)
    assert response.status == 400
    assert orjson.loads(response.body) == {"__type": "UnknownOperationException"}


def test_missing_target(harness: Harness) -> None:
    response = harness.send(harness.request(None, {}))
    assert response.status == 400
    assert orjson.loads(response.body) == {"__type": "UnknownOperationException"}


def test_unacceptable_content_type(harness: Harness) -> None:
    request = harness.request("TrentService.ListKeys", {}, content_type="application/octet-stream")
    response = harness.send(request)
    assert response.status == 400
    assert orjson.loads(response.body)["__type"] == "UnknownOperationException"


@pytest.mark.parametrize("raw", [b"{not json", b'{"KeyId": ', b"\xff\xfe", b"[1, 2"])
def test_bad_json(harness: Harness, raw: bytes) -> None:
    response = harness.send(harness.request("TrentService.DescribeKey", raw=raw))
    check_headers(response)
    assert response.status == 400
    assert orjson.loads(response.body)["__type"] == "SerializationException"


def test_json_that_is_not_an_object(harness: Harness) -> None:
    response = harness.send(harness.request("TrentService.DescribeKey", raw=b'["KeyId"]'))
    assert response.status == 400
    assert orjson.loads(response.body) == {
        "__type": "SerializationException",
        "Message": "Start of list found where not expected",
    }


def test_empty_body_is_an_empty_object(harness: Harness) -> None:
    response = harness.send(harness.request("TrentService.ListKeys", raw=b""))
    assert response.status == 200
    assert orjson.loads(response.body) == {"Keys": [], "Truncated": False}


# --- authentication comes first ---------------------------------------------------------------------------


def test_unsigned_request(harness: Harness) -> None:
    response = harness.send(harness.request("TrentService.ListKeys", {}, sign=False))
    check_headers(response)
    assert response.status in (400, 403)
    assert orjson.loads(response.body) == {
        "__type": "MissingAuthenticationTokenException",
        "message": "Missing Authentication Token",
    }


def test_unsigned_request_with_an_unknown_target_is_still_unauthenticated(harness: Harness) -> None:
    response = harness.send(harness.request("TrentService.NoSuchOperation", raw=b"{bad", sign=False))
    assert orjson.loads(response.body)["__type"] == "MissingAuthenticationTokenException"


def test_wrong_secret(harness: Harness) -> None:
    response = harness.send(harness.request("TrentService.ListKeys", {}, secret="x" * 40))
    assert response.status == 400
    assert orjson.loads(response.body) == {
        "__type": "InvalidSignatureException",
        "message": "The request signature we calculated does not match the signature you provided. Check your "
        "AWS Secret Access Key and signing method. Consult the service documentation for details.",
    }


def test_unknown_access_key(harness: Harness) -> None:
    stranger = Harness(harness.front, "AKIAUNKNOWNUNKNOWN00", harness.secret)
    response = harness.send(stranger.request("TrentService.ListKeys", {}))
    assert response.status == 400
    assert orjson.loads(response.body) == {
        "__type": "UnrecognizedClientException",
        "message": "The security token included in the request is invalid.",
    }


def test_non_ascii_signature_is_a_client_error_not_a_500(harness: Harness) -> None:
    # The HTTP server decodes header bytes as latin-1: a 0xE9 byte in the signature arrives as "\u00e9".
    signed = harness.request("TrentService.ListKeys", {})
    headers = [
        (
            name,
            re.sub(r"Signature=[0-9a-f]{64}", "Signature=" + "\u00e9" * 64, value)
            if name == "authorization"
            else value,
        )
        for name, value in signed.headers.items()
    ]
    response = harness.send(WireRequest("POST", "/", "", headers, signed.body))
    check_headers(response)
    assert response.status == 400
    assert orjson.loads(response.body)["__type"] in ("InvalidSignatureException", "IncompleteSignatureException")


def test_clock_skew_is_checked_against_the_front_clock(harness: Harness) -> None:
    late = AwsJsonFront(harness.front._deps, harness.front._authenticator, clock=lambda: NOW + timedelta(minutes=6))
    response = asyncio.run(late.handle(harness.request("TrentService.ListKeys", {})))
    assert response.status == 400
    document = orjson.loads(response.body)
    assert document["__type"] == "InvalidSignatureException"
    assert document["message"].startswith("Signature expired: 20250314T150926Z is now earlier than ")


# --- unsupported operations and internal failures -------------------------------------------------------


def test_vpc_endpoint_service_connectivity_is_unsupported(harness: Harness) -> None:
    status, error = harness.call(
        "CreateCustomKeyStore",
        {
            "CustomKeyStoreName": "store",
            "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
            "XksProxyUriEndpoint": "https://proxy.example",
            "XksProxyUriPath": "/kms/xks/v1",
            "XksProxyConnectivity": "VPC_ENDPOINT_SERVICE",
            "XksProxyAuthenticationCredential": {"AccessKeyId": "A" * 20, "RawSecretAccessKey": "s" * 43},
        },
    )
    assert status == 400
    assert error["__type"] == "UnsupportedOperationException"
    assert error["message"]


def test_every_operation_is_implemented() -> None:
    """No operation of the KMS model answers UnsupportedOperationException for being unbuilt."""
    assert not [op for op, function in OPERATIONS.items() if getattr(function, "unsupported", False)]


def test_unexpected_failure_is_an_opaque_500(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    with mock.patch("trent.ops.grants.check_grant_tokens", side_effect=RuntimeError("secret detail")):
        response = harness.send(harness.request("TrentService.ListKeys", {}))
    check_headers(response)
    assert response.status == 500
    assert orjson.loads(response.body) == {"__type": "KMSInternalException"}
    assert b"secret detail" not in response.body
    request_id = dict(response.headers)["x-amzn-requestid"]
    assert any(request_id in record.getMessage() for record in caplog.records)


def test_every_response_has_its_own_request_id(harness: Harness) -> None:
    responses = [
        harness.send(harness.request("TrentService.ListKeys", {})),
        harness.send(harness.request("TrentService.ListKeys", {}, sign=False)),
        harness.send(harness.request("TrentService.Nope", {})),
        harness.send(harness.request("TrentService.DescribeKey", raw=b"{")),
    ]
    ids = [dict(response.headers)["x-amzn-requestid"] for response in responses]
    assert all(UUID.fullmatch(request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)
    assert [response.status for response in responses] == [200, 400, 400, 400]
