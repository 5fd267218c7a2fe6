"""Token buckets in one memory-mapped file, shared by every process of a server. Stdlib only.

`trent serve` answers with several worker processes, and the kernel spreads connections over them, not
requests: one client's connection stays on one worker. A rate divided among the workers would throttle that
client at a fraction of the rate, and one shared by none would let N workers grant N times it; so every worker
maps the same file and takes its tokens under an exclusive flock (a few microseconds a request).

Memory is bounded whatever callers send: the table has a fixed number of slots; a key hashes to a run of
PROBE slots, and when none of them is free or its own, the least recently used of them is taken over. A
bucket left alone for as long as it takes to refill is full, so taking it over forgets nothing; only a table
with more than `slots` keys in use within that time forgets a partly drawn bucket, which then starts full.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

MAGIC = b"TRENTBKT"
VERSION = 1
SLOTS = 16_384  # x 32 bytes: 512 KiB
PROBE = 8
_HEADER = struct.Struct("<8sII")  # magic, version, slots
_SLOT = struct.Struct("<16sdd")  # key digest (all zero: free), tokens, time of the last take (monotonic seconds)
_FREE = bytes(16)


class BucketFileError(OSError):
    """The buckets file is not one this version wrote."""


class SharedBuckets:
    """Token buckets keyed by bytes. `take(key, rate, burst)`: one token from the key's bucket, which holds at
    most `burst` tokens and gains `rate` a second; False when it has less than one. A new bucket starts full.

    Made once by the server (`create`) before its workers start, then `open`ed by each worker. The clock is
    CLOCK_MONOTONIC, the same in every process of the machine."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # flock excludes other processes; this, other threads of this one
        self._fd = os.open(path, os.O_RDWR)
        try:
            size = os.fstat(self._fd).st_size
            if size < _HEADER.size:
                raise BucketFileError(f"{path} is not a buckets file")
            self._map = mmap.mmap(self._fd, size)
            magic, version, slots = _HEADER.unpack_from(self._map, 0)
            if magic != MAGIC or version != VERSION or size != _HEADER.size + slots * _SLOT.size or slots < PROBE:
                raise BucketFileError(f"{path} is not a buckets file of this version")
        except BaseException:
            os.close(self._fd)
            raise
        self._slots = slots

    @classmethod
    def create(cls, path: Path, slots: int = SLOTS, clock: Callable[[], float] = time.monotonic) -> SharedBuckets:
        """A new, empty table at `path` (mode 0600), replacing any there."""
        temporary = path.with_name(path.name + ".new")
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, _HEADER.size + slots * _SLOT.size)  # zeros: every slot free
            os.pwrite(fd, _HEADER.pack(MAGIC, VERSION, slots), 0)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        return cls(path, clock)

    def take(self, key: bytes, rate: float, burst: float) -> bool:
        if not (rate > 0 and math.isfinite(rate) and burst >= 1):
            raise ValueError("a bucket needs a positive rate and room for one token")
        digest = hashlib.blake2b(key, digest_size=16).digest()
        first = int.from_bytes(digest[:8], "little") % self._slots
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                return self._take(digest, first, rate, burst)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _take(self, digest: bytes, first: int, rate: float, burst: float) -> bool:
        now = self._clock()
        chosen, tokens, last = -1, burst, now  # a bucket taken over (or a free slot) starts full
        oldest = math.inf
        for step in range(PROBE):
            offset = _HEADER.size + ((first + step) % self._slots) * _SLOT.size
            owner, held, stamp = _SLOT.unpack_from(self._map, offset)
            if owner == digest:
                chosen, tokens, last = offset, held, stamp
                break
            if owner == _FREE:  # slots are never freed: the key's own cannot come after a free one
                chosen = offset
                break
            if stamp < oldest:
                chosen, oldest = offset, stamp
        tokens = min(burst, tokens + max(0.0, now - last) * rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        _SLOT.pack_into(self._map, chosen, digest, tokens, now)
        return allowed

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)

    def __repr__(self) -> str:
        return f"SharedBuckets(slots={self._slots})"
