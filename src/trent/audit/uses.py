"""Each key's latest successful use, gathered from what a writer chained and handed to the store.

Kept off the chain's transaction and off the response path: a writer publishes after it has released the
batch's requests (the writer process, once its acknowledgements are sent). A use is advisory (GetKeyLastUsage),
so a failure to publish is logged and retried with the next batch, never failing a request; uses waiting
are one per key, so what waits is bounded by the number of keys.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from trent.audit.port import KeyUses
from trent.audit.rows import Row, Use, latest_uses

log = logging.getLogger("trent.audit")


class LastUses:
    def __init__(self, sink: KeyUses) -> None:
        self._sink = sink
        self._waiting: dict[str, Use] = {}

    def __repr__(self) -> str:
        return f"LastUses({len(self._waiting)} waiting)"

    def chained(self, rows: Sequence[Row]) -> None:
        """Note the uses among rows now durable in the chain."""
        for key_arn, use in latest_uses(rows).items():
            known = self._waiting.get(key_arn)
            if known is None or use.when >= known.when:
                self._waiting[key_arn] = use

    def publish(self) -> None:
        """Hand the uses noted to the store; on failure keep them for the next call."""
        if not self._waiting:
            return
        try:
            self._sink.record(list(self._waiting.values()))
        except Exception as exc:  # the store is busy or read-only: GetKeyLastUsage lags until the next try
            log.error("could not record the latest use of %d key(s): %s", len(self._waiting), exc)
            return
        self._waiting = {}
