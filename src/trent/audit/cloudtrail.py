"""The CloudTrail delivery format of an export: gzipped `{"Records": [...]}` log files, and signed digest files
that chain them, as in CloudTrail log file integrity validation.

Layout (AWS CloudTrail User Guide, "Finding your CloudTrail log files" and "CloudTrail digest file structure"),
the export directory playing the S3 bucket:
  AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz
  AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/
      <account>_CloudTrail-Digest_<region>_<trail>_<region>_<YYYYMMDDTHHmmssZ>.json.gz
A digest is signed SHA256withRSA over the data signing string of "Custom implementations of CloudTrail log
file integrity validation":
  digestEndTime "\n" digestS3Bucket "/" digestS3Object "\n" hex(SHA-256(uncompressed digest)) "\n"
  previousDigestSignature (or "null")
CloudTrail keeps the hex signature in the S3 object's x-amz-meta-signature; a directory has no object
metadata, so it is the file <digest>.signature beside it. Trent's fields (trent*) say where each file sits in
the audit chain, so the export continues the chain provably: first and last sequence numbers and hashes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

BUCKET = "trent-audit"  # the digestS3Bucket of every digest: the export directory itself
TRAIL = "trent"
PERIOD_SECONDS = 300  # CloudTrail delivers a log file about every 5 minutes
MAX_RECORDS_PER_FILE = 10_000  # bounds the memory that verifying one file takes
MAX_INFLATED_BYTES = 64 * 1024 * 1024  # a file inflating beyond this is refused, not read
SIGNATURE_SUFFIX = ".signature"
PUBLIC_KEYS = "trent-public-keys"
EXPORT_KEY_AAD = b"trent:audit-export-key:v1"


def stamp(moment: float, seconds: bool = False) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y%m%dT%H%M%SZ" if seconds else "%Y%m%dT%H%MZ")


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y/%m/%d")


def log_object(account: str, region: str, period: float, first_seq: int) -> str:
    # CloudTrail's <unique> is 16 random characters; the first record's number is as unique and makes a
    # re-export of the same records (after an interrupted run) replace its file rather than add one.
    name = f"{account}_CloudTrail_{region}_{stamp(period)}_{first_seq:016x}.json.gz"
    return f"AWSLogs/{account}/CloudTrail/{region}/{_day(period)}/{name}"


def digest_object(account: str, region: str, end: float) -> str:
    name = f"{account}_CloudTrail-Digest_{region}_{TRAIL}_{region}_{stamp(end, seconds=True)}.json.gz"
    return f"AWSLogs/{account}/CloudTrail-Digest/{region}/{_day(end)}/{name}"


def signing_string(digest: dict[str, Any], inflated: bytes) -> bytes:
    previous = digest.get("previousDigestSignature") or "null"
    where = f"{digest['digestS3Bucket']}/{digest['digestS3Object']}"
    return f"{digest['digestEndTime']}\n{where}\n{hashlib.sha256(inflated).hexdigest()}\n{previous}".encode()


def new_signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def fingerprint(public: rsa.RSAPublicKey) -> str:
    """32 hex digits like CloudTrail's digestPublicKeyFingerprint: MD5 of the DER SubjectPublicKeyInfo, an
    identifier only (the signature, not the fingerprint, is what is checked)."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.md5(der, usedforsecurity=False).hexdigest()


def public_pem(public: rsa.RSAPublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the export public key is not an RSA key")
    return key


def sign(private: rsa.RSAPrivateKey, message: bytes) -> str:
    return private.sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()


def signature_valid(public: rsa.RSAPublicKey, message: bytes, signature_hex: str) -> bool:
    try:
        public.verify(bytes.fromhex(signature_hex), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def inflate(path: Path) -> bytes:
    """The uncompressed content of a gzipped file, refusing one that inflates beyond MAX_INFLATED_BYTES."""
    with gzip.open(path, "rb") as f:
        data = f.read(MAX_INFLATED_BYTES + 1)
    if len(data) > MAX_INFLATED_BYTES:
        raise ValueError(f"it inflates to more than {MAX_INFLATED_BYTES} bytes")
    return data


def durable_write(path: Path, data: bytes) -> None:
    """Write a file whole or not at all, and on disk before returning (pruning relies on it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sync_dir(path.parent)


def sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Hashing:
    """A file object that hashes what it writes: the hashValue of a log file is of its gzipped bytes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.sha = raw, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


class LogFile:
    """One log file being written, record by record (constant memory): `{"Records":[` body, body, ... `]}`.

    Bodies are the chained bytes themselves (canonical JSON), so a verifier recomputes the chain from them.
    """

    def __init__(self, root: Path, s3_object: str, first_seq: int, previous: bytes) -> None:
        self.s3_object, self.first_seq, self.previous = s3_object, first_seq, previous
        self.path = root / s3_object
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._raw = open(self._tmp, "wb")  # noqa: SIM115 - closed in finish()
        self._hashing = _Hashing(self._raw)
        self._gzip = gzip.GzipFile(fileobj=self._hashing, mode="wb", mtime=0)
        self._gzip.write(b'{"Records":[')
        self.count, self.last, self.oldest, self.newest = 0, previous, float("inf"), float("-inf")

    def add(self, body: bytes, digest: bytes, when: float) -> None:
        if self.count:
            self._gzip.write(b",\n")
        self._gzip.write(body)
        self.count += 1
        self.last = digest
        self.oldest, self.newest = min(self.oldest, when), max(self.newest, when)

    def finish(self) -> dict[str, Any]:
        """Close it durably; its entry in the digest's logFiles."""
        self._gzip.write(b"]}")
        self._gzip.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self._tmp, self.path)
        return {
            "s3Bucket": BUCKET,
            "s3Object": self.s3_object,
            "hashValue": self._hashing.sha.hexdigest(),
            "hashAlgorithm": "SHA-256",
            "oldestEventTime": iso(self.oldest),
            "newestEventTime": iso(self.newest),
            "trentFirstSequence": self.first_seq,
            "trentLastSequence": self.first_seq + self.count - 1,
            "trentPreviousHash": self.previous.hex(),
            "trentLastHash": self.last.hex(),
        }

    def abandon(self) -> None:
        self._gzip.close()
        self._raw.close()
        self._tmp.unlink(missing_ok=True)
