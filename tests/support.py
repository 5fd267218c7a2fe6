"""Test support: run a real `trent serve` process and talk to it with boto3."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ACCOUNT = "111122223333"
REGION = "us-east-1"
_ENDPOINT = re.compile(r"listening on (https?://\S+)")


def trent_command() -> list[str]:
    return [sys.executable, "-m", "trent"]


@dataclass
class TrentServer:
    data_dir: Path | None  # None: no --data-dir (a dev server's temporary one)
    workers: int = 2
    env: Mapping[str, str] = field(default_factory=dict)
    admin_from_env: bool = True
    port: int = 0
    args: tuple[str, ...] = ()  # more `trent serve` flags
    process: subprocess.Popen[str] | None = None
    endpoint: str = ""
    output: list[str] = field(default_factory=list)

    def start(self, timeout: float = 60) -> TrentServer:
        admin = {"TRENT_ADMIN_ACCESS_KEY_ID": ACCESS_KEY_ID, "TRENT_ADMIN_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRENT_")},
            **(admin if self.admin_from_env else {}),
            "TRENT_LOG_LEVEL": "warning",
            **self.env,
        }
        self.output = []
        self.process = subprocess.Popen(
            [*trent_command(), "serve", "--workers", str(self.workers), *self.args]
            + ([] if self.data_dir is None else ["--data-dir", str(self.data_dir)])
            + ([] if "TRENT_PORT" in self.env else ["--port", str(self.port)]),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        found = threading.Event()

        def pump() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                m = _ENDPOINT.search(line)
                if m and not found.is_set():
                    self.endpoint = m.group(1)
                    found.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("trent serve did not start:\n" + "".join(self.output))
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self._pump.join(timeout=5)
            self.process.stdout.close()
        self.process = None

    def client(
        self,
        *,
        access_key: str = ACCESS_KEY_ID,
        secret: str = SECRET_ACCESS_KEY,
        region: str = REGION,
        validate: bool = True,
    ) -> Any:
        return kms_client(self.endpoint, access_key=access_key, secret=secret, region=region, validate=validate)

    def __enter__(self) -> TrentServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kms_client(
    endpoint: str,
    *,
    access_key: str = ACCESS_KEY_ID,
    secret: str = SECRET_ACCESS_KEY,
    region: str = REGION,
    validate: bool = True,
) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}, parameter_validation=validate, read_timeout=120),
    )


def error_of(excinfo: Any) -> tuple[str, str]:
    """(code, message) of a botocore ClientError, normalised as botocore parses them."""
    err = excinfo.value.response["Error"]
    return err.get("Code", ""), err.get("Message", "")


def iter_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


def http(
    endpoint: str, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """One plain HTTP request to a server (the /_trent/ endpoints, a hand-made API request): (status, body)."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(endpoint)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def dev_call(endpoint: str, method: str, path: str, document: object = None) -> tuple[int, Any]:
    """A dev server's /_trent/ endpoint: (status, its JSON answer, or None when it is not JSON)."""
    import json

    status, body = http(endpoint, method, path, b"" if document is None else json.dumps(document).encode())
    return status, (json.loads(body) if body.startswith(b"{") else None)
