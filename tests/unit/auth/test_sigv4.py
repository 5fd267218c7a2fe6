"""SigV4 verification against requests signed by botocore's own SigV4Auth, as boto3 signs KMS calls.

Error types and texts are those of docs/aws-semantics.md §B. Vectors at the end come from the AWS General
Reference (Signature Version 4 examples) and the aws-sig-v4-test-suite (get-vanilla).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from trent.auth import sigv4
from trent.kms.errors import (
    AuthError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "eu-west-1"
HOST = "kms.eu-west-1.amazonaws.com"
BODY = b'{"KeyId": "alias/app", "Plaintext": "aGVsbG8="}'
# The moment of the KMS "Signature expired" response quoted in docs/aws-semantics.md §B (aws-sdk-js-v3#6400).
SIGNED_AT = datetime(2024, 8, 20, 23, 1, 43, tzinfo=UTC)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."


def aws_request(
    *, target: str = "TrentService.Encrypt", body: bytes = BODY, host: str = HOST, path: str = "/"
) -> AWSRequest:
    return AWSRequest(
        method="POST",
        url=f"https://{host}{path}",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target, "Host": host},
    )


def sign(
    request: AWSRequest,
    *,
    at: datetime = SIGNED_AT,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET,
    token: str | None = None,
    service: str = "kms",
    region: str = REGION,
) -> AWSRequest:
    """Sign in place with botocore at a fixed moment (botocore reads the clock through get_current_datetime)."""
    naive = at.astimezone(UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", lambda *args, **kwargs: naive):
        SigV4Auth(Credentials(access_key, secret, token), service, region).add_auth(request)
    return request


def to_http(request: AWSRequest, *, extra: tuple[tuple[str, str], ...] = ()) -> sigv4.HttpRequest:
    """What the server sees: lowercase header names, the raw body, plus unsigned headers such as User-Agent."""
    path, _, query = request.url.partition("://")[2].partition("/")[2].partition("?")
    headers = [(name.lower(), value) for name, value in request.headers.items()]
    body = request.data if isinstance(request.data, bytes) else request.data.encode()
    return sigv4.HttpRequest("POST", "/" + path, query, (*headers, *extra), body)


def replace_header(request: sigv4.HttpRequest, name: str, value: str) -> sigv4.HttpRequest:
    headers = [(k, value if k == name else v) for k, v in request.headers.items()]
    return sigv4.HttpRequest(request.method, request.path, request.query, headers, request.body)


def secrets_of(**known: str) -> dict[str, str]:
    return {ACCESS_KEY: SECRET, **known}


def verify(request: sigv4.HttpRequest, now: datetime = SIGNED_AT) -> sigv4.Verified:
    return sigv4.verify(request, secrets_of().get, now)


def signed(
    *,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET,
    token: str | None = None,
    service: str = "kms",
    region: str = REGION,
) -> sigv4.HttpRequest:
    signed_request = sign(
        aws_request(), access_key=access_key, secret=secret, token=token, service=service, region=region
    )
    return to_http(signed_request)


# --- acceptance ------------------------------------------------------------------------------------------


def test_accepts_a_request_signed_by_botocore() -> None:
    request = to_http(sign(aws_request()), extra=(("user-agent", "Boto3/1.40 md/Botocore#1.40"),))
    assert request.header("x-amz-date") == "20240820T230143Z"
    assert verify(request) == sigv4.Verified(ACCESS_KEY, REGION)


def test_signed_headers_are_those_boto3_signs_for_kms() -> None:
    auth = sigv4.parse_authorization(signed().header("authorization") or "")
    assert auth.signed_headers == ("content-type", "host", "x-amz-date", "x-amz-target")
    assert auth.credential == sigv4.Credential(ACCESS_KEY, "20240820", REGION, "kms", "aws4_request")
    assert len(auth.signature) == 64


def test_verified_region_is_the_signed_region() -> None:
    request = to_http(sign(aws_request(host="kms.us-east-2.amazonaws.com"), region="us-east-2"))
    assert verify(request).region == "us-east-2"


def test_secret_lookup_receives_the_access_key_id() -> None:
    asked: list[str] = []

    def secret_for(access_key_id: str) -> str | None:
        asked.append(access_key_id)
        return SECRET

    sigv4.verify(signed(), secret_for, SIGNED_AT)
    assert asked == [ACCESS_KEY]


# --- missing and malformed Authorization ------------------------------------------------------------------


def test_no_authorization_header() -> None:
    request = sigv4.HttpRequest("POST", "/", "", [("host", HOST), ("x-amz-target", "TrentService.Encrypt")], BODY)
    with pytest.raises(MissingAuthenticationTokenException) as raised:
        verify(request)
    assert raised.value.message == "Missing Authentication Token"
    assert raised.value.code == "MissingAuthenticationTokenException"
    assert isinstance(raised.value, AuthError)


def test_authorization_token_without_equal_sign() -> None:
    header = "AWS4-HMAC-SHA256 Credential, SignedHeaders=host;x-amz-date, Signature=abc"
    request = replace_header(signed(), "authorization", header)
    with pytest.raises(IncompleteSignatureException) as raised:
        verify(request)
    assert raised.value.message == (
        f"'Credential' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
    )


@pytest.mark.parametrize(
    "header",
    [
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240820/eu-west-1/kms/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240820/kms, SignedHeaders=host, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE//eu-west-1/kms/aws4_request, SignedHeaders=host, "
        "Signature=abc",
        "AWS4-HMAC-SHA1 Credential=AKIAIOSFODNN7EXAMPLE/20240820/eu-west-1/kms/aws4_request, SignedHeaders=host, "
        "Signature=abc",
        "garbage",
    ],
    ids=["no-signature", "no-credential", "short-scope", "empty-scope-part", "wrong-algorithm", "garbage"],
)
def test_malformed_authorization_header(header: str) -> None:
    with pytest.raises(IncompleteSignatureException):
        verify(replace_header(signed(), "authorization", header))


def test_missing_parameters_are_named() -> None:
    header = "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date"
    with pytest.raises(IncompleteSignatureException) as raised:
        verify(replace_header(signed(), "authorization", header))
    assert raised.value.message == (
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
        f"parameter. Authorization={header}"
    )


def test_host_must_be_signed() -> None:
    request = signed()
    header = (request.header("authorization") or "").replace("content-type;host;x-amz-date", "content-type;x-amz-date")
    assert "host" not in header
    with pytest.raises(InvalidSignatureException) as raised:
        verify(replace_header(request, "authorization", header))
    assert raised.value.message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


def hand_signed(headers: dict[str, str], signed_headers: tuple[str, ...], body: bytes = BODY) -> sigv4.HttpRequest:
    """A request signed correctly over only `signed_headers`, as a hand-written signer might sign it."""
    request = sigv4.HttpRequest("POST", "/", "", {"x-amz-date": "20240820T230143Z", **headers}, body)
    scope = f"20240820/{REGION}/kms/aws4_request"
    canonical = sigv4.canonical_request(request, signed_headers, hashlib.sha256(body).hexdigest())
    key = sigv4.signing_key(SECRET, "20240820", REGION, "kms")
    signature = sigv4.signature(key, sigv4.string_to_sign("20240820T230143Z", scope, canonical))
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={';'.join(signed_headers)}, "
        f"Signature={signature}"
    )
    return sigv4.HttpRequest("POST", "/", "", {**request.headers, "authorization": authorization}, body)


KMS_HEADERS = {"host": HOST, "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.DescribeKey"}


def test_hand_signed_request_covering_every_header_is_accepted() -> None:
    request = hand_signed(KMS_HEADERS, ("content-type", "host", "x-amz-date", "x-amz-target"))
    assert verify(request).access_key_id == ACCESS_KEY


def test_x_amz_target_must_be_signed() -> None:
    # A correct signature over host and x-amz-date only: its X-Amz-Target could be rewritten in flight, a
    # signed DescribeKey replayed as DisableKey. The signature itself verifies; the coverage does not.
    request = hand_signed(KMS_HEADERS, ("content-type", "host", "x-amz-date"))
    replayed = replace_header(request, "x-amz-target", "TrentService.DisableKey")
    for attempt in (request, replayed):
        with pytest.raises(InvalidSignatureException) as raised:
            verify(attempt)
        assert raised.value.message == "'x-amz-target' must be a 'SignedHeader' in the AWS Authorization."


@pytest.mark.parametrize("name", ["x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "x-amz-user-agent"])
def test_every_x_amz_header_must_be_signed(name: str) -> None:
    headers = {**KMS_HEADERS, name: "20240820T230143Z" if name == "x-amz-date" else "value"}
    signed_headers = tuple(sorted({"content-type", "host", "x-amz-date", "x-amz-target"} - {name}))
    with pytest.raises(InvalidSignatureException) as raised:
        verify(hand_signed(headers, signed_headers))
    assert raised.value.message == f"'{name}' must be a 'SignedHeader' in the AWS Authorization."


def test_unsigned_content_type_and_trace_id_are_accepted() -> None:
    # The AWS SDK for JavaScript v2 never signs Content-Type; botocore never signs X-Amzn-Trace-Id.
    headers = {**KMS_HEADERS, "x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793"}
    request = hand_signed(headers, ("host", "x-amz-date", "x-amz-target"))
    assert verify(request).access_key_id == ACCESS_KEY


def test_signed_header_must_exist() -> None:
    request = hand_signed(KMS_HEADERS, ("accept", "content-type", "host", "x-amz-date", "x-amz-target"))
    with pytest.raises(IncompleteSignatureException) as raised:
        verify(request)
    assert raised.value.message == "'accept' is named as a SignedHeader, but it does not exist in the HTTP request."


def test_missing_x_amz_date() -> None:
    request = signed()
    stripped = sigv4.HttpRequest(
        "POST", "/", "", [(k, v) for k, v in request.headers.items() if k != "x-amz-date"], BODY
    )
    with pytest.raises(IncompleteSignatureException):
        verify(stripped)


# --- credentials -------------------------------------------------------------------------------------------


def test_unknown_access_key_id() -> None:
    request = signed(access_key="AKIANOTKNOWNTOTRENT")
    with pytest.raises(UnrecognizedClientException) as raised:
        verify(request)
    assert raised.value.message == INVALID_TOKEN


def test_session_token_is_refused() -> None:
    request = signed(token="FwoGZXIvYXdzEXAMPLETOKEN")
    assert request.header("x-amz-security-token") == "FwoGZXIvYXdzEXAMPLETOKEN"
    with pytest.raises(UnrecognizedClientException) as raised:
        verify(request)
    assert raised.value.message == INVALID_TOKEN


def test_unknown_key_is_reported_before_the_date_window() -> None:
    # §B order: the access key is resolved (UnrecognizedClient) before the date window is checked.
    with pytest.raises(UnrecognizedClientException):
        sigv4.verify(signed(access_key="AKIANOTKNOWNTOTRENT"), secrets_of().get, SIGNED_AT + timedelta(hours=1))


def test_wrong_secret() -> None:
    request = signed(secret="not-the-secret-of-this-access-key")
    with pytest.raises(InvalidSignatureException) as raised:
        verify(request)
    assert raised.value.message == SIGNATURE_MISMATCH
    assert sigv4.SIGNATURE_MISMATCH == SIGNATURE_MISMATCH


def test_body_changed_after_signing() -> None:
    request = signed()
    assert b"alias/app" in request.body
    tampered = sigv4.HttpRequest(
        request.method, request.path, request.query, request.headers, BODY.replace(b"alias/app", b"alias/bad")
    )
    with pytest.raises(InvalidSignatureException) as raised:
        verify(tampered)
    assert raised.value.message == SIGNATURE_MISMATCH


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-amz-target", "TrentService.Decrypt"),
        ("content-type", "application/json"),
        ("host", "kms.eu-west-2.amazonaws.com"),
    ],
)
def test_signed_header_changed_after_signing(name: str, value: str) -> None:
    with pytest.raises(InvalidSignatureException) as raised:
        verify(replace_header(signed(), name, value))
    assert raised.value.message == SIGNATURE_MISMATCH


def test_path_changed_after_signing() -> None:
    request = signed()
    moved = sigv4.HttpRequest(request.method, "/other", request.query, request.headers, request.body)
    with pytest.raises(InvalidSignatureException) as raised:
        verify(moved)
    assert raised.value.message == SIGNATURE_MISMATCH


def test_unsigned_header_may_change() -> None:
    request = to_http(sign(aws_request()), extra=(("user-agent", "one"),))
    assert verify(replace_header(request, "user-agent", "another")).access_key_id == ACCESS_KEY


# --- the ±5 minute window ----------------------------------------------------------------------------------


def test_signature_expired_message_matches_aws() -> None:
    # The exact response KMS sent in aws/aws-sdk-js-v3#6400.
    with pytest.raises(InvalidSignatureException) as raised:
        verify(signed(), now=datetime(2024, 8, 20, 23, 8, 2, tzinfo=UTC))
    assert raised.value.message == (
        "Signature expired: 20240820T230143Z is now earlier than 20240820T230302Z (20240820T230802Z - 5 min.)"
    )


def test_signed_six_minutes_ago() -> None:
    at = datetime(2025, 1, 31, 23, 58, 0, tzinfo=UTC)
    request = to_http(sign(aws_request(), at=at))
    with pytest.raises(InvalidSignatureException) as raised:
        verify(request, now=at + timedelta(minutes=6))
    assert raised.value.message == (
        "Signature expired: 20250131T235800Z is now earlier than 20250131T235900Z (20250201T000400Z - 5 min.)"
    )


def test_signed_six_minutes_ahead() -> None:
    at = datetime(2025, 1, 31, 23, 58, 0, tzinfo=UTC)
    request = to_http(sign(aws_request(), at=at))
    with pytest.raises(InvalidSignatureException) as raised:
        verify(request, now=at - timedelta(minutes=6))
    assert raised.value.message == (
        "Signature not yet current: 20250131T235800Z is still later than 20250131T235700Z (20250131T235200Z + 5 min.)"
    )


@pytest.mark.parametrize("skew", [timedelta(minutes=4), -timedelta(minutes=4), timedelta(minutes=5), timedelta(0)])
def test_within_five_minutes_is_accepted(skew: timedelta) -> None:
    assert verify(signed(), now=SIGNED_AT + skew).access_key_id == ACCESS_KEY


def test_just_over_five_minutes_is_refused() -> None:
    with pytest.raises(InvalidSignatureException, match="^Signature expired: "):
        verify(signed(), now=SIGNED_AT + timedelta(minutes=5, seconds=1))
    with pytest.raises(InvalidSignatureException, match="^Signature not yet current: "):
        verify(signed(), now=SIGNED_AT - timedelta(minutes=5, seconds=1))


def test_credential_date_must_match_x_amz_date() -> None:
    request = signed()
    header = (request.header("authorization") or "").replace("/20240820/", "/20240821/")
    with pytest.raises(InvalidSignatureException) as raised:
        verify(replace_header(request, "authorization", header))
    assert raised.value.message.startswith("Date in Credential scope does not match YYYYMMDD")


def test_unparsable_x_amz_date() -> None:
    with pytest.raises(IncompleteSignatureException, match="ISO-8601"):
        verify(replace_header(signed(), "x-amz-date", "2024-08-20T23:01:43Z"))


# --- credential scope --------------------------------------------------------------------------------------


def test_scope_for_another_service() -> None:
    request = signed(service="sqs")
    with pytest.raises(InvalidSignatureException) as raised:
        verify(request)
    assert raised.value.message == "Credential should be scoped to correct service: 'kms'. "


def test_scope_with_invalid_region() -> None:
    request = signed(region="EU_WEST")
    with pytest.raises(InvalidSignatureException) as raised:
        verify(request)
    assert raised.value.message == "Credential should be scoped to a valid region, not 'EU_WEST'. "


def test_scope_with_wrong_terminator() -> None:
    request = signed()
    header = (request.header("authorization") or "").replace("/aws4_request", "/aws5_request")
    with pytest.raises(InvalidSignatureException) as raised:
        verify(replace_header(request, "authorization", header))
    assert raised.value.message == (
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "
    )


# --- the spec's steps against botocore's and AWS's published vectors ---------------------------------------


def _uncached_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derivation as the AWS General Reference writes it: kDate, kRegion, kService, kSigning."""
    k_date = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    k_region = hmac.new(k_date, region.encode(), hashlib.sha256).digest()
    k_service = hmac.new(k_region, service.encode(), hashlib.sha256).digest()
    return hmac.new(k_service, b"aws4_request", hashlib.sha256).digest()


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    sigv4.signing_key.cache_clear()
    yield
    sigv4.signing_key.cache_clear()


@pytest.mark.usefixtures("fresh_cache")
def test_cached_signing_key_equals_the_uncached_derivation() -> None:
    first = sigv4.signing_key(SECRET, "20240820", REGION, "kms")
    second = sigv4.signing_key(SECRET, "20240820", REGION, "kms")
    assert first == second == _uncached_signing_key(SECRET, "20240820", REGION, "kms")
    assert sigv4.signing_key.cache_info().hits == 1
    # A different day, region or secret is a different key, never a stale cache entry.
    assert sigv4.signing_key(SECRET, "20240821", REGION, "kms") == _uncached_signing_key(
        SECRET, "20240821", REGION, "kms"
    )
    assert sigv4.signing_key(SECRET, "20240820", "us-east-1", "kms") != first
    assert sigv4.signing_key(SECRET + "x", "20240820", REGION, "kms") != first


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        # AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
        ("20120215", "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"),
        ("20150830", "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"),
    ],
)
def test_signing_key_aws_documentation_vectors(date: str, expected: str) -> None:
    assert sigv4.signing_key(SECRET, date, "us-east-1", "iam").hex() == expected


def test_iam_list_users_example_from_aws_documentation() -> None:
    # AWS General Reference, SigV4 tasks 1-4: GET iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08.
    request = sigv4.HttpRequest(
        "GET",
        "/",
        "Action=ListUsers&Version=2010-05-08",
        [
            ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("host", "iam.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ],
        b"",
    )
    canonical = sigv4.canonical_request(
        request, ("content-type", "host", "x-amz-date"), hashlib.sha256(b"").hexdigest()
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    to_sign = sigv4.string_to_sign("20150830T123600Z", "20150830/us-east-1/iam/aws4_request", canonical)
    assert to_sign == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    key = sigv4.signing_key(SECRET, "20150830", "us-east-1", "iam")
    assert sigv4.signature(key, to_sign) == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


def test_get_vanilla_from_the_aws_sigv4_test_suite() -> None:
    # aws-sig-v4-test-suite/get-vanilla; reproduced by botocore below, so both sides agree on the vector.
    request = sigv4.HttpRequest(
        "GET", "/", "", [("host", "example.amazonaws.com"), ("x-amz-date", "20150830T123600Z")], b""
    )
    canonical = sigv4.canonical_request(request, ("host", "x-amz-date"), hashlib.sha256(b"").hexdigest())
    assert canonical == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    to_sign = sigv4.string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", canonical)
    assert to_sign.endswith("\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63")
    expected = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    assert sigv4.signature(sigv4.signing_key(SECRET, "20150830", "us-east-1", "service"), to_sign) == expected

    botocore_request = AWSRequest(
        method="GET", url="https://example.amazonaws.com/", headers={"Host": "example.amazonaws.com"}
    )
    sign(
        botocore_request,
        access_key="AKIDEXAMPLE",
        service="service",
        region="us-east-1",
        at=datetime(2015, 8, 30, 12, 36, tzinfo=UTC),
    )
    assert botocore_request.headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={expected}"
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/", BODY),
        ("/", b""),
        ("/", '{"Description": "caf\u00e9  with   spaces"}'.encode()),
    ],
    ids=["encrypt", "empty-body", "utf8-body"],
)
def test_each_step_equals_botocores(path: str, body: bytes) -> None:
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET), "kms", REGION)
    request = sign(aws_request(path=path, body=body))
    http = to_http(request)
    auth = sigv4.parse_authorization(http.header("authorization") or "")
    amz_date = http.header("x-amz-date") or ""
    del request.headers["Authorization"]  # botocore computes its steps on the request before it is signed

    ours_canonical = sigv4.canonical_request(http, auth.signed_headers, hashlib.sha256(body).hexdigest())
    assert ours_canonical == signer.canonical_request(request)
    ours_to_sign = sigv4.string_to_sign(amz_date, auth.credential.scope, ours_canonical)
    assert ours_to_sign == signer.string_to_sign(request, ours_canonical)
    key = sigv4.signing_key(SECRET, auth.credential.date, REGION, "kms")
    assert sigv4.signature(key, ours_to_sign) == signer.signature(ours_to_sign, request) == auth.signature


def test_header_values_are_trimmed_and_spaces_folded_like_botocore() -> None:
    request = aws_request()
    request.headers["X-Custom"] = "  a   b\tc  "
    sign(request)
    http = to_http(request)
    assert "x-custom" in sigv4.parse_authorization(http.header("authorization") or "").signed_headers
    assert verify(http).access_key_id == ACCESS_KEY


def test_signatures_are_compared_in_full() -> None:
    request = signed()
    header = request.header("authorization") or ""
    truncated = header[:-1]
    with pytest.raises(InvalidSignatureException):
        verify(replace_header(request, "authorization", truncated))


@pytest.mark.parametrize(
    "forged", ["\u00e9" * 64, "0" * 63 + "\u00ff", "\u00e9"], ids=["all-non-ascii", "last-non-ascii", "short"]
)
def test_non_ascii_signature_is_an_auth_error(forged: str) -> None:
    # Header bytes reach us decoded as latin-1, so any byte >= 0x80 in Signature= is a non-ASCII str here.
    # hmac.compare_digest raises TypeError on non-ASCII str, which must not escape as a 500.
    request = signed()
    header = re.sub(r"Signature=[0-9a-f]{64}", f"Signature={forged}", request.header("authorization") or "")
    assert forged in header
    with pytest.raises(AuthError):
        verify(replace_header(request, "authorization", header))


@pytest.mark.parametrize(
    "path",
    [
        "/prefix/kms/",
        # SigV4: "Each path segment must be URI-encoded twice (except for Amazon S3)"; botocore does so.
        "/a%20b/",
        # SigV4: "Normalize URI paths according to RFC 3986. Remove redundant and relative path components."
        "/a/./b/../c",
    ],
)
def test_canonical_uri_equals_botocores(path: str) -> None:
    request = sign(aws_request(path=path))
    http = to_http(request)
    assert http.path == path
    del request.headers["Authorization"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET), "kms", REGION)
    ours = sigv4.canonical_request(
        http, ("content-type", "host", "x-amz-date", "x-amz-target"), hashlib.sha256(BODY).hexdigest()
    )
    assert ours.split("\n")[1] == signer.canonical_request(request).split("\n")[1]
    assert verify(http).access_key_id == ACCESS_KEY


# --- a dev server's check: everything but the secret ----------------------------------------------------


@pytest.mark.parametrize(("access_key", "secret"), [("FOOBARKEY", "FOOBARSECRET"), ("test", "test")])
def test_unsigned_check_takes_any_key_and_secret(access_key: str, secret: str) -> None:
    request = signed(access_key=access_key, secret=secret, token="test")
    assert sigv4.check_unsigned(request, SIGNED_AT) == sigv4.Verified(access_key, REGION)
    tampered = replace_header(request, "x-amz-target", "TrentService.Decrypt")
    assert sigv4.check_unsigned(tampered, SIGNED_AT).access_key_id == access_key  # no signature is checked


def test_unsigned_check_still_checks_date_scope_and_headers() -> None:
    with pytest.raises(InvalidSignatureException, match="Signature expired"):
        sigv4.check_unsigned(signed(access_key="test"), SIGNED_AT + timedelta(minutes=6))
    with pytest.raises(InvalidSignatureException, match="correct service"):
        sigv4.check_unsigned(signed(access_key="test", service="s3"), SIGNED_AT)
    with pytest.raises(MissingAuthenticationTokenException):
        sigv4.check_unsigned(sigv4.HttpRequest("POST", "/", "", {}, b""), SIGNED_AT)
    request = signed(access_key="test")
    unsigned_header = sigv4.HttpRequest("POST", "/", "", [*request.headers.items(), ("x-amz-extra", "1")], request.body)
    with pytest.raises(InvalidSignatureException, match="x-amz-extra"):
        sigv4.check_unsigned(unsigned_header, SIGNED_AT)
