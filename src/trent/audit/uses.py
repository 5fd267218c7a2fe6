"""Each key's latest successful use, gathered from what a writer chained and handed to the store.

Kept off the chain's transaction and off the response path: a writer publishes after it has released the
batch's requests (the writer process, once its acknowledgements are sent). A use is advisory (GetKeyLastUsage),
so a failure to publish is logged and retried with the next batch, never failing a request; uses waiting
are one per key, so what waits is bounded by the number of keys.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from trent.audit.port import KeyUses
from trent.audit.rows import Row, Use, latest_uses

log = logging.getLogger("trent.audit")


class LastUses:
    """`every`: publish at most that often (seconds; the writer's idle turns and its exit publish what waits).
    A PostgreSQL store pays a round trip per publish: there, a few per second is plenty."""

    def __init__(self, sink: KeyUses, every: float = 0.0) -> None:
        self._sink = sink
        self._waiting: dict[str, Use] = {}
        self._every = every
        self._last = -every

    def __repr__(self) -> str:
        return f"LastUses({len(self._waiting)} waiting)"

    def chained(self, rows: Sequence[Row]) -> None:
        """Note the uses among rows now durable in the chain."""
        for key_arn, use in latest_uses(rows).items():
            known = self._waiting.get(key_arn)
            if known is None or use.when >= known.when:
                self._waiting[key_arn] = use

    def publish(self, *, now: bool = False) -> None:
        """Hand the uses noted to the store (`now`: whenever the last time was); on failure keep them."""
        if not self._waiting:
            return
        if not now and time.monotonic() - self._last < self._every:
            return
        self._last = time.monotonic()
        try:
            self._sink.record(list(self._waiting.values()))
        except Exception as exc:  # the store is busy or read-only: GetKeyLastUsage lags until the next try
            log.error("could not record the latest use of %d key(s): %s", len(self._waiting), exc)
            return
        self._waiting = {}
