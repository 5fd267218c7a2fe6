"""One audit event per request, in-process through the front: allowed, denied, failed, unauthenticated; the
event never holds secrets; and when the event cannot be written the request fails closed."""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.unit.protocol.test_front import NOW, Harness
from trent.audit.sqlite import SqliteAuditLog
from trent.auth.principals import Authenticator
from trent.kms.principals import DEFAULT_ACCOUNT, root_arn
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.ops.principals import create_access_key
from trent.protocol.awsjson.front import AwsJsonFront
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[tuple[Harness, Path]]:
    store = SqliteStore(":memory:")
    root = SoftwareRoot({"rk-test": os.urandom(32)}, "rk-test")
    audit = SqliteAuditLog(tmp_path / "audit.db", os.urandom(32))
    deps = Deps(store=store, root_of_trust=root, keyring=Keyring(root), audit=audit, clock=lambda: NOW)
    record, secret = create_access_key(deps, DEFAULT_ACCOUNT, root_arn(DEFAULT_ACCOUNT))
    front = AwsJsonFront(deps, Authenticator(store, root), clock=lambda: NOW)
    yield Harness(front, record.access_key_id, secret.reveal().decode()), tmp_path / "audit.db"
    audit.close()
    store.close()


def _events(path: Path) -> list[dict[str, object]]:
    with sqlite3.connect(path) as conn:
        return [orjson.loads(body) for (body,) in conn.execute("SELECT body FROM events ORDER BY seq")]


def test_every_request_yields_exactly_one_event(audited: tuple[Harness, Path]) -> None:
    harness, path = audited
    secret = b"PLAINTEXT-THAT-MUST-NEVER-BE-LOGGED"
    _, created = harness.call("CreateKey", {"Description": "audited"})
    key_id = created["KeyMetadata"]["KeyId"]
    _, encrypted = harness.call(
        "Encrypt", {"KeyId": key_id, "Plaintext": base64.b64encode(secret).decode(), "EncryptionContext": {"a": "b"}}
    )
    harness.call("Decrypt", {"CiphertextBlob": encrypted["CiphertextBlob"], "EncryptionContext": {"a": "b"}})
    harness.call("Decrypt", {"CiphertextBlob": encrypted["CiphertextBlob"]})  # wrong context: fails
    harness.call("DescribeKey", {})  # validation error
    harness.send(harness.request("TrentService.ListKeys", {}, sign=False))  # unauthenticated
    harness.send(harness.request("TrentService.ListKeys", {}, secret="wrong-secret-wrong-secret"))  # bad signature
    harness.call("NoSuchOperation", {})
    events = _events(path)
    assert [e["eventName"] for e in events] == [
        "CreateKey",
        "Encrypt",
        "Decrypt",
        "Decrypt",
        "DescribeKey",
        "ListKeys",
        "ListKeys",
        "NoSuchOperation",
    ]
    assert [e.get("errorCode") for e in events] == [
        None,
        None,
        None,
        "InvalidCiphertextException",
        "ValidationException",
        "MissingAuthenticationTokenException",
        "InvalidSignatureException",
        "UnknownOperationException",
    ]
    arn = created["KeyMetadata"]["Arn"]
    encrypt = events[1]
    assert encrypt["eventSource"] == "kms.amazonaws.com" and encrypt["eventVersion"] == "1.08"
    assert encrypt["requestParameters"] == {"keyId": key_id, "encryptionContext": {"a": "b"}}
    assert encrypt["resources"] == [{"accountId": DEFAULT_ACCOUNT, "type": "AWS::KMS::Key", "ARN": arn}]
    assert encrypt["userIdentity"]["arn"] == root_arn(DEFAULT_ACCOUNT)  # type: ignore[index]
    assert encrypt["readOnly"] is True and encrypt["recipientAccountId"] == DEFAULT_ACCOUNT
    assert events[0]["responseElements"]["keyMetadata"]["arn"] == arn  # type: ignore[index]
    assert events[5]["userIdentity"] == {"type": "Unknown"}
    assert events[6]["userIdentity"]["accessKeyId"] == harness.access_key_id  # type: ignore[index]
    raw = path.read_bytes() + Path(f"{path}-wal").read_bytes() if Path(f"{path}-wal").exists() else path.read_bytes()
    for needle in (secret, base64.b64encode(secret), encrypted["CiphertextBlob"].encode()):
        assert needle not in raw


def test_a_request_whose_event_cannot_be_written_fails_closed(audited: tuple[Harness, Path]) -> None:
    harness, path = audited
    _, created = harness.call("CreateKey", {})
    secret = b"NOT TO BE RETURNED WITHOUT AN AUDIT RECORD"
    _, encrypted = harness.call(
        "Encrypt", {"KeyId": created["KeyMetadata"]["KeyId"], "Plaintext": base64.b64encode(secret).decode()}
    )
    with sqlite3.connect(path) as conn:  # the audit log breaks under the running server
        conn.execute("DROP TABLE events")
    response = harness.send(harness.request("TrentService.Decrypt", {"CiphertextBlob": encrypted["CiphertextBlob"]}))
    assert response.status == 500
    assert orjson.loads(response.body) == {"__type": "KMSInternalException"}
    assert base64.b64encode(secret) not in response.body and secret not in response.body
