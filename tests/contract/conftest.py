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
from trent.store.postgres import PostgresStore
from trent.store.sqlite import SqliteStore

Opener = Callable[[], Store]


@contextmanager
def _memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    shared = MemoryStore()  # one process's store: every handle is the same one
    yield lambda: shared


@contextmanager
def _sqlite_file(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    yield lambda: SqliteStore(tmp_path / "store.db")


@contextmanager
def _sqlite_memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    shared = SqliteStore(":memory:")  # a private database: no second connection can open it
    yield lambda: shared


@contextmanager
def _postgresql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    # A database of its own for the test (tests/conftest.py's postgres_url, dropped when the test ends); each
    # handle its own connection, as another worker or node would hold.
    url = request.getfixturevalue("postgres_url")
    yield lambda: PostgresStore(url)


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], AbstractContextManager[Opener]]] = {
    "memory": _memory,
    "sqlite-file": _sqlite_file,
    "sqlite-memory": _sqlite_memory,
    "postgresql": _postgresql,
}


@pytest.fixture(params=list(ADAPTERS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens handles to one fresh database of the adapter: a second handle is how another process sees it."""
    opened: list[Store] = []

    with ADAPTERS[request.param](request, tmp_path) as opener:

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
