"""The audit hash chain: canonical event bytes, chaining, the authenticated head, and verification.

This format must never change once shipped (readers verify logs written by every earlier version):
  body_i  = JSON of the CloudTrail record, keys sorted, no whitespace, UTF-8 (orjson OPT_SORT_KEYS)
  hash_0  = 32 zero bytes;  hash_i = SHA-256(hash_{i-1} || body_i)          for seq i = 1, 2, ...
  head    = (seq, hash) of the last record, authenticated by
            mac = HMAC-SHA-256(audit key, b"trent-audit-head-v1" || seq as 8 bytes big-endian || hash)
The audit key is wrapped by the root of trust, so no one without it can forge a head: a truncated,
edited or reordered log cannot be made to verify again. The chain's identity and a checkpoint of its head
live outside audit.db (audit/anchor.py); verification is audit/verify.py.
"""

from __future__ import annotations

import hashlib
import hmac
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
