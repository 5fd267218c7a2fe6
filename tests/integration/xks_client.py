"""A client of the XKS proxy API for the tests: JSON bodies signed with botocore's SigV4Auth (service
kms-xks-proxy), sent over http.client (HTTPS with a given SSL context, for mutual TLS)."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "kms-xks-proxy"
PRINCIPAL = "arn:aws:iam::123456789012:user/Alice"
KEY_ARN = "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def metadata(operation: str, **extra: str) -> dict[str, str]:
    return {
        "awsPrincipalArn": PRINCIPAL,
        "kmsKeyArn": KEY_ARN,
        "kmsOperation": operation,
        "kmsRequestId": str(uuid.uuid4()),
        "kmsViaService": "ebs",
        **extra,
    }


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def error(self) -> str | None:
        return self.body.get("errorName")


@dataclass
class XksClient:
    endpoint: str
    uri_prefix: str
    access_key_id: str
    secret: str
    region: str = "us-east-1"
    service: str = SERVICE
    ssl_context: ssl.SSLContext | None = None

    def send(
        self,
        path: str,
        body: Any,
        *,
        method: str = "POST",
        sign: bool = True,
        content_type: str = "application/json",
        prefix: str | None = None,
    ) -> Answer:
        """POST `body` (a dict: its JSON; bytes as they are) to /{prefix}/kms/xks/v1/{path}."""
        url = f"{self.endpoint}/{self.uri_prefix if prefix is None else prefix}/kms/xks/v1/{path}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": content_type})
        if sign:
            SigV4Auth(Credentials(self.access_key_id, self.secret), self.service, self.region).add_auth(request)
        parts = urlsplit(url)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(parts.netloc, timeout=30, context=self.ssl_context)
        else:
            connection = http.client.HTTPConnection(parts.netloc, timeout=30)
        try:
            connection.request(method, parts.path, body=data, headers=dict(request.headers.items()))
            response = connection.getresponse()
            raw = response.read()
            assert response.getheader("content-type") == "application/json", raw
            return Answer(response.status, json.loads(raw))
        finally:
            connection.close()

    def health(self, **kw: Any) -> Answer:
        return self.send("health", {"requestMetadata": {"kmsOperation": "KmsHealthCheck", "kmsRequestId": "r-1"}}, **kw)

    def key_metadata(self, key_id: str, operation: str = "DescribeKey", **kw: Any) -> Answer:
        return self.send(f"keys/{key_id}/metadata", {"requestMetadata": metadata(operation)}, **kw)

    def encrypt(
        self,
        key_id: str,
        plaintext: bytes,
        aad: bytes | None = None,
        cdiv: str | None = None,
        operation: str = "Encrypt",
        **extra: Any,
    ) -> Answer:
        body: dict[str, Any] = {
            "requestMetadata": metadata(operation),
            "plaintext": b64(plaintext),
            "encryptionAlgorithm": "AES_GCM",
        }
        if aad is not None:
            body["additionalAuthenticatedData"] = b64(aad)
        if cdiv is not None:
            body["ciphertextDataIntegrityValueAlgorithm"] = cdiv
        body.update(extra)
        return self.send(f"keys/{key_id}/encrypt", body)

    def decrypt(
        self, key_id: str, sealed: dict[str, Any], aad: bytes | None = None, operation: str = "Decrypt", **extra: Any
    ) -> Answer:
        body: dict[str, Any] = {
            "requestMetadata": metadata(operation),
            "encryptionAlgorithm": "AES_GCM",
            **{k: v for k, v in sealed.items() if k != "ciphertextDataIntegrityValue"},
        }
        if aad is not None:
            body["additionalAuthenticatedData"] = b64(aad)
        body.update(extra)
        return self.send(f"keys/{key_id}/decrypt", body)


def data_dir_of(server: Any) -> Path:
    """A TrentServer's data directory (these tests always give one)."""
    assert server.data_dir is not None
    return Path(server.data_dir)
