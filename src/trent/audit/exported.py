"""`trent audit verify --exported DIR`: check an export offline, as CloudTrail's validate-logs checks a trail.

Every digest's signature (with the public key whose fingerprint it names), the digest chain (each digest
names the previous one's object, hash and signature), every log file's SHA-256, and that the records of the
files, in order, continue the audit chain from record 1 without a gap. Each problem is one line. Memory is
bounded by one log file (MAX_INFLATED_BYTES), whatever the size of the export.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import rsa

from trent.audit import cloudtrail as ct
from trent.audit.anchor import ORIGIN, Position
from trent.audit.chain import canonical, link
from trent.audit.export import digests
from trent.audit.verify import Problem


@dataclass(slots=True)
class ExportTally:
    digests: int = 0
    files: int = 0
    records: int = 0
    last: Position = field(default_factory=lambda: ORIGIN)
    chain_id: str | None = None
    fingerprints: set[str] = field(default_factory=set)
    continued_from: int | None = None  # the live log's base, when it was compared with the export


def _problem(where: str, detail: str) -> Problem:
    return Problem(None, where, detail)


def _public_keys(root: Path, given: rsa.RSAPublicKey | None) -> dict[str, rsa.RSAPublicKey]:
    if given is not None:
        return {ct.fingerprint(given): given}
    keys = {}
    for pem in sorted((root / ct.PUBLIC_KEYS).glob("*.pem")):
        try:
            key = ct.load_public(pem.read_bytes())
        except (OSError, ValueError):
            continue
        keys[ct.fingerprint(key)] = key
    return keys


_DIGEST_FIELDS = {
    "digestEndTime": str,
    "digestS3Bucket": str,
    "digestS3Object": str,
    "digestPublicKeyFingerprint": str,
    "logFiles": list,
    "trentChainId": str,
    "trentLastSequence": int,
    "trentLastHash": str,
}


def verify_export(root: Path, given_key: rsa.RSAPublicKey | None, tally: ExportTally) -> Iterator[Problem]:
    if not root.is_dir():
        raise FileNotFoundError(f"no export directory at {root}")
    keys = _public_keys(root, given_key)
    listed: set[str] = set()
    previous: tuple[str, str, str] | None = None  # object, SHA-256 of its content, signature
    at = ORIGIN
    for path in digests(root):
        relative = path.relative_to(root).as_posix()
        tally.digests += 1
        name = f"digest {relative}"
        try:
            inflated = ct.inflate(path)
            digest = orjson.loads(inflated)
            signature = Path(str(path) + ct.SIGNATURE_SUFFIX).read_text().strip()
        except (OSError, ValueError, EOFError) as exc:
            yield _problem("digest", f"{name} cannot be read: {exc}")
            previous = None
            continue
        bad = [
            f
            for f, kind in _DIGEST_FIELDS.items()
            if not isinstance(digest.get(f) if isinstance(digest, dict) else None, kind)
        ]
        if bad:
            yield _problem("digest", f"{name} lacks or mistypes {', '.join(bad)}")
            previous = None
            continue
        yield from _check_digest(name, relative, digest, inflated, signature, keys, previous, tally)
        previous = (relative, hashlib.sha256(inflated).hexdigest(), signature)
        for entry in digest["logFiles"]:
            if isinstance(entry, dict) and isinstance(entry.get("s3Object"), str):
                listed.add(entry["s3Object"])
            at = yield from _check_file(root, entry, at, tally)
        declared = Position(digest["trentLastSequence"], _hex(digest["trentLastHash"]))
        if declared != at:
            yield _problem("digest", f"{name} says the chain ends at record {declared.seq}; its files end at {at.seq}")
            at = declared
    for log_file in sorted(root.glob("AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz")):
        if log_file.relative_to(root).as_posix() not in listed:
            yield _problem(
                "log file",
                f"{log_file.relative_to(root).as_posix()} is in no digest (an interrupted "
                "export leaves one, which the next export replaces)",
            )
    tally.last = at


def _hex(value: object) -> bytes:
    try:
        return bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        return b""


def _check_digest(
    name: str,
    relative: str,
    digest: dict[str, Any],
    inflated: bytes,
    signature: str,
    keys: dict[str, rsa.RSAPublicKey],
    previous: tuple[str, str, str] | None,
    tally: ExportTally,
) -> Iterator[Problem]:
    if digest["digestS3Object"] != relative:
        yield _problem("digest", f"{name} says it is {digest['digestS3Object']}: it was moved or copied")
    key = keys.get(digest["digestPublicKeyFingerprint"])
    if key is None:
        yield _problem("digest", f"{name} is signed by key {digest['digestPublicKeyFingerprint']}, which is not given")
    elif not ct.signature_valid(key, ct.signing_string(digest, inflated), signature):
        yield _problem("digest", f"{name}: its signature is invalid: it was edited or forged")
    else:
        tally.fingerprints.add(digest["digestPublicKeyFingerprint"])
    if tally.chain_id is None:
        tally.chain_id = digest["trentChainId"]
    elif digest["trentChainId"] != tally.chain_id:
        yield _problem("digest", f"{name} is of audit chain {digest['trentChainId']}, not {tally.chain_id}")
    names = (
        digest.get("previousDigestS3Object"),
        digest.get("previousDigestHashValue"),
        digest.get("previousDigestSignature"),
    )
    if previous is None and tally.digests == 1 and names != (None, None, None):
        yield _problem("digest", f"{name} follows {names[0]}, which is not in the export: digests were removed")
    elif previous is not None and names != previous:
        what = "names another previous digest" if names[0] != previous[0] else "does not match the previous digest"
        yield _problem("digest", f"{name} {what} ({previous[0]}): the digest chain is broken")


def _check_file(root: Path, entry: Any, at: Position, tally: ExportTally) -> Generator[Problem, None, Position]:
    """Check one listed log file; return where the chain is after it (as declared, if it is damaged)."""
    try:
        relative, first, last = entry["s3Object"], int(entry["trentFirstSequence"]), int(entry["trentLastSequence"])
        previous, declared, expected = (
            _hex(entry["trentPreviousHash"]),
            _hex(entry["trentLastHash"]),
            entry["hashValue"],
        )
    except (KeyError, TypeError, ValueError):
        yield _problem("digest", f"a logFiles entry is malformed: {str(entry)[:200]}")
        return at
    end = Position(last, declared)
    name = f"log file {relative}"
    if first != at.seq + 1 or previous != at.digest:
        yield _problem(
            "log file",
            f"{name} starts at record {first}, but the chain is at record {at.seq}: "
            f"records are missing or out of order",
        )
    path = root / relative
    tally.files += 1
    try:
        raw = path.read_bytes() if path.stat().st_size <= ct.MAX_INFLATED_BYTES else b""
        if hashlib.sha256(raw).hexdigest() != expected:
            yield _problem("log file", f"{name}: its SHA-256 is not the digest's: it was modified")
            return end
        records = orjson.loads(ct.inflate(path))["Records"]
    except FileNotFoundError:
        yield _problem("log file", f"{name} is missing")
        return end
    except (OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        yield _problem("log file", f"{name} cannot be read: {exc}")
        return end
    digest = previous
    for record in records if isinstance(records, list) else ():
        digest = link(digest, canonical(record)) if isinstance(record, dict) else b""
    tally.records += len(records) if isinstance(records, list) else 0
    if not isinstance(records, list) or first + len(records) - 1 != last or digest != declared:
        yield _problem("log file", f"{name}: its records do not chain from record {first} to record {last}")
    return end
