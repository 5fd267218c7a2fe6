"""A dev server's own endpoints (docs/dev-mode.md), siblings of the AWS JSON front in the route table, present
only in dev mode (elsewhere /_trent/* is a 404 like any unknown path):

- `POST /_trent/reset`: the server back to its start state (empty, then the seed), for every worker;
- `GET /_trent/clock`: the test clock, `{"offset_seconds": ..., "now": ...}`;
- `POST /_trent/clock` with `{"advance_seconds": N}`: the test clock N seconds further for every process; the
  background jobs (deletion windows, rotation, imported material's ValidTo) run at once on the moved clock.

Answers are JSON; a bad body is a 400 whose `message` says why. No credentials: a dev server has none.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from trent.devstate import DevState
from trent.protocol.probes import Plain

log = logging.getLogger("trent.dev")
RESET = "/_trent/reset"
CLOCK = "/_trent/clock"
_JSON = (("content-type", "application/json"),)
MAX_ADVANCE = 100 * 366 * 86400.0  # a century: far past every window KMS has, short of datetime's end


def _answer(status: int, document: dict[str, Any]) -> Plain:
    return Plain(status, _JSON, orjson.dumps(document) + b"\n")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class DevTools:
    def __init__(
        self,
        state: DevState,
        reset: Callable[[], None],
        run_jobs: Callable[[], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._state = state
        self._reset = reset
        self._run_jobs = run_jobs
        self._clock = clock

    def __repr__(self) -> str:
        return f"DevTools({self._state!r})"

    def reset(self, _request: object) -> Plain:
        started = time.perf_counter()
        try:
            self._reset()
        except Exception:
            log.exception("reset failed")
            return _answer(500, {"message": "the reset failed; see the server's log"})
        elapsed = (time.perf_counter() - started) * 1000
        log.info("reset to the start state in %.1f ms", elapsed)
        return _answer(200, {"reset": True, "milliseconds": round(elapsed, 3)})

    def clock(self, _request: object) -> Plain:
        return self._clock_answer()

    def advance(self, request: Any) -> Plain:
        try:
            document = orjson.loads(request.body or b"{}")
        except orjson.JSONDecodeError:
            return _answer(400, {"message": 'the body is not JSON: send {"advance_seconds": N}'})
        seconds = document.get("advance_seconds") if isinstance(document, dict) else None
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not math.isfinite(seconds)
            or not 0 <= seconds <= MAX_ADVANCE - self._state.offset
        ):
            return _answer(
                400,
                {
                    "message": f"advance_seconds must be a number from 0 to {MAX_ADVANCE:.0f} in all (the clock only "
                    "moves forward; a reset brings it back)"
                },
            )
        self._state.advance(float(seconds))
        try:
            self._run_jobs()
        except Exception:
            log.exception("background jobs failed after the clock moved")
        return self._clock_answer()

    def _clock_answer(self) -> Plain:
        return _answer(200, {"offset_seconds": self._state.offset, "now": _iso(self._clock())})
