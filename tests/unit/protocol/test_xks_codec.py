"""protocol/xks: paths, request bodies and their limits, responses, and the errors table."""

from __future__ import annotations

import base64
import json

import pytest

from trent.crypto.xks import Sealed
from trent.kms import xks
from trent.protocol.xks import codec
from trent.protocol.xks.errors import REFUSALS, STATUS, error_body, status_of


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/ks/kms/xks/v1/health", codec.Target("ks", "GetHealthStatus")),
        ("/a/b/c/kms/xks/v1/keys/k-1.x_y/metadata", codec.Target("a/b/c", "GetKeyMetadata", "k-1.x_y")),
        ("/ks/kms/xks/v1/keys/k/encrypt", codec.Target("ks", "Encrypt", "k")),
        ("/ks/kms/xks/v1/keys/k/decrypt", codec.Target("ks", "Decrypt", "k")),
        ("/ks/kms/xks/v1/keys/k/sign", codec.Target("ks", None)),
        ("/ks/kms/xks/v1/keys//encrypt", codec.Target("ks", None)),
        ("/ks/kms/xks/v1/health/", codec.Target("ks", None)),
        ("/ks/kms/xks/v1/keys/k/encrypt/more", codec.Target("ks", None)),
    ],
)
def test_paths(path: str, target: codec.Target) -> None:
    assert codec.target_of(path) == target


@pytest.mark.parametrize("path", ["/kms/xks/v1/health", "//kms/xks/v1/health", "/ks/kms/xks/v2/health", "/"])
def test_paths_without_a_prefix_or_the_root_are_invalid(path: str) -> None:
    with pytest.raises(xks.InvalidUriPathException):
        codec.target_of(path)


def test_key_ids() -> None:
    codec.check_key_id("a" * 128)
    for bad in ("a" * 129, "a~b", "a b", "é"):
        with pytest.raises(xks.ValidationException):
            codec.check_key_id(bad)


def _metadata(**changes: object) -> dict[str, object]:
    return {"awsPrincipalArn": "p", "kmsKeyArn": "k", "kmsOperation": "Encrypt", "kmsRequestId": "r", **changes}


def test_decode_keeps_only_the_named_metadata_members() -> None:
    body = codec.decode("Encrypt", json.dumps({"requestMetadata": _metadata(future="x"), "plaintext": "AA=="}).encode())
    assert body.metadata == _metadata() and body.members["plaintext"] == "AA=="


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"{",
        b'{"requestMetadata": []}',
        json.dumps({"requestMetadata": {k: v for k, v in _metadata().items() if k != "kmsKeyArn"}}).encode(),
        json.dumps({"requestMetadata": _metadata(kmsViaService=1)}).encode(),
    ],
)
def test_decode_refuses_what_is_not_the_shape(raw: bytes) -> None:
    with pytest.raises(xks.ValidationException):
        codec.decode("Encrypt", raw)


def test_get_key_metadata_needs_no_key_arn_and_health_only_two_members() -> None:
    without = {k: v for k, v in _metadata().items() if k != "kmsKeyArn"}
    assert codec.decode("GetKeyMetadata", json.dumps({"requestMetadata": without}).encode()).metadata == without
    health = {"kmsOperation": "KmsHealthCheck", "kmsRequestId": "r"}
    assert codec.decode("GetHealthStatus", json.dumps({"requestMetadata": health}).encode()).metadata == health


def test_metadata_longer_than_supported_is_unsupported() -> None:
    codec.decode("Encrypt", json.dumps({"requestMetadata": _metadata(awsPrincipalArn="a" * 2048)}).encode())
    with pytest.raises(xks.UnsupportedOperationException):
        codec.decode("Encrypt", json.dumps({"requestMetadata": _metadata(awsPrincipalArn="a" * 4097)}).encode())


def _body(**members: object) -> codec.Body:
    return codec.Body(_metadata(), members)  # type: ignore[arg-type]


def test_binary_members() -> None:
    assert codec.binary(_body(x="SGVsbG8="), "x", required=True, limit=5) == b"Hello"
    assert codec.binary(_body(), "x", required=False, limit=5) is None
    with pytest.raises(xks.ValidationException):
        codec.binary(_body(), "x", required=True, limit=5)
    for bad in ("SGVsbG8", "SGV sbG8", "SGVs=G8=", 5):
        with pytest.raises(xks.ValidationException):
            codec.binary(_body(x=bad), "x", required=True, limit=5)
    for big in (base64.b64encode(b"123456").decode(), "A" * 400):
        with pytest.raises(xks.UnsupportedOperationException):
            codec.binary(_body(x=big), "x", required=True, limit=5)


def test_algorithms() -> None:
    assert codec.algorithm(_body(encryptionAlgorithm="AES_GCM")) == "AES_GCM"
    with pytest.raises(xks.ValidationException):
        codec.algorithm(_body())
    with pytest.raises(xks.UnsupportedOperationException):
        codec.algorithm(_body(encryptionAlgorithm="AES_GCM_256"))
    assert codec.integrity_algorithm(_body()) is None
    assert codec.integrity_algorithm(_body(ciphertextDataIntegrityValueAlgorithm="SHA_256")) == "SHA_256"
    with pytest.raises(xks.UnsupportedOperationException):
        codec.integrity_algorithm(_body(ciphertextDataIntegrityValueAlgorithm="SHA_512"))


def test_responses() -> None:
    sealed = Sealed(b"i" * 12, b"c", b"t" * 16, b"m")
    assert json.loads(codec.encrypt_response(sealed, None)) == {
        "ciphertext": "Yw==",
        "ciphertextMetadata": "bQ==",
        "initializationVector": base64.b64encode(b"i" * 12).decode(),
        "authenticationTag": base64.b64encode(b"t" * 16).decode(),
    }
    assert json.loads(codec.encrypt_response(sealed, b"v"))["ciphertextDataIntegrityValue"] == "dg=="
    assert json.loads(codec.decrypt_response(b"p")) == {"plaintext": "cA=="}


def test_every_error_of_the_specification_has_its_status() -> None:
    # aws/aws-kms-xksproxy-api-spec, "Error codes".
    table = {
        "ValidationException": 400,
        "InvalidStateException": 400,
        "InvalidCiphertextException": 400,
        "InvalidKeyUsageException": 400,
        "AuthenticationFailedException": 401,
        "AccessDeniedException": 403,
        "KeyNotFoundException": 404,
        "InvalidUriPathException": 404,
        "ThrottlingException": 429,
        "UnsupportedOperationException": 501,
        "DependencyTimeoutException": 503,
        "InternalException": 500,
    }
    for name, status in table.items():
        error = getattr(xks, name)("why")
        assert status_of(error) == status
        assert json.loads(error_body(error)) == {"errorName": name, "errorMessage": "why"}
    assert {cls.__name__ for cls in STATUS} == {*table, "MethodNotAllowedException"}
    assert json.loads(error_body(xks.InternalException())) == {"errorName": "InternalException"}
    assert status_of(REFUSALS[405]()) == 405 and status_of(REFUSALS[404]()) == 404


def test_messages_are_printable_ascii_under_512() -> None:
    error = xks.ValidationException("é\n" + "x" * 600)
    assert len(error.message) < 512 and all(" " <= c <= "~" for c in error.message)
