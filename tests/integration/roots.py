"""Helpers of the root-of-trust integration tests: `trent` commands, and every root-wrapped blob a SQLite store
holds, read straight from its file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.support import trent_command
from trent.rootoftrust.base import WrappedMaterial

# Blobs of the store's blob table whose value is (or holds) a root-wrapped value, and where it starts.
IDENTITY_PREFIX = len(b"TAI1") + 16  # audit/anchor.py: magic, chain id, then the wrapped audit key


def trent(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")} | dict(env or {})
    return subprocess.run([*trent_command(), *args], capture_output=True, text=True, timeout=timeout, env=environ)


def ok(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> str:
    done = trent(*args, env=env, timeout=timeout)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single `Error: ...` line of a command that failed as an operator error (exit 1, no traceback)."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def wrapped_blobs(database: Path) -> dict[str, WrappedMaterial]:
    """Every root-wrapped value of a SQLite store: key material versions, access key secrets, the audit key in
    the chain's identity, the export key and the root check value; named for messages."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        found: dict[str, bytes] = {}
        for key_id, version, wrapped in conn.execute("SELECT key_id, version, wrapped FROM key_material"):
            found[f"material {key_id} v{version}"] = bytes(wrapped)
        for access_key_id, wrapped in conn.execute("SELECT access_key_id, wrapped_secret FROM access_keys"):
            found[f"secret {access_key_id}"] = bytes(wrapped)
        for name, value in conn.execute("SELECT name, value FROM blobs"):
            if name == "audit.chain":
                found[name] = bytes(value)[IDENTITY_PREFIX:]
            elif name in ("root-check", "audit.export-key"):
                found[name] = bytes(value)
    finally:
        conn.close()
    return {name: WrappedMaterial.from_bytes(blob) for name, blob in found.items()}


def root_key_ids(database: Path) -> dict[str, set[str]]:
    """Which root key ids the store's blobs name, and under which algorithm: {algorithm: {root key ids}}."""
    named: dict[str, set[str]] = {}
    for wrapped in wrapped_blobs(database).values():
        named.setdefault(wrapped.algorithm, set()).add(wrapped.root_key_id)
    return named
