"""AWS Signature Version 4 verification of header-signed requests.

Spec: AWS General Reference, "Signature Version 4 signing process" (create a canonical request, a string
to sign, derive the signing key, compute the signature). Function names follow the spec and botocore's
SigV4Auth. Check order and error texts follow docs/aws-semantics.md §B: header present, well-formed, known
access key, date window (±5 minutes), credential scope, then the signature, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote, unquote

from trent.kms.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "kms"
MAX_SKEW = timedelta(minutes=5)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_SHAPE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."
# The type and text Coral services answer (DynamoDB, aws/aws-sdk-php#2469): InvalidSignatureException.
HOST_NOT_SIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


# Named tuples, not frozen dataclasses, for the values built on every request: as immutable, and several
# times cheaper to create (a frozen dataclass's __init__ sets each field through object.__setattr__).
class Credential(NamedTuple):
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


class Authorization(NamedTuple):
    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str


def header_map(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lowercase names → values; a repeated header's values joined by commas, as SigV4 canonicalizes them."""
    if isinstance(headers, dict):
        return headers
    out: dict[str, str] = {}
    for key, value in headers.items() if isinstance(headers, Mapping) else headers:
        key = key.lower()
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What SigV4 covers. `headers` maps lowercase names to values (pairs are accepted and merged)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", header_map(self.headers))

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class Verified(NamedTuple):
    access_key_id: str
    region: str


_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/([^/,\s]+)/([^/,\s]+)/([^/,\s]+)/([^/,\s]+),\s*"
    r"SignedHeaders=([^,\s]+),\s*Signature=([^,\s]+)"
)


def parse_authorization(header: str) -> Authorization:
    """Split `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`."""
    found = _AUTHORIZATION.fullmatch(header)
    if found is not None:  # the form every SDK sends; anything else takes the careful path below
        key, date, region, service, terminator, signed, sig = found.groups()
        return Authorization(Credential(key, date, region, service, terminator), tuple(signed.split(";")), sig)
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    fields: dict[str, str] = {}
    for token in (t.strip() for t in rest.split(",")):
        name, eq, value = token.partition("=")
        if not eq:
            raise IncompleteSignatureException(
                f"'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
            )
        fields[name] = value
    missing = [n for n in ("Credential", "Signature", "SignedHeaders") if not fields.get(n)]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"Authorization header requires '{n}' parameter." for n in missing) + f" Authorization={header}"
        )
    parts = fields["Credential"].split("/")
    if len(parts) != 5 or not all(parts):
        raise IncompleteSignatureException(
            f"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{fields['Credential']}'"
        )
    return Authorization(Credential(*parts), tuple(fields["SignedHeaders"].split(";")), fields["Signature"])


def _uri_encode(value: str, safe: str = "-_.~") -> str:
    return quote(value, safe=safe)


def canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        name, _, value = item.partition("=")
        pairs.append((_uri_encode(unquote(name)), _uri_encode(unquote(value))))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_headers(request: HttpRequest, signed_headers: Sequence[str]) -> str:
    headers = request.headers
    # Values trimmed, sequential spaces collapsed; a repeated header's values are already comma-joined.
    return "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers)


def canonical_uri(path: str) -> str:
    """For every service but S3: remove dot segments (RFC 3986 5.2.4), then URI-encode the path as sent
    (already encoded once), so each segment ends up encoded twice, as botocore's SigV4Auth does."""
    if path == "/" or not path:
        return "/"  # every KMS request
    normalized = posixpath.normpath(path)
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    return quote(normalized, safe="/~")


def canonical_request(request: HttpRequest, signed_headers: Sequence[str], payload_hash: str) -> str:
    path = canonical_uri(request.path)
    return "\n".join(
        (
            request.method,
            path,
            canonical_query(request.query),
            canonical_headers(request, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join((ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))


@lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Derived once per (secret, day, region, service): four HMACs we need not repeat per request."""
    k = hmac.digest(("AWS4" + secret).encode(), date.encode(), "sha256")
    k = hmac.digest(k, region.encode(), "sha256")
    k = hmac.digest(k, service.encode(), "sha256")
    return hmac.digest(k, b"aws4_request", "sha256")


def signature(key: bytes, to_sign: str) -> str:
    return hmac.digest(key, to_sign.encode(), "sha256").hex()


def _fmt(moment: datetime) -> str:
    return moment.strftime(_AMZ_DATE)


@lru_cache(maxsize=4)
def _window(second: int) -> tuple[str, str]:
    """The earliest and latest acceptable X-Amz-Date, as strings: the fixed-width basic format sorts like time."""
    now = datetime.fromtimestamp(second, UTC)
    return _fmt(now - MAX_SKEW), _fmt(now + MAX_SKEW)


def check_date(amz_date: str, credential: Credential, now: datetime) -> None:
    if _AMZ_DATE_SHAPE.fullmatch(amz_date) is None:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )
    earliest, latest = _window(int(now.timestamp()))
    if earliest <= amz_date <= latest:
        if credential.date != amz_date[:8]:
            raise InvalidSignatureException(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{credential.date}' != '{amz_date[:8]}', from '{amz_date}'."
            )
        return
    try:
        when = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None
    if when < now - MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {amz_date} is now earlier than {_fmt(now - MAX_SKEW)} ({_fmt(now)} - 5 min.)"
        )
    if when > now + MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {amz_date} is still later than {_fmt(now + MAX_SKEW)} ({_fmt(now)} + 5 min.)"
        )
    if credential.date != amz_date[:8]:
        raise InvalidSignatureException(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{credential.date}' != '{amz_date[:8]}', from '{amz_date}'."
        )


def check_scope(credential: Credential, service: str = SERVICE) -> None:
    if credential.service != service:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{service}'. ")
    if _REGION.fullmatch(credential.region) is None:
        raise InvalidSignatureException(f"Credential should be scoped to a valid region, not '{credential.region}'. ")
    if credential.terminator != "aws4_request":
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{credential.terminator}'. "
        )


def check_signed_headers(request: HttpRequest, signed_headers: Sequence[str]) -> None:
    """The signature must cover what decides what the request does.

    AWS General Reference, "Create a canonical request": the canonical headers must include the HTTP host
    header, and "any x-amz-* headers that you plan to include in your request must also be added". So
    X-Amz-Target (the operation) and X-Amz-Date are covered, and a signed DescribeKey cannot be replayed
    as DisableKey. Content-Type is not required: see docs/decisions/0007-hostile-input.md.
    """
    if "host" not in signed_headers:
        raise InvalidSignatureException(HOST_NOT_SIGNED)
    headers = request.headers
    for name in headers:
        if name.startswith("x-amz-") and name not in signed_headers:
            raise InvalidSignatureException(f"'{name}' must be a 'SignedHeader' in the AWS Authorization.")
    for name in signed_headers:
        if name not in headers:
            raise IncompleteSignatureException(
                f"'{name}' is named as a SignedHeader, but it does not exist in the HTTP request."
            )


def _signed(request: HttpRequest) -> tuple[Authorization, str]:
    """The Authorization header parsed, its signed headers checked, and the X-Amz-Date."""
    header = request.header("authorization")
    if header is None:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    auth = parse_authorization(header)
    check_signed_headers(request, auth.signed_headers)
    amz_date = request.header("x-amz-date")
    if amz_date is None:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={header}"
        )
    return auth, amz_date


def check_unsigned(request: HttpRequest, now: datetime) -> Verified:
    """A dev server's check (docs/dev-mode.md): every check of verify() but the access key's and the signature's,
    so any access key id, secret and session token is accepted in a well-formed, current, well-scoped request."""
    auth, amz_date = _signed(request)
    check_date(amz_date, auth.credential, now)
    check_scope(auth.credential)
    return Verified(auth.credential.access_key_id, auth.credential.region)


def verify(
    request: HttpRequest, secret_for: Callable[[str], str | None], now: datetime, service: str = SERVICE
) -> Verified:
    """Authenticate a header-signed request to `service` (the XKS proxy API's is `kms-xks-proxy`); the AWS
    error for the first check that fails."""
    auth, amz_date = _signed(request)
    if request.header("x-amz-security-token") is not None:
        raise UnrecognizedClientException(INVALID_TOKEN)  # Trent issues no session tokens
    cred = auth.credential
    secret = secret_for(cred.access_key_id)
    if secret is None:
        raise UnrecognizedClientException(INVALID_TOKEN)
    check_date(amz_date, cred, now)
    check_scope(cred, service)
    # The body's hash is always ours: a client-sent x-amz-content-sha256 that differs fails the signature.
    payload_hash = hashlib.sha256(request.body).hexdigest()
    canonical = canonical_request(request, auth.signed_headers, payload_hash)
    key = signing_key(secret, cred.date, cred.region, cred.service)
    expected = signature(key, string_to_sign(amz_date, cred.scope, canonical))
    if not hmac.compare_digest(expected.encode(), auth.signature.encode("utf-8", "replace")):
        raise InvalidSignatureException(SIGNATURE_MISMATCH)
    return Verified(cred.access_key_id, cred.region)
