"""A test suite written for moto and LocalStack (tests/foreign_suite: FOOBARKEY and test/test credentials,
us-east-1, the endpoint in AWS_ENDPOINT_URL) runs unchanged against `trent serve --dev`; and against moto's
server too, which shows it is such a suite and not one fitted to Trent."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import TrentServer

pytestmark = pytest.mark.integration
SUITE = Path(__file__).resolve().parents[1] / "foreign_suite"


def run_suite(endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TRENT_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SUITE)],
        env={**env, "AWS_ENDPOINT_URL": endpoint, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        cwd=SUITE,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_the_suite_runs_unchanged_against_trent_dev() -> None:
    with TrentServer(None, workers=1, args=("--dev",), admin_from_env=False) as dev:
        done = run_suite(dev.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b10 passed\b", done.stdout), done.stdout


def test_the_suite_passes_on_moto_too(moto_endpoint: str) -> None:
    done = run_suite(moto_endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
