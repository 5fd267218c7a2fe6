"""The wire, raw: SigV4 failures, protocol errors and hostile input against a real `trent serve`.

Requests are signed with botocore's own SigV4Auth and sent with http.client, so each can be bent in one way.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import random
import socket
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support import ACCESS_KEY_ID, SECRET_ACCESS_KEY, TrentServer
from trent.kms.operations import Operation

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


def signed(
    server: TrentServer,
    target: str,
    body: bytes,
    *,
    key: str = ACCESS_KEY_ID,
    secret: str = SECRET_ACCESS_KEY,
    region: str = "us-east-1",
    service: str = "kms",
    when: dt.datetime | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target, **(extra or {})},
    )
    if when is None:
        SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
            SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return dict(request.headers.items())


def post(server: TrentServer, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
    url = urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else {}), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


LIST_KEYS = "TrentService.ListKeys"


def test_a_signed_request_succeeds(server: TrentServer) -> None:
    status, body, headers = post(server, signed(server, LIST_KEYS, b"{}"), b"{}")
    assert status == 200 and "Keys" in body
    assert headers["content-type"] == "application/x-amz-json-1.1" and len(headers["x-amzn-requestid"]) == 36


def test_authentication_failures(server: TrentServer) -> None:
    now = dt.datetime.now(dt.UTC)
    good = signed(server, LIST_KEYS, b"{}")
    cases: list[tuple[dict[str, str], bytes, str, str]] = [
        (
            {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": LIST_KEYS},
            b"{}",
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        ({**good, "Authorization": "AWS4-HMAC-SHA256 Credential"}, b"{}", "IncompleteSignatureException", ""),
        (
            signed(server, LIST_KEYS, b"{}", key="AKIAUNKNOWNUNKNOWN00"),
            b"{}",
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            signed(server, LIST_KEYS, b"{}", secret="wrong" + SECRET_ACCESS_KEY),
            b"{}",
            "InvalidSignatureException",
            SIGNATURE_MISMATCH,
        ),
        (good, b'{"Limit": 5}', "InvalidSignatureException", SIGNATURE_MISMATCH),  # body changed after signing
        ({**good, "X-Amz-Target": "TrentService.DescribeKey"}, b"{}", "InvalidSignatureException", SIGNATURE_MISMATCH),
        (
            signed(server, LIST_KEYS, b"{}", service="sqs"),
            b"{}",
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'kms'. ",
        ),
        (
            signed(server, LIST_KEYS, b"{}", extra={"X-Amz-Security-Token": "token"}),
            b"{}",
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
    ]
    for headers, body, code, message in cases:
        status, answer, _ = post(server, headers, body)
        assert status == 400 and answer["__type"] == code, (code, answer)
        if message:
            assert answer["message"] == message
    old = now - dt.timedelta(minutes=6)
    status, answer, _ = post(server, signed(server, LIST_KEYS, b"{}", when=old), b"{}")
    assert status == 400 and answer["__type"] == "InvalidSignatureException"
    assert answer["message"].startswith(f"Signature expired: {old.strftime('%Y%m%dT%H%M%SZ')} is now earlier than ")
    assert answer["message"].endswith(" - 5 min.)")
    ahead = now + dt.timedelta(minutes=6)
    status, answer, _ = post(server, signed(server, LIST_KEYS, b"{}", when=ahead), b"{}")
    assert answer["message"].startswith(f"Signature not yet current: {ahead.strftime('%Y%m%dT%H%M%SZ')} is still later")
    for skew in (-4, 4):
        status, _, _ = post(server, signed(server, LIST_KEYS, b"{}", when=now + dt.timedelta(minutes=skew)), b"{}")
        assert status == 200


def test_protocol_errors(server: TrentServer) -> None:
    status, body, _ = post(server, signed(server, "TrentService.NoSuchThing", b"{}"), b"{}")
    assert (status, body) == (400, {"__type": "UnknownOperationException"})
    status, body, _ = post(server, signed(server, "", b"{}"), b"{}")
    assert (status, body) == (400, {"__type": "UnknownOperationException"})
    for bad in (b"{not json", b"[1, 2]", b'"text"', b'{"Limit": "five"}', b'{"Limit": [1]}'):
        status, body, _ = post(server, signed(server, LIST_KEYS, bad), bad)
        assert status == 400 and body["__type"] == "SerializationException", bad
    bad_blob = b'{"KeyId": "alias/x", "Plaintext": "not base64!!"}'
    status, body, _ = post(server, signed(server, "TrentService.Encrypt", bad_blob), bad_blob)
    assert status == 400 and body["__type"] == "SerializationException"
    missing = b"{}"
    status, body, _ = post(server, signed(server, "TrentService.DescribeKey", missing), missing)
    assert (status, body) == (
        400,
        {
            "__type": "ValidationException",
            "message": "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
        },
    )


def test_unsupported_requests_answer_an_aws_error(server: TrentServer) -> None:
    body = (
        b'{"CustomKeyStoreName": "x", "CustomKeyStoreType": "EXTERNAL_KEY_STORE", "XksProxyConnectivity": '
        b'"VPC_ENDPOINT_SERVICE", "XksProxyUriEndpoint": "https://proxy.example", "XksProxyUriPath": "/kms/xks/v1", '
        b'"XksProxyAuthenticationCredential": {"AccessKeyId": "AAAAAAAAAAAAAAAAAAAA", '
        b'"RawSecretAccessKey": "sssssssssssssssssssssssssssssssssssssssssss"}}'
    )
    status, answer, _ = post(server, signed(server, "TrentService.CreateCustomKeyStore", body), body)
    assert status == 400 and answer["__type"] == "UnsupportedOperationException" and answer["message"]


def test_request_size_is_bounded(server: TrentServer) -> None:
    body = b'{"Limit": 1, "Pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, _, _ = post(server, signed(server, LIST_KEYS, body), body)
    assert status == 413


def test_garbage_on_the_socket_gets_400_and_a_closed_connection(server: TrentServer) -> None:
    url = urlsplit(server.endpoint)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    status, _, _ = post(server, signed(server, LIST_KEYS, b"{}"), b"{}")
    assert status == 200  # the server is still fine


def test_random_documents_never_produce_a_500(server: TrentServer) -> None:
    """A small fuzz: every operation, random JSON members of random types, never a 5xx or a hang."""
    rng = random.Random(1234)
    values: list[Any] = [None, True, 0, -1, 10**12, "", "x" * 3000, "alias/x", "AAAA", [], ["a"], {}, {"a": "b"}, 1.5]
    names = [
        "KeyId",
        "Plaintext",
        "CiphertextBlob",
        "Limit",
        "Marker",
        "KeySpec",
        "KeyUsage",
        "Tags",
        "Policy",
        "EncryptionContext",
        "GrantTokens",
        "AliasName",
        "TargetKeyId",
        "PublicKey",
        "DryRun",
        "NumberOfBytes",
    ]
    for operation in Operation:
        for _ in range(4):
            document = {rng.choice(names): rng.choice(values) for _ in range(rng.randint(0, 4))}
            body = json.dumps(document).encode()
            status, answer, _ = post(server, signed(server, f"TrentService.{operation}", body), body)
            assert status < 500, (operation, document, answer)


def test_a_stalled_client_does_not_block_others(server: TrentServer) -> None:
    url = urlsplit(server.endpoint)
    with socket.create_connection((url.hostname, url.port), timeout=10) as stalled:
        stalled.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # and then nothing
        for _ in range(4):  # every worker still answers
            status, _, _ = post(server, signed(server, LIST_KEYS, b"{}"), b"{}")
            assert status == 200


def test_expect_100_continue(server: TrentServer) -> None:
    url = urlsplit(server.endpoint)
    headers = signed(server, LIST_KEYS, b"{}", extra={"Expect": "100-continue"})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: 2\r\n{head}\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"{}")
        assert b"HTTP/1.1 200 OK" in sock.recv(4096)
