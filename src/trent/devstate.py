"""What a dev server's processes share beyond the store: the test clock's offset and the reset generation.

`trent serve --dev` makes the file (`dev.state` in the data directory) at start; every worker and the supervisor
memory-map it, so reading either value is a memory read, no system call. A change (POST /_trent/clock, a
reset) is made under an flock of the file, so two at once do not lose one. Stdlib only (docs/dev-mode.md).

- offset: seconds the test clock runs ahead of the real one (a float, never negative);
- generation: counts resets; a process that sees it change drops what it cached of the state before.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

_LAYOUT = struct.Struct("<dQ")  # offset seconds, reset generation
FILE_NAME = "dev.state"


class DevState:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(self._fd, _LAYOUT.size)
        except BaseException:
            os.close(self._fd)
            raise

    def __repr__(self) -> str:
        offset, generation = self._read()
        return f"DevState(offset={offset:g}s, generation={generation})"

    @classmethod
    def create(cls, path: Path) -> DevState:
        """A fresh file: the clock at real time, no reset yet."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, _LAYOUT.pack(0.0, 0))
        finally:
            os.close(fd)
        return cls(path)

    def _read(self) -> tuple[float, int]:
        offset, generation = _LAYOUT.unpack_from(self._map)
        return float(offset), int(generation)

    @property
    def offset(self) -> float:
        return self._read()[0]

    @property
    def generation(self) -> int:
        return self._read()[1]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def advance(self, seconds: float) -> float:
        """Move the test clock forward by `seconds` (not negative); the new offset."""
        if not seconds >= 0:
            raise ValueError("the test clock only moves forward")
        with self._locked():
            offset, generation = self._read()
            offset += seconds
            _LAYOUT.pack_into(self._map, 0, offset, generation)
        return offset

    def reset(self) -> int:
        """The clock back at real time and a new generation; the new generation."""
        with self._locked():
            _offset, generation = self._read()
            _LAYOUT.pack_into(self._map, 0, 0.0, generation + 1)
        return generation + 1

    def clock(self) -> Callable[[], datetime]:
        """The test clock: the real time plus the offset, read at each call."""

        def now() -> datetime:
            return datetime.now(UTC) + timedelta(seconds=self._read()[0])

        return now

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)
