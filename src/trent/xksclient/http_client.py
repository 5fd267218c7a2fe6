"""The XKS proxy client over HTTP: JSON requests signed with SigV4 (botocore's SigV4Auth, service
`kms-xks-proxy`, the key store's region), HTTPS with the system's trust (or a given CA file), or plain HTTP to
a loopback address (tests; docs/decisions/0016-external-key-stores.md).

Every call is bounded: "AWS KMS waits 250 milliseconds for a response" from the proxy (the specification's
"Timeouts"; Developer Guide, "External key stores"), so one deadline covers connecting, the TLS handshake,
sending and reading, each socket operation waiting at most what is left of it (name resolution too, on threads
of its own: getaddrinfo knows no timeout). An answer is read to at most
MAX_RESPONSE bytes. The spec's error answers ({"errorName": ...} with its HTTP status) and every transport
failure become a ProxyFailure of a kind (port.py); nothing here knows the KMS API's exceptions.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from trent.xksclient.hosts import is_loopback
from trent.xksclient.port import FailureKind, KeyInfo, ProxyFailure, ProxySealed, ProxyTarget

SERVICE = "kms-xks-proxy"
TIMEOUT = 0.25  # seconds, per call (the specification's and AWS KMS's)
MAX_RESPONSE = 256 * 1024  # bytes of an answer: the largest valid one (a 64 KiB ciphertext in base64) and more
_F = FailureKind
# The specification's errorName values (its "Error codes" table) -> what they mean to the caller.
ERRORS: Mapping[str, FailureKind] = {
    "AuthenticationFailedException": _F.ACCESS_DENIED,
    "AccessDeniedException": _F.ACCESS_DENIED,
    "KeyNotFoundException": _F.KEY_NOT_FOUND,
    "InvalidStateException": _F.KEY_STATE,
    "InvalidKeyUsageException": _F.KEY_USAGE,
    "InvalidCiphertextException": _F.INVALID_CIPHERTEXT,
    "InvalidUriPathException": _F.INVALID_CONFIGURATION,
    "ValidationException": _F.INVALID_CONFIGURATION,
    "UnsupportedOperationException": _F.INVALID_CONFIGURATION,
    "ThrottlingException": _F.NOT_REACHABLE,
    "DependencyTimeoutException": _F.TIMED_OUT,
    "InternalException": _F.INVALID_RESPONSE,
}
# An error answer without a known errorName: by its status.
STATUSES: Mapping[int, FailureKind] = {
    401: _F.ACCESS_DENIED,
    403: _F.ACCESS_DENIED,
    404: _F.INVALID_CONFIGURATION,
    429: _F.NOT_REACHABLE,
    503: _F.NOT_REACHABLE,
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(answer: Mapping[str, Any], name: str, required: bool = True) -> bytes:
    value = answer.get(name)
    if value is None and not required:
        return b""
    if not isinstance(value, str):
        raise ProxyFailure(_F.INVALID_RESPONSE, f"the answer has no {name}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProxyFailure(_F.INVALID_RESPONSE, f"the answer's {name} is not base64") from None


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise ProxyFailure(_F.TIMED_OUT, "the proxy did not answer in time")
        return left


class HttpXksProxy:
    """The XksProxy port over HTTP(S). `ca_file`: the CA bundle to trust instead of the system's."""

    def __init__(self, *, ca_file: Path | None = None, timeout: float = TIMEOUT) -> None:
        self._timeout = timeout
        self._ca_file = ca_file
        self._context: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"HttpXksProxy(timeout={self._timeout}, ca_file={self._ca_file})"

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context(cafile=None if self._ca_file is None else str(self._ca_file))
        return self._context

    # The operations (the specification's "API operations").

    def health(self, target: ProxyTarget, metadata: Mapping[str, str]) -> None:
        answer = self._call(target, "/health", {"requestMetadata": dict(metadata)})
        fleet = answer.get("ekmFleetDetails")
        if not isinstance(fleet, list) or not all(isinstance(e, dict) for e in fleet):
            raise ProxyFailure(_F.INVALID_RESPONSE, "the health status has no ekmFleetDetails list")
        if fleet and all(e.get("healthStatus") == "UNAVAILABLE" for e in fleet):
            raise ProxyFailure(_F.NOT_REACHABLE, "every external key manager of the proxy is unavailable")

    def key_metadata(self, target: ProxyTarget, key_id: str, metadata: Mapping[str, str]) -> KeyInfo:
        answer = self._call(target, f"/keys/{key_id}/metadata", {"requestMetadata": dict(metadata)})
        spec, usage, status = answer.get("keySpec"), answer.get("keyUsage"), answer.get("keyStatus")
        if not isinstance(spec, str) or not isinstance(usage, list) or not isinstance(status, str):
            raise ProxyFailure(_F.INVALID_RESPONSE, "the key metadata lacks keySpec, keyUsage or keyStatus")
        return KeyInfo(spec, tuple(str(u) for u in usage), status)

    def encrypt(
        self, target: ProxyTarget, key_id: str, plaintext: bytes, aad: bytes, metadata: Mapping[str, str]
    ) -> ProxySealed:
        body: dict[str, Any] = {
            "requestMetadata": dict(metadata),
            "plaintext": _b64(plaintext),
            "encryptionAlgorithm": "AES_GCM",
        }
        if aad:
            body["additionalAuthenticatedData"] = _b64(aad)
        answer = self._call(target, f"/keys/{key_id}/encrypt", body)
        return ProxySealed(
            _unb64(answer, "ciphertext"),
            _unb64(answer, "initializationVector"),
            _unb64(answer, "authenticationTag"),
            _unb64(answer, "ciphertextMetadata", required=False),
        )

    def decrypt(
        self, target: ProxyTarget, key_id: str, sealed: ProxySealed, aad: bytes, metadata: Mapping[str, str]
    ) -> bytes:
        body: dict[str, Any] = {
            "requestMetadata": dict(metadata),
            "ciphertext": _b64(sealed.ciphertext),
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": _b64(sealed.initialization_vector),
            "authenticationTag": _b64(sealed.authentication_tag),
        }
        if sealed.ciphertext_metadata:
            body["ciphertextMetadata"] = _b64(sealed.ciphertext_metadata)
        if aad:
            body["additionalAuthenticatedData"] = _b64(aad)
        return _unb64(self._call(target, f"/keys/{key_id}/decrypt", body), "plaintext")

    # The transport.

    def _call(self, target: ProxyTarget, operation_path: str, document: Mapping[str, Any]) -> dict[str, Any]:
        deadline = _Deadline(self._timeout)
        url = target.url + operation_path
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ProxyFailure(_F.INVALID_CONFIGURATION, "the proxy URI is not https://")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ProxyFailure(_F.INVALID_CONFIGURATION, "plain http is only for a loopback proxy")
        payload = orjson.dumps(document)
        headers = self._signed(target, url, payload)
        status, raw = self._exchange(parts.scheme, parts.hostname, parts.port, parts.path, payload, headers, deadline)
        try:
            answer = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict):
            raise ProxyFailure(_F.INVALID_RESPONSE, f"the proxy's answer (HTTP {status}) is not a JSON object")
        if status != 200:
            name = answer.get("errorName")
            kind = ERRORS.get(name) if isinstance(name, str) else None
            kind = kind or STATUSES.get(status, _F.INVALID_RESPONSE)
            raise ProxyFailure(kind, f"the proxy answered HTTP {status} {name if isinstance(name, str) else ''}")
        return answer

    def _signed(self, target: ProxyTarget, url: str, payload: bytes) -> dict[str, str]:
        # botocore's signing modules (urllib3, dateutil: ~50 ms) are imported at the first call to a proxy,
        # not at the start of every process (each holds an HttpXksProxy: benchmarks/results/dev_start.md).
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        request = AWSRequest("POST", url, data=payload, headers={"Content-Type": "application/json"})
        credentials = Credentials(target.access_key_id, target.secret.reveal().decode())
        SigV4Auth(credentials, SERVICE, target.region).add_auth(request)
        return {k: str(v) for k, v in request.headers.items()}

    def _exchange(
        self,
        scheme: str,
        host: str,
        port: int | None,
        path: str,
        payload: bytes,
        headers: Mapping[str, str],
        deadline: _Deadline,
    ) -> tuple[int, bytes]:
        port = port or (443 if scheme == "https" else 80)
        connection = http.client.HTTPConnection(host, port, timeout=deadline.left())
        raw: socket.socket | None = None
        response: http.client.HTTPResponse | None = None
        try:
            address = _resolve(host, port, deadline)
            raw = socket.create_connection(address, timeout=deadline.left())
            sock = raw
            if scheme == "https":
                raw.settimeout(deadline.left())
                sock = self._tls().wrap_socket(raw, server_hostname=host)
            connection.sock = sock  # http.client uses a socket it is given (the name stays the Host header's)
            _bound(connection, deadline)
            connection.request("POST", path, body=payload, headers=dict(headers))
            _bound(connection, deadline)
            response = http.client.HTTPResponse(sock, method="POST")  # closed below, whatever happens
            response.begin()
            length = response.getheader("Content-Length")
            if length is not None and length.isdigit() and int(length) > MAX_RESPONSE:
                raise ProxyFailure(_F.INVALID_RESPONSE, "the proxy's answer is too large")
            body = _read(response, connection, deadline)
            return response.status, body
        except ProxyFailure:
            raise
        except ssl.SSLError as exc:
            raise ProxyFailure(_F.INVALID_TLS, f"TLS with the proxy failed: {exc.reason}") from None
        except TimeoutError:
            raise ProxyFailure(_F.TIMED_OUT, "the proxy did not answer in time") from None
        except (OSError, http.client.HTTPException) as exc:
            raise ProxyFailure(_F.NOT_REACHABLE, f"the proxy cannot be reached: {type(exc).__name__}") from None
        finally:
            if response is not None:
                response.close()
            connection.close()
            if raw is not None:
                raw.close()


# Name resolution is not bounded by socket timeouts (getaddrinfo blocks for as long as the resolver takes), so it
# runs on a few threads of its own and the caller waits only what is left of its deadline.
_RESOLVER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="xks-resolve")


def _resolve(host: str, port: int, deadline: _Deadline) -> tuple[str, int]:
    found = _RESOLVER.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = found.result(timeout=deadline.left())
    except FutureTimeout:
        raise ProxyFailure(_F.TIMED_OUT, "the proxy's name did not resolve in time") from None
    except socket.gaierror:
        raise ProxyFailure(_F.NOT_REACHABLE, "the proxy's name does not resolve") from None
    if not infos:
        raise ProxyFailure(_F.NOT_REACHABLE, "the proxy's name does not resolve")
    sockaddr = infos[0][4]
    return str(sockaddr[0]), int(sockaddr[1])


def _bound(connection: http.client.HTTPConnection, deadline: _Deadline) -> None:
    if connection.sock is not None:
        connection.sock.settimeout(deadline.left())


def _read(response: http.client.HTTPResponse, connection: http.client.HTTPConnection, deadline: _Deadline) -> bytes:
    chunks: list[bytes] = []
    size = 0
    read: Callable[[int], bytes] = response.read1
    while True:
        _bound(connection, deadline)
        chunk = read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_RESPONSE:
            raise ProxyFailure(_F.INVALID_RESPONSE, "the proxy's answer is too large")
        chunks.append(chunk)
