"""The chain's authenticated state kept outside audit.db, so that deleting, replacing or rolling back the
whole audit database is detected. Formats (never change once shipped; docs/decisions/0008-audit-retention.md):

  identity   = b"TAI1" || chain id (16 bytes) || wrapped audit key        (created with the chain)
  position   = b"TAP1" || chain id || seq (8 bytes big-endian) || hash (32) || mac (32)
               mac = HMAC-SHA-256(audit key, b"trent-audit-<kind>-v1" || chain id || seq || hash)

A position of kind "checkpoint" is the head the writer saw, saved in the store database every few seconds;
one of kind "base" is the last record pruned from audit.db (where verification of what remains starts).
The store is untrusted storage: the MAC, made with the audit key that only the root of trust unwraps,
is what makes either one unforgeable.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from trent.audit.chain import GENESIS

log = logging.getLogger("trent.audit")

CHAIN_ID_BYTES = 16
_IDENTITY = b"TAI1"
_POSITION = b"TAP1"
_SEQ = struct.Struct(">Q")
_POSITION_BYTES = len(_POSITION) + CHAIN_ID_BYTES + _SEQ.size + 32 + 32
CHECKPOINT, BASE = "checkpoint", "base"


class AnchorError(ValueError):
    """A stored identity or position is malformed, belongs to another chain, or fails its MAC."""


@dataclass(frozen=True, slots=True)
class Position:
    """A place in the chain: record `seq` (0 for the genesis) and its hash."""

    seq: int
    digest: bytes


ORIGIN = Position(0, GENESIS)


@dataclass(frozen=True, slots=True)
class Identity:
    chain_id: bytes
    wrapped_key: bytes

    def to_bytes(self) -> bytes:
        return _IDENTITY + self.chain_id + self.wrapped_key

    @classmethod
    def from_bytes(cls, data: bytes) -> Identity:
        if not data.startswith(_IDENTITY) or len(data) <= len(_IDENTITY) + CHAIN_ID_BYTES:
            raise AnchorError("the audit chain identity in the store is malformed")
        at = len(_IDENTITY)
        return cls(data[at : at + CHAIN_ID_BYTES], data[at + CHAIN_ID_BYTES :])


def _mac(kind: str, key: bytes, chain_id: bytes, seq: int, digest: bytes) -> bytes:
    label = f"trent-audit-{kind}-v1".encode()
    return hmac.new(key, label + chain_id + _SEQ.pack(seq) + digest, hashlib.sha256).digest()


def seal(kind: str, key: bytes, chain_id: bytes, position: Position) -> bytes:
    mac = _mac(kind, key, chain_id, position.seq, position.digest)
    return _POSITION + chain_id + _SEQ.pack(position.seq) + position.digest + mac


def unseal(kind: str, key: bytes, chain_id: bytes, data: bytes) -> Position:
    """The position `data` vouches for; AnchorError if it is malformed, of another chain, or forged."""
    if len(data) != _POSITION_BYTES or not data.startswith(_POSITION):
        raise AnchorError(f"the {kind} is malformed")
    at = len(_POSITION)
    owner = data[at : at + CHAIN_ID_BYTES]
    (seq,) = _SEQ.unpack_from(data, at + CHAIN_ID_BYTES)
    digest = data[at + CHAIN_ID_BYTES + _SEQ.size : -32]
    if owner != chain_id:
        raise AnchorError(f"the {kind} belongs to chain {owner.hex()}, not {chain_id.hex()}")
    if not hmac.compare_digest(_mac(kind, key, chain_id, seq, digest), data[-32:]):
        raise AnchorError(f"the {kind}'s MAC is invalid: it was edited or forged")
    return Position(seq, digest)


def later(old: bytes | None, new: bytes) -> bytes | None:
    """`new` if it is further along than `old` (or of another chain), else None: a checkpoint never moves back,
    whichever of two writers saves last."""
    if old is None or len(old) != _POSITION_BYTES or old[: -(_SEQ.size + 64)] != new[: -(_SEQ.size + 64)]:
        return new
    at = len(_POSITION) + CHAIN_ID_BYTES
    return new if _SEQ.unpack_from(new, at)[0] > _SEQ.unpack_from(old, at)[0] else None


class Checkpointer:
    """Saves the chain's head outside audit.db at most every `interval` seconds of commits, on the first commit,
    and on close: one extra fsync per interval, none on a request's path. A failure to save is logged, never
    fails a request (the records themselves are durable)."""

    def __init__(
        self,
        key: bytes,
        chain_id: bytes,
        save: Callable[[bytes], None],
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key, self._chain_id, self._save, self._interval, self._clock = key, chain_id, save, interval, clock
        self._head: Position | None = None
        self._saved: Position | None = None
        self._saved_at = float("-inf")

    def __repr__(self) -> str:
        return "Checkpointer()"

    def committed(self, seq: int, digest: bytes) -> None:
        self._head = Position(seq, digest)
        if self._clock() - self._saved_at >= self._interval:
            self.flush()

    def tick(self) -> None:
        """No commit for a while: save the last head if its interval has passed."""
        if self._clock() - self._saved_at >= self._interval:
            self.flush()

    def flush(self) -> None:
        head = self._head
        if head is None or head == self._saved:
            return
        self._saved_at = self._clock()
        try:
            self._save(seal(CHECKPOINT, self._key, self._chain_id, head))
        except Exception as exc:  # the store is busy or read-only: the next interval tries again
            log.error("could not save the audit checkpoint: %s", exc)
            return
        self._saved = head
