"""`trent audit export`: copy the chain's records, oldest first, into CloudTrail-format files and a signed digest
that continues the export's digest chain; optionally prune what the export holds from audit.db.

Each run continues from the last exported record (found in the newest digest, whose signature it checks),
so exporting twice never duplicates a record. Pruning deletes only records an export in that directory
holds and verifies, in one transaction that also stores the base: the authenticated (seq, hash) of the last
pruned record, where verification of what remains starts.
"""

from __future__ import annotations

import gzip
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import rsa

from trent.audit import cloudtrail as ct
from trent.audit.anchor import BASE, ORIGIN, Position, seal, unseal
from trent.audit.chain import link
from trent.audit.port import Archive, View


class ExportError(ValueError):
    """The export cannot proceed (it would not continue the chain, the log is damaged, ...); one line, why."""


@dataclass(frozen=True, slots=True)
class Continuation:
    """Where an export directory's digest chain ends."""

    last: Position
    digest_object: str | None
    digest_sha256: str | None
    signature: str | None
    end_time: float


@dataclass(frozen=True, slots=True)
class Exported:
    records: int
    files: int
    last: Position
    digest: str | None
    pruned_through: int | None


def digests(root: Path) -> list[Path]:
    """Every digest file under the export, oldest first (their names end in their end time)."""
    found = [p for p in root.glob("AWSLogs/*/CloudTrail-Digest/*/*/*/*/*.json.gz") if p.is_file()]
    return sorted(found, key=lambda p: (p.name.rsplit("_", 1)[-1], str(p)))


def continuation(root: Path, public: rsa.RSAPublicKey, chain_id: bytes) -> Continuation:
    """Where the export in `root` ends, checked: its newest digest must be signed by this server's export key,
    of this chain, and where it says it is."""
    found = digests(root)
    if not found:
        return Continuation(ORIGIN, None, None, None, 0.0)
    newest = found[-1]
    relative = newest.relative_to(root).as_posix()
    try:
        inflated = ct.inflate(newest)
        digest = orjson.loads(inflated)
        signature = Path(str(newest) + ct.SIGNATURE_SUFFIX).read_text().strip()
        valid = digest["digestS3Object"] == relative and ct.signature_valid(
            public, ct.signing_string(digest, inflated), signature
        )
        last = Position(int(digest["trentLastSequence"]), bytes.fromhex(digest["trentLastHash"]))
        chain = bytes.fromhex(digest["trentChainId"])
        end = datetime.strptime(digest["digestEndTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problem = f"the newest digest {relative} cannot be read ({exc})"
        raise ExportError(f"{problem}: run `trent audit verify --exported`") from None
    if not valid:
        raise ExportError(f"the newest digest {relative} is not signed by this server's export key")
    if chain != chain_id:
        raise ExportError(f"{root} holds an export of audit chain {chain.hex()}, not {chain_id.hex()}")
    return Continuation(last, relative, hashlib.sha256(inflated).hexdigest(), signature, end)


def _base(view: View, key: bytes, chain_id: bytes) -> Position:
    stored = view.base()
    return ORIGIN if stored is None else unseal(BASE, key, chain_id, stored if isinstance(stored, bytes) else b"")


def _hash_at(view: View, seq: int, base: Position) -> bytes | None:
    if seq == base.seq:
        return base.digest
    stored = view.hash_at(seq)
    return stored if isinstance(stored, bytes) else None


def _check_continues(view: View, at: Position, base: Position, root: Path) -> None:
    if at.seq < base.seq:
        raise ExportError(
            f"records {at.seq + 1}-{base.seq} were pruned after an export elsewhere: export into that directory"
        )
    if _hash_at(view, at.seq, base) != at.digest:
        raise ExportError(f"the export in {root} ends at record {at.seq}, which is not this log's record {at.seq}")


class _Files:
    """The log files of one run: a new one per 5-minute period, region, or MAX_RECORDS_PER_FILE records."""

    def __init__(self, root: Path, account: str) -> None:
        self.root, self.account = root, account
        self.current: ct.LogFile | None = None
        self.current_key: tuple[float, str] | None = None
        self.entries: list[dict[str, Any]] = []

    def add(self, seq: int, previous: bytes, body: bytes, digest: bytes, when: float, region: str) -> None:
        key = (when - when % ct.PERIOD_SECONDS, region)
        if self.current is None or key != self.current_key or self.current.count >= ct.MAX_RECORDS_PER_FILE:
            self.close()
            self.current = ct.LogFile(self.root, ct.log_object(self.account, region, key[0], seq), seq, previous)
            self.current_key = key
        self.current.add(body, digest, when)

    def close(self) -> None:
        if self.current is not None:
            self.entries.append(self.current.finish())
            self.current = None

    def abandon(self) -> None:
        if self.current is not None:
            self.current.abandon()


def export(
    archive: Archive,
    root: Path,
    signer: rsa.RSAPrivateKey,
    key: bytes,
    chain_id: bytes,
    account: str,
    until: float | None,
) -> tuple[Exported, Continuation]:
    """Export the records after the export's end up to `until` (or all), then write and sign their digest."""
    public = signer.public_key()
    previous_digest = continuation(root, public, chain_id)
    with archive.snapshot(chain_id) as view:  # records committed meanwhile wait for the next run
        base = _base(view, key, chain_id)
        _check_continues(view, previous_digest.last, base, root)
        files, at = _Files(root, account), previous_digest.last
        try:
            at = _write_records(view, files, at, until)
            files.close()
        except BaseException:
            files.abandon()
            raise
    if not files.entries:
        return Exported(0, 0, at, None, None), previous_digest
    for directory in {(root / e["s3Object"]).parent for e in files.entries}:
        ct.sync_dir(directory)
    digest = _write_digest(root, signer, chain_id, account, previous_digest, files.entries, at)
    records = at.seq - previous_digest.last.seq
    return Exported(records, len(files.entries), at, digest.digest_object, None), digest


def _write_records(view: View, files: _Files, at: Position, until: float | None) -> Position:
    for seq, when, body, digest in view.records_after(at.seq):
        if until is not None and isinstance(when, float | int) and when > until:
            break
        if (
            seq != at.seq + 1
            or not isinstance(body, bytes)
            or not isinstance(digest, bytes)
            or not isinstance(when, float | int)
            or link(at.digest, body) != digest
        ):
            raise ExportError(f"record {seq} does not verify; run `trent audit verify` (nothing was exported)")
        try:
            record = orjson.loads(body)
            region = str(record.get("awsRegion") or "global")
        except (orjson.JSONDecodeError, AttributeError):
            raise ExportError(f"record {seq} is not a CloudTrail record; run `trent audit verify`") from None
        files.add(at.seq + 1, at.digest, body, digest, float(when), region)
        at = Position(at.seq + 1, digest)
    return at


def _write_digest(
    root: Path,
    signer: rsa.RSAPrivateKey,
    chain_id: bytes,
    account: str,
    previous: Continuation,
    entries: list[dict[str, Any]],
    last: Position,
) -> Continuation:
    public = signer.public_key()
    fp = ct.fingerprint(public)
    key_file = root / ct.PUBLIC_KEYS / f"{fp}.pem"
    if not key_file.exists():
        ct.durable_write(key_file, ct.public_pem(public))
    end = max(float(int(time.time())), previous.end_time + 1)  # names are unique and ordered by end time
    region = entries[0]["s3Object"].split("/")[3]
    relative = ct.digest_object(account, region, end)
    first = entries[0]
    digest: dict[str, Any] = {
        "awsAccountId": account,
        "digestStartTime": ct.iso(previous.end_time) if previous.digest_object else first["oldestEventTime"],
        "digestEndTime": ct.iso(end),
        "digestS3Bucket": ct.BUCKET,
        "digestS3Object": relative,
        "digestPublicKeyFingerprint": fp,
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": max(e["newestEventTime"] for e in entries),
        "oldestEventTime": min(e["oldestEventTime"] for e in entries),
        "previousDigestS3Bucket": ct.BUCKET if previous.digest_object else None,
        "previousDigestS3Object": previous.digest_object,
        "previousDigestHashValue": previous.digest_sha256,
        "previousDigestHashAlgorithm": "SHA-256" if previous.digest_object else None,
        "previousDigestSignature": previous.signature,
        "logFiles": entries,
        "trentChainId": chain_id.hex(),
        "trentFirstSequence": first["trentFirstSequence"],
        "trentPreviousHash": first["trentPreviousHash"],
        "trentLastSequence": last.seq,
        "trentLastHash": last.digest.hex(),
    }
    inflated = orjson.dumps(digest)
    signature = ct.sign(signer, ct.signing_string(digest, inflated))
    path = root / relative
    ct.durable_write(Path(str(path) + ct.SIGNATURE_SUFFIX), signature.encode())  # before the digest names it
    ct.durable_write(path, gzip.compress(inflated, mtime=0))
    return Continuation(last, relative, hashlib.sha256(inflated).hexdigest(), signature, end)


def prune(archive: Archive, through: Position, key: bytes, chain_id: bytes) -> int:
    """Delete the records up to `through` (an export's verified end) and store the base, atomically."""

    def allowed(view: View) -> bool:
        base = _base(view, key, chain_id)
        if through.seq <= base.seq:
            return False
        if _hash_at(view, through.seq, base) != through.digest:
            raise ExportError(f"the export's record {through.seq} is not this log's: nothing was pruned")
        return True

    return archive.prune(through.seq, seal(BASE, key, chain_id, through), allowed, chain_id)
