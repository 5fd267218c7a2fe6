"""The audit trail of a real server: one CloudTrail record per request, `trent audit verify` and `query`, and
GetKeyLastUsage answered from the record."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ACCOUNT, TrentServer, kms_client, trent_command


def _audit(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*trent_command(), "audit", *args, "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60
    )


def _records(data_dir: Path, *filters: str) -> list[dict[str, Any]]:
    done = _audit(data_dir, "query", *filters)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_one_record_per_request_and_verification(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir) as server:
        kms = server.client()
        key = kms.create_key()["KeyMetadata"]
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"audited", EncryptionContext={"who": "me"})
        kms.decrypt(CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"who": "me"})
        failures = 0
        for call in (
            lambda: kms.decrypt(CiphertextBlob=blob["CiphertextBlob"]),  # wrong context
            lambda: kms.describe_key(KeyId="alias/none"),  # not found
            lambda: kms_client(server.endpoint, secret="x" * 40).list_keys(),  # bad signature
            lambda: kms_client(server.endpoint, access_key="AKIANOBODYNOBODY0000").list_keys(),  # unknown key
        ):
            with pytest.raises(ClientError):
                call()
            failures += 1
        usage = kms.get_key_last_usage(KeyId=key["KeyId"])
    requests = 3 + failures + 1
    records = _records(data_dir)
    assert len(records) == requests
    assert [r["eventName"] for r in records] == [
        "CreateKey",
        "Encrypt",
        "Decrypt",
        "Decrypt",
        "DescribeKey",
        "ListKeys",
        "ListKeys",
        "GetKeyLastUsage",
    ]
    assert [r.get("errorCode") for r in records][3:7] == [
        "InvalidCiphertextException",
        "NotFoundException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
    ]
    assert records[1]["requestID"] == blob["ResponseMetadata"]["RequestId"]
    # GetKeyLastUsage answers from the audit record: the Decrypt that succeeded last.
    last = usage["KeyLastUsage"]
    assert last["Operation"] == "Decrypt" and last["CloudTrailEventId"] == records[2]["eventID"]
    assert last["KmsRequestId"] == records[2]["requestID"]
    assert usage["KeyCreationDate"] == key["CreationDate"] and "TrackingStartDate" in usage
    assert all("audited" not in json.dumps(r) for r in records)
    done = _audit(data_dir, "verify")
    assert done.returncode == 0 and f"intact: {requests} record(s)" in done.stdout
    by_key = _records(data_dir, "--key", key["KeyId"])
    assert {r["eventName"] for r in by_key} == {"CreateKey", "Encrypt", "Decrypt", "GetKeyLastUsage"}
    assert len(_records(data_dir, "--event-name", "Decrypt", "--error", "*")) == 1
    assert len(_records(data_dir, "--principal", f"arn:aws:iam::{ACCOUNT}:root", "--limit", "2")) == 2
    # Tampering is found and located.
    with sqlite3.connect(data_dir / "audit.db") as db:
        body = bytes(db.execute("SELECT body FROM events WHERE seq = 3").fetchone()[0])
        db.execute("UPDATE events SET body = ? WHERE seq = 3", (body.replace(b'"Decrypt"', b'"Encrypt"'),))
        db.execute("DELETE FROM events WHERE seq = 8")
    done = _audit(data_dir, "verify")
    assert done.returncode == 1
    assert "record 3: modified" in done.stdout and "record 8: truncated" in done.stdout


def _some_requests(server: TrentServer, count: int) -> None:
    kms = server.client()
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(count - 1):
        kms.encrypt(KeyId=key, Plaintext=b"x")


def test_deleting_replacing_or_rolling_back_audit_db_is_detected(tmp_path: Path) -> None:
    data_dir, other_dir = tmp_path / "data", tmp_path / "other"
    with TrentServer(data_dir) as server:
        _some_requests(server, 5)
    older = tmp_path / "older.db"
    shutil.copy(data_dir / "audit.db", older)
    with TrentServer(data_dir) as server:
        _some_requests(server, 5)
    with TrentServer(other_dir) as server:
        _some_requests(server, 3)
    assert _audit(data_dir, "verify").returncode == 0

    shutil.copy(older, data_dir / "audit.db")  # the whole file rolled back: it verifies on its own
    done = _audit(data_dir, "verify")
    assert done.returncode == 1 and "record 6: truncated: the log ends at record 5, below the checkpoint" in done.stdout

    shutil.copy(other_dir / "audit.db", data_dir / "audit.db")  # another server's log
    done = _audit(data_dir, "verify")
    assert done.returncode == 1 and "replaced: the audit database is of chain" in done.stdout

    (data_dir / "audit.db").unlink()
    done = _audit(data_dir, "verify")
    assert done.returncode == 1 and "the audit database" in done.stdout and "is missing" in done.stdout
    assert "Traceback" not in done.stderr
    # And the server refuses to start a new chain in its place (fail closed: no request without its trail).
    refused = subprocess.run(
        [*trent_command(), "serve", "--data-dir", str(data_dir), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "is missing or empty" in refused.stderr
    assert not (data_dir / "audit.db").exists()


def test_verify_and_query_a_read_only_copy(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir) as server:
        _some_requests(server, 4)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(data_dir / "audit.db", copy / "audit.db")
    os.chmod(copy, 0o500)
    try:
        done = _audit(data_dir, "verify", "--audit-path", str(copy / "audit.db"))
        assert done.returncode == 0 and "intact: 4 record(s)" in done.stdout, done.stderr
        done = _audit(data_dir, "query", "--audit-path", str(copy / "audit.db"), "--event-name", "Encrypt")
        assert done.returncode == 0 and len(done.stdout.splitlines()) == 3
    finally:
        os.chmod(copy, 0o700)
    assert sorted(p.name for p in copy.iterdir()) == ["audit.db"]


def test_export_verify_exported_and_prune(tmp_path: Path) -> None:
    data_dir, out = tmp_path / "data", tmp_path / "export"
    missing = _audit(data_dir, "export", "--to", str(out))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "no directory" in missing.stderr
    out.mkdir()
    with TrentServer(data_dir) as server:
        _some_requests(server, 6)
        done = _audit(data_dir, "export", "--to", str(out), "--prune")  # while the server runs
        assert done.returncode == 0, done.stderr
        assert "exported records 1-6" in done.stdout and "pruned through record 6" in done.stdout
        _some_requests(server, 3)
    assert _audit(data_dir, "export", "--to", str(out)).returncode == 0
    again = _audit(data_dir, "export", "--to", str(out))
    assert "nothing to export" in again.stdout
    done = _audit(data_dir, "verify")
    assert done.returncode == 0 and "records 7-9" in done.stdout and "pruned after export" in done.stdout
    done = _audit(data_dir, "verify", "--exported", str(out))
    assert done.returncode == 0 and "export intact: 9 record(s)" in done.stdout and "2 digest(s)" in done.stdout
    assert "live audit log continues it" in done.stdout
    assert len(_records(data_dir)) == 3  # the pruned records are in the export only
    (log_file,) = [p for p in out.rglob("*_CloudTrail_*.json.gz") if "0000000000000001" in p.name]
    log_file.write_bytes(log_file.read_bytes()[:-1])
    done = _audit(data_dir, "verify", "--exported", str(out))
    assert done.returncode == 1 and "its SHA-256 is not the digest's" in done.stdout
    nowhere = _audit(data_dir, "verify", "--exported", str(tmp_path / "nowhere"))
    assert nowhere.returncode == 1 and "no export directory" in nowhere.stderr and "Traceback" not in nowhere.stderr
