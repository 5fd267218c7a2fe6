"""Trent's pytest plugin: a dev KMS for a test suite, with nothing to set up (docs/dev-mode.md).

Registered through the `pytest11` entry point, so installing trent-kms is enough. Fixtures:

- `trent_server` (session): one `trent serve --dev` on a free port, started on first use, stopped at the end;
- `kms_endpoint` (session): its URL;
- `trent_reset`: puts the server back to its start state (empty, then the seed file if any);
- `kms_client`: a boto3 KMS client for it, after a `trent_reset`: each test starts from the same state.

Options (command line, or the ini setting of the same name without the dashes): `--trent-seed FILE` (passed
to `trent serve --seed`), `--trent-account` (the account the client acts in, default 111122223333),
`--trent-region` (default us-east-1), `--trent-endpoint URL` (use a dev server that is already running instead
of starting one).

Nothing is imported or started until a fixture is used: a suite that uses none pays nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DEFAULT_ACCOUNT = "111122223333"
DEFAULT_REGION = "us-east-1"
START_TIMEOUT = 60.0
_ENDPOINT = re.compile(r"listening on (https?://\S+)")
_OPTIONS = (
    ("seed", "a seed file for the dev server (trent serve --seed FILE), applied at start and at every reset"),
    ("account", f"the account the kms_client fixture acts in (12 digits; default {DEFAULT_ACCOUNT})"),
    ("region", f"the region of the kms_client fixture (default {DEFAULT_REGION})"),
    ("endpoint", "the URL of a running `trent serve --dev` to use instead of starting one"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trent", "Trent, a dev KMS server for the suite")
    for name, text in _OPTIONS:
        group.addoption(f"--trent-{name}", dest=f"trent_{name}", default=None, help=text)
        parser.addini(f"trent_{name}", text, default="")


def _setting(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(f"trent_{name}")
    if value:
        return str(value)
    from_ini = str(config.getini(f"trent_{name}") or "")
    if from_ini and name == "seed" and config.inipath is not None and not Path(from_ini).is_absolute():
        return str(config.inipath.parent / from_ini)  # relative to the ini file, as pytest's paths are
    return from_ini or None


def _post(url: str, body: bytes) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP endpoint: {url}")
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 (checked above)
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        document: dict[str, Any] = json.loads(answer.read())
        return document


@dataclass
class TrentDevServer:
    """A running dev server: its endpoint, the account and region clients use; the process if we started it."""

    endpoint: str
    account: str = DEFAULT_ACCOUNT
    region: str = DEFAULT_REGION
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log: Path | None = None

    def reset(self) -> dict[str, Any]:
        """POST /_trent/reset: the start state again (milliseconds)."""
        return _post(self.endpoint + "/_trent/reset", b"")

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """POST /_trent/clock: the server's clock `seconds` further (deletion windows, rotation, expiry)."""
        return _post(self.endpoint + "/_trent/clock", json.dumps({"advance_seconds": seconds}).encode())

    def client(self, service: str = "kms", **kwargs: Any) -> Any:
        """A boto3 client for the server: any credentials work; the access key id names the account."""
        import boto3

        kwargs.setdefault("region_name", self.region)
        kwargs.setdefault("aws_access_key_id", self.account)  # 12 digits: that account (docs/dev-mode.md)
        kwargs.setdefault("aws_secret_access_key", "test")
        return boto3.client(service, endpoint_url=self.endpoint, **kwargs)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
        if self.log is not None:
            self.log.unlink(missing_ok=True)


def start_dev_server(
    seed: str | None = None, account: str = DEFAULT_ACCOUNT, region: str = DEFAULT_REGION, workers: int = 1
) -> TrentDevServer:
    """`trent serve --dev` on a free port, in a temporary data directory it removes when it stops."""
    log = Path(tempfile.mkstemp(prefix="trent-dev-", suffix=".log")[1])
    command = [sys.executable, "-m", "trent", "serve", "--dev", "--port", "0", "--workers", str(workers)]
    command += ["--account-id", account] + (["--seed", seed] if seed else [])
    env = {"TRENT_LOG_LEVEL": "warning", **os.environ}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = TrentDevServer("", account, region, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        found = _ENDPOINT.search(log.read_text(errors="replace"))
        if found is not None:
            server.endpoint = found.group(1)
            return server
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("trent serve --dev did not start:\n" + log.read_text(errors="replace"))
        time.sleep(0.02)


@pytest.fixture(scope="session")
def trent_server(pytestconfig: pytest.Config) -> Iterator[TrentDevServer]:
    """One dev server for the test session (or the one --trent-endpoint names), stopped at the end."""
    account = _setting(pytestconfig, "account") or DEFAULT_ACCOUNT
    region = _setting(pytestconfig, "region") or DEFAULT_REGION
    endpoint = _setting(pytestconfig, "endpoint")
    if endpoint is not None:
        yield TrentDevServer(endpoint.rstrip("/"), account, region)
        return
    server = start_dev_server(_setting(pytestconfig, "seed"), account, region)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kms_endpoint(trent_server: TrentDevServer) -> str:
    return trent_server.endpoint


@pytest.fixture
def trent_reset(trent_server: TrentDevServer) -> TrentDevServer:
    """The server back at its start state before the test (make it autouse with
    `pytestmark = pytest.mark.usefixtures("trent_reset")` or in a conftest)."""
    trent_server.reset()
    return trent_server


@pytest.fixture
def kms_client(trent_reset: TrentDevServer) -> Any:
    """A boto3 KMS client on a freshly reset server."""
    return trent_reset.client()
