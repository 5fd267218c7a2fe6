"""The store adapters the contract suite runs on: every test taking `store` (or `open_store`) runs once per entry
of ADAPTERS.

An adapter joins with one entry: a context manager that makes a new, empty database for one test (under
`tmp_path` or wherever it keeps databases), yields an opener of handles to it (each handle what one process
would hold: its own connection where the adapter has connections) and removes the database afterwards. The
fixture closes every handle it opened, once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from trent.store.base import Store
from trent.store.memory import MemoryStore
from trent.store.sqlite import SqliteStore

Opener = Callable[[], Store]


@contextmanager
def _memory(tmp_path: Path) -> Iterator[Opener]:
    shared = MemoryStore()  # one process's store: every handle is the same one
    yield lambda: shared


@contextmanager
def _sqlite_file(tmp_path: Path) -> Iterator[Opener]:
    yield lambda: SqliteStore(tmp_path / "store.db")


@contextmanager
def _sqlite_memory(tmp_path: Path) -> Iterator[Opener]:
    shared = SqliteStore(":memory:")  # a private database: no second connection can open it
    yield lambda: shared


# One entry per adapter. PostgreSQL joins as `"postgresql": _postgresql`: a context manager that creates a
# database of its own for the test, yields `lambda: PostgresStore(dsn)` (each call a new handle with its own
# connection, as another worker or node would hold) and drops the database when the test ends.
ADAPTERS: dict[str, Callable[[Path], AbstractContextManager[Opener]]] = {
    "memory": _memory,
    "sqlite-file": _sqlite_file,
    "sqlite-memory": _sqlite_memory,
}


@pytest.fixture(params=list(ADAPTERS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens handles to one fresh database of the adapter: a second handle is how another process sees it."""
    opened: list[Store] = []

    with ADAPTERS[request.param](tmp_path) as opener:

        def open_handle() -> Store:
            handle = opener()
            if all(handle is not seen for seen in opened):
                opened.append(handle)
            return handle

        try:
            yield open_handle
        finally:
            for handle in opened:
                handle.close()


@pytest.fixture
def store(open_store: Opener) -> Store:
    return open_store()
