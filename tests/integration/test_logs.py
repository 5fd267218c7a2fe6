"""Logs: one structured JSON line per request with no secret in it, and processes that `ps` tells apart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ACCESS_KEY_ID, SECRET_ACCESS_KEY, TrentServer

pytestmark = pytest.mark.integration

PLAINTEXT = b"plaintext-that-must-never-be-logged"


def _access_lines(server: TrentServer) -> list[dict[str, Any]]:
    lines = []
    for line in server.output:
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "trent.access":
                lines.append(record)
    return lines


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(c) for c in children]
    return found + [g for c in found for g in _children(c)]


def test_one_json_line_per_request_without_secrets(tmp_path: Path) -> None:
    with TrentServer(tmp_path / "data", workers=1, env={"TRENT_LOG_LEVEL": "info"}) as server:
        kms = server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT
        with pytest.raises(ClientError):
            kms.describe_key(KeyId="alias/nothing-here")
        with pytest.raises(ClientError):
            server.client(secret="wrong-secret").list_keys()
        deadline = time.monotonic() + 10
        while len(_access_lines(server)) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        output = "".join(server.output)
    lines = _access_lines(server)
    assert [line["operation"] for line in lines] == ["CreateKey", "Encrypt", "Decrypt", "DescribeKey", "ListKeys"]
    create, encrypt, _, describe, denied = lines
    assert create["outcome"] == "ok" and create["error_code"] is None
    assert create["principal"] == "arn:aws:iam::111122223333:root"
    assert create["access_key_id"] == ACCESS_KEY_ID
    assert encrypt["key"].endswith(f":key/{key_id}")
    assert describe["outcome"] == "error" and describe["error_code"] == "NotFoundException"
    assert denied["error_code"] == "InvalidSignatureException" and denied["principal"] == ""
    for line in lines:
        assert len(line["request_id"]) >= 32 and line["latency_ms"] >= 0
        assert {"time", "level", "process"} <= line.keys()
        assert line["process"] == "worker 1"
    # Nothing secret anywhere in the server's output: no plaintext (raw or base64), no secret access key.
    assert PLAINTEXT.decode() not in output
    assert SECRET_ACCESS_KEY not in output
    assert "cGxhaW50ZXh0LXRoYXQt" not in output  # base64 of the plaintext's head


def test_processes_are_named(tmp_path: Path) -> None:
    with TrentServer(tmp_path / "data", workers=2) as server:
        assert server.process is not None
        pids = _children(server.process.pid)
        titles = sorted(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode() for pid in pids)
        supervisor = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    assert supervisor == "trent: supervisor"
    assert [t for t in titles if t.startswith("trent: ")] == [
        "trent: audit writer",
        "trent: worker 1",
        "trent: worker 2",
    ]
