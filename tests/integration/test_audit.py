"""The audit trail of a real server: one CloudTrail record per request, `trent audit verify` and `query`, and
GetKeyLastUsage answered from the record."""

from __future__ import annotations

import json
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
