"""The audit hash chain: canonical event bytes, chaining, the authenticated head, and verification.

This format must never change once shipped (readers verify logs written by every earlier version):
  body_i  = JSON of the CloudTrail record, keys sorted, no whitespace, UTF-8 (orjson OPT_SORT_KEYS)
  hash_0  = 32 zero bytes;  hash_i = SHA-256(hash_{i-1} || body_i)          for seq i = 1, 2, ...
  head    = (seq, hash) of the last record, authenticated by
            mac = HMAC-SHA-256(audit key, b"trent-audit-head-v1" || seq as 8 bytes big-endian || hash)
The audit key is wrapped by the root of trust, so no one without it can forge a head: a truncated,
edited or reordered log cannot be made to verify again.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = bytes(32)
_HEAD_LABEL = b"trent-audit-head-v1"


def canonical(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def link(previous: bytes, body: bytes) -> bytes:
    return hashlib.sha256(previous + body).digest()


def head_mac(audit_key: bytes, seq: int, digest: bytes) -> bytes:
    return hmac.new(audit_key, _HEAD_LABEL + seq.to_bytes(8, "big") + digest, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class StoredRecord:
    seq: int
    body: bytes
    digest: bytes


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    kind: str  # "modified", "missing", "reordered", "truncated", "head"
    detail: str

    def __str__(self) -> str:
        return f"record {self.seq}: {self.kind}: {self.detail}"


def _predecessor(body: bytes, digest: bytes, candidates: dict[bytes, int]) -> int | None:
    """The seq of the record this one really follows (0 for the genesis), if it chains from any record."""
    if link(GENESIS, body) == digest:
        return 0
    for candidate, seq in candidates.items():
        if link(candidate, body) == digest:
            return seq
    return None


def verify(
    records: Iterable[StoredRecord], head: tuple[int, bytes, bytes] | None, audit_key: bytes
) -> tuple[int, list[Problem]]:
    """Walk the chain in storage order; return how many records were read and every problem, located by seq.

    A record whose hash does not follow from its predecessor is "reordered" if it does follow from some
    other record of the log (it was moved), else "modified". A gap in the numbering is "missing"; a head
    beyond the last record is "truncated"; a head whose MAC fails was edited or forged.
    """
    stored = list(records)
    by_digest = {r.digest: r.seq for r in stored}
    problems: list[Problem] = []
    previous, expected = GENESIS, 1
    for record in stored:
        if record.seq > expected:
            gap = f"{expected}" if record.seq == expected + 1 else f"{expected}-{record.seq - 1}"
            problems.append(Problem(expected, "missing", f"record(s) {gap} are not in the log"))
        if link(previous, record.body) != record.digest:
            follows = _predecessor(record.body, record.digest, by_digest)
            if follows is None:
                problems.append(Problem(record.seq, "modified", "its hash does not match its contents"))
            else:
                problems.append(Problem(record.seq, "reordered", f"it was written right after record {follows}"))
        previous, expected = record.digest, record.seq + 1
    last_seq, last_digest = (stored[-1].seq, stored[-1].digest) if stored else (0, GENESIS)
    if head is None:
        if stored:
            problems.append(Problem(last_seq, "head", "the log has records but no head"))
        return len(stored), problems
    head_seq, head_digest, mac = head
    if not hmac.compare_digest(head_mac(audit_key, head_seq, head_digest), mac):
        problems.append(Problem(head_seq, "head", "the head's MAC is invalid: the head was edited or forged"))
    elif head_seq > last_seq:
        problems.append(
            Problem(last_seq + 1, "truncated", f"the head says {head_seq} records; the log ends at {last_seq}")
        )
    elif head_seq < last_seq or head_digest != last_digest:
        problems.append(Problem(head_seq, "head", "records follow the last one the head vouches for"))
    return len(stored), problems
