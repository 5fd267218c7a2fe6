from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import postgres
from tests.support import TrentServer

ROOT = Path(__file__).parent


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    """One real `trent serve` (2 workers) shared by the integration and e2e tests."""
    with TrentServer(tmp_path_factory.mktemp("trent-data")) as running:
        yield running


@pytest.fixture
def kms(server: TrentServer) -> Any:
    return server.client()


@pytest.fixture
def raw_kms(server: TrentServer) -> Any:
    """A client that skips botocore's own parameter validation, so bad input reaches the server."""
    return server.client(validate=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The PostgreSQL server of this test session (tests/postgres.py): never a skip when there is none."""
    with contextlib.ExitStack() as stack:
        try:
            conninfo = stack.enter_context(postgres.server())
        except postgres.NoPostgresError as exc:
            missing = str(exc)
        else:
            yield conninfo
            return
    pytest.fail(missing, pytrace=False)  # outside the except: the message alone, no chained traceback


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database of its own for one test (a libpq conninfo), dropped after it."""
    with postgres.fresh_database(postgres_server) as conninfo:
        yield conninfo


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the folder it lives in: unit, contract, integration or e2e."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT).parts
        if parts and parts[0] in ("unit", "contract", "integration", "e2e"):
            item.add_marker(parts[0])
