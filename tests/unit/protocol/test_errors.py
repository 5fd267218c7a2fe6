"""KmsError → AWS JSON error body and HTTP status (docs/aws-semantics.md A.1, A.7 and §B)."""

from __future__ import annotations

import inspect
from typing import Any

import botocore.parsers
import orjson
import pytest

from trent.kms import errors
from trent.kms.errors import (
    AccessDeniedException,
    DisabledException,
    InvalidCiphertextException,
    InvalidSignatureException,
    KmsError,
    KMSInternalException,
    MissingAuthenticationTokenException,
    NotFoundException,
    SerializationException,
    ThrottlingException,
    UnknownOperationException,
    UnsupportedOperationException,
    ValidationException,
)
from trent.protocol.awsjson.errors import error_body, status_of

ALL_ERRORS = sorted(
    (cls for cls in vars(errors).values() if inspect.isclass(cls) and issubclass(cls, KmsError)),
    key=lambda cls: cls.__name__,
)
SERVER_FAULTS = {"KMSInternalException": 500, "KeyUnavailableException": 500, "DependencyTimeoutException": 503}


def body(error: KmsError) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(error_body(error))
    return document


def test_empty_message_gives_only_the_type() -> None:
    assert body(InvalidCiphertextException()) == {"__type": "InvalidCiphertextException"}
    assert error_body(InvalidCiphertextException()) == b'{"__type":"InvalidCiphertextException"}'


def test_unknown_operation_has_no_message() -> None:
    assert body(UnknownOperationException()) == {"__type": "UnknownOperationException"}


def test_serialization_exception_uses_capital_message() -> None:
    error = SerializationException("Start of list found where not expected")
    assert body(error) == {"__type": "SerializationException", "Message": "Start of list found where not expected"}


def test_not_found_uses_lowercase_message() -> None:
    error = NotFoundException("Invalid keyId 'x'")
    assert body(error) == {"__type": "NotFoundException", "message": "Invalid keyId 'x'"}


@pytest.mark.parametrize(
    "error",
    [
        DisabledException("arn is disabled."),
        ValidationException("1 validation error detected: x"),
        InvalidSignatureException("Signature expired: x"),
        MissingAuthenticationTokenException("Missing Authentication Token"),
    ],
    ids=lambda error: error.code,
)
def test_modeled_and_auth_errors_use_lowercase_message(error: KmsError) -> None:
    assert body(error) == {"__type": error.code, "message": error.message}


def test_throttling_is_answered_with_awss_body_and_status() -> None:
    """As KMS sent it: {"__type":"ThrottlingException","message":"You have exceeded the rate at which you may call
    KMS. Reduce the frequency of your calls."}, HTTP 400 (hyperlane-xyz/hyperlane-monorepo#2391; A.7)."""
    assert error_body(ThrottlingException()) == (
        b'{"__type":"ThrottlingException","message":"You have exceeded the rate at which you may call KMS. '
        b'Reduce the frequency of your calls."}'
    )
    assert status_of(ThrottlingException()) == 400


def test_type_has_no_namespace() -> None:
    assert body(AccessDeniedException("denied"))["__type"] == "AccessDeniedException"


@pytest.mark.parametrize("cls", [c for c in ALL_ERRORS if c.__name__ not in SERVER_FAULTS], ids=lambda c: c.__name__)
def test_client_errors_are_400(cls: type[KmsError]) -> None:
    assert status_of(cls()) == 400


def test_internal_error_is_500() -> None:
    assert status_of(KMSInternalException()) == 500
    assert body(KMSInternalException()) == {"__type": "KMSInternalException"}


def test_dependency_timeout_and_key_unavailable_are_server_faults() -> None:
    # Trent raises neither yet; the status follows the AWS type name, whichever class carries it.
    class DependencyTimeoutException(KmsError):
        pass

    class KeyUnavailableException(KmsError):
        pass

    assert status_of(DependencyTimeoutException()) == 503
    assert status_of(KeyUnavailableException()) == 500


def test_unsupported_operation_is_400() -> None:
    assert status_of(UnsupportedOperationException("not supported")) == 400


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_botocore_reads_type_and_message(cls: type[KmsError]) -> None:
    error = cls("some text")
    parser = botocore.parsers.create_parser("json")
    response = {"body": error_body(error), "headers": {}, "status_code": status_of(error)}
    parsed = parser.parse(response, None)
    assert parsed["Error"]["Code"] == cls.__name__
    assert parsed["Error"]["Message"] == error.message


def test_a_message_echoing_a_long_input_is_bounded() -> None:
    # e.g. a MalformedPolicyDocumentException naming a 30 KB Resource of the policy sent
    error = errors.MalformedPolicyDocumentException(f'Resource {"r" * 30_000} must be in ARN format or "*".')
    assert len(error.message) == errors.MAX_MESSAGE_CHARS
    assert error.message.startswith("Resource rrr") and error.message.endswith("r...")
    assert len(error_body(error)) < errors.MAX_MESSAGE_CHARS + 64


def test_a_message_at_the_bound_is_kept_whole() -> None:
    text = "k" * errors.MAX_MESSAGE_CHARS
    assert NotFoundException(text).message == text
