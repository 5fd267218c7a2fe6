from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import postgres, softhsm
from tests.keystores import Clusters, serving_clusters
from tests.support import TrentServer

ROOT = Path(__file__).parent
# A suite written for moto and LocalStack, run in a pytest of its own by integration/test_foreign_suite.py.
collect_ignore = ["foreign_suite"]


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


def _softhsm_token(directory: Path) -> softhsm.Token:
    try:
        return softhsm.make_token(directory)
    except softhsm.NoSoftHsmError as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)  # never a skip: CI installs softhsm2 (.ci/run)


@pytest.fixture
def softhsm_token(tmp_path: Path) -> softhsm.Token:
    """A new SoftHSM2 token of one test (tests/softhsm.py): its own directory and SOFTHSM2_CONF."""
    return _softhsm_token(tmp_path / "softhsm")


@pytest.fixture
def token_in_process(softhsm_token: softhsm.Token, monkeypatch: pytest.MonkeyPatch) -> softhsm.Token:
    """The test's token, reachable from this process: SOFTHSM2_CONF set for the test's PKCS#11 initialisations."""
    monkeypatch.setenv("SOFTHSM2_CONF", str(softhsm_token.conf))
    return softhsm_token


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clusters]:
    """Of each custom key store test module: a `trent serve` and SoftHSM2 tokens as clusters (tests/keystores.py)."""
    yield from serving_clusters(tmp_path_factory)


@pytest.fixture(scope="session")
def pkcs11_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    """One real `trent serve` (2 workers) whose root of trust is a SoftHSM2 token, shared like `server`."""
    token = _softhsm_token(tmp_path_factory.mktemp("softhsm"))
    with TrentServer(tmp_path_factory.mktemp("trent-data-pkcs11"), env=token.server_env()) as running:
        yield running


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
