"""In-memory store: the reference adapter of the store port, for the contract suite and fast tests.

The state is a set of tables (dicts of frozen records) that is never changed once committed: a transaction
works on a copy and publishes it whole when it ends normally, so a read takes no lock and always sees one
commit, whole. One lock serializes writers (as SQLite's BEGIN IMMEDIATE does), held from a transaction's
start, or a unit's first transaction, to its end. Reads from the thread inside a transaction or a begun unit
see its uncommitted writes, as reads on SQLite's one connection do; other threads see the last commit.
A transaction block inside a unit keeps a copy of the tables from its start, to undo only itself.

Nothing is durable: a MemoryStore forgets everything when it is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING

from trent.store.base import DuplicateError, KeyUse, Store, Transaction, Unit
from trent.store.memory_tables import MemoryTransaction, Reads, Tables, Work


class _MemoryUnit:
    """A unit's state: its working tables once its first transaction began, and their change count then."""

    __slots__ = ("work", "_start")

    def __init__(self) -> None:
        self.work: Work | None = None
        self._start = 0

    def begin(self, work: Work) -> None:
        self.work = work
        self._start = work.tables.changes

    def wrote(self) -> bool:
        return self.work is not None and self.work.tables.changes != self._start

    def journal(self, event_id: str, row: bytes) -> None:
        if self.work is None or not self.wrote():
            raise RuntimeError("a unit that changed nothing has nothing to journal")
        t = self.work.tables
        if event_id in t.outbox:
            raise DuplicateError(event_id)
        t.outbox[event_id] = bytes(row)
        t.changes += 1


class MemoryStore(Reads):
    def __init__(self) -> None:
        self._lock = threading.Lock()  # held by the one writer: a transaction, or a unit once it began
        self._committed = Tables()  # replaced whole at each commit, never changed in place
        self._blobs: dict[str, bytes] = {}
        self._uses: dict[str, KeyUse] = {}
        self._tracking_since = datetime.now(UTC)
        self._local = threading.local()  # this thread's working tables and unit, if any

    def _work(self) -> Work | None:
        work: Work | None = getattr(self._local, "work", None)
        return work

    def _current_unit(self) -> _MemoryUnit | None:
        unit: _MemoryUnit | None = getattr(self._local, "unit", None)
        return unit

    def _view(self) -> Tables:
        work = self._work()
        return self._committed if work is None else work.tables

    def transaction(self) -> AbstractContextManager[Transaction]:
        unit = self._current_unit()
        return self._alone() if unit is None else self._step(unit)

    @contextmanager
    def _alone(self) -> Iterator[Transaction]:
        if self._work() is not None:
            raise RuntimeError("transactions do not nest")
        with self._lock:
            work = self._local.work = Work(self._committed.copy())
            try:
                yield MemoryTransaction(work)
            finally:
                self._local.work = None
            self._committed = work.tables

    @contextmanager
    def _step(self, unit: _MemoryUnit) -> Iterator[Transaction]:
        """A transaction inside a unit: takes the lock if it is the unit's first; undoes only itself if it raises."""
        if unit.work is None:
            self._lock.acquire()
            unit.begin(Work(self._committed.copy()))
            self._local.work = unit.work
        assert unit.work is not None
        saved = unit.work.tables.copy()
        try:
            yield MemoryTransaction(unit.work)
        except BaseException:
            unit.work.tables = saved
            raise

    @contextmanager
    def unit(self) -> Iterator[Unit]:
        if self._current_unit() is not None:
            raise RuntimeError("units do not nest")
        if self._work() is not None:
            raise RuntimeError("a unit does not begin inside a transaction")
        unit = self._local.unit = _MemoryUnit()
        try:
            yield unit
            if unit.work is not None:
                self._committed = unit.work.tables
        finally:
            self._local.unit = None
            if unit.work is not None:
                self._local.work = None
                self._lock.release()

    def outbox(self, limit: int) -> tuple[tuple[str, bytes], ...]:
        return tuple(islice(self._view().outbox.items(), limit))

    def get_blob(self, name: str) -> bytes | None:
        return self._blobs.get(name)

    def update_blob(self, name: str, change: Callable[[bytes | None], bytes | None]) -> bytes | None:
        if self._work() is not None:
            raise RuntimeError("a blob is updated in a transaction of its own")
        with self._lock:
            old = self._blobs.get(name)
            new = change(old)
            if new is not None and new != old:
                self._blobs[name] = bytes(new)
        return old if new is None else new

    def record_key_uses(self, uses: Sequence[KeyUse]) -> None:
        if self._work() is not None or self._current_unit() is not None:
            raise RuntimeError("key uses are recorded outside any transaction")
        with self._lock:
            for use in uses:
                kept = self._uses.get(use.key_arn)
                if kept is None or use.when >= kept.when:
                    self._uses[use.key_arn] = use

    def key_last_use(self, key_arn: str) -> KeyUse | None:
        return self._uses.get(key_arn)

    def key_use_tracking_start(self) -> datetime | None:
        return self._tracking_since

    def close(self) -> None:
        """Nothing to release: the tables go when the store does."""


if TYPE_CHECKING:  # mypy proves the adapter is a whole Store (nothing in src/ hands one to a Store parameter)

    def _is_a_store(store: MemoryStore) -> Store:
        return store
