"""GetKeyLastUsage in-process: the log writing in this process records each use in the store, which answers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.unit.protocol.test_front import NOW, Harness, b64
from trent.app import StoreKeyUses
from trent.audit.sqlite import SqliteAuditLog
from trent.audit.uses import LastUses
from trent.auth.principals import Authenticator
from trent.kms.principals import DEFAULT_ACCOUNT, root_arn
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.ops.principals import create_access_key
from trent.protocol.awsjson.front import AwsJsonFront
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore


@pytest.fixture
def harness() -> Iterator[Harness]:
    store = SqliteStore(":memory:")
    root = SoftwareRoot({"rk-test": os.urandom(32)}, "rk-test")
    audit = SqliteAuditLog(":memory:", os.urandom(32), uses=LastUses(StoreKeyUses(store)))
    deps = Deps(store=store, root_of_trust=root, keyring=Keyring(root), audit=audit, clock=lambda: NOW)
    record, secret = create_access_key(deps, DEFAULT_ACCOUNT, root_arn(DEFAULT_ACCOUNT))
    front = AwsJsonFront(deps, Authenticator(store, root), clock=lambda: NOW)
    yield Harness(front, record.access_key_id, secret.reveal().decode())
    audit.close()
    store.close()


def test_get_key_last_usage_reports_the_latest_successful_use(harness: Harness) -> None:
    _, created = harness.call("CreateKey", {})
    key_id = created["KeyMetadata"]["KeyId"]
    status, usage = harness.call("GetKeyLastUsage", {"KeyId": key_id})
    assert status == 200 and "KeyLastUsage" not in usage and "TrackingStartDate" in usage
    _, blob = harness.call("Encrypt", {"KeyId": key_id, "Plaintext": b64(b"x")})
    harness.call("Decrypt", {"CiphertextBlob": blob["CiphertextBlob"]})
    status, _ = harness.call("Decrypt", {"CiphertextBlob": blob["CiphertextBlob"], "EncryptionContext": {"a": "b"}})
    assert status == 400  # a failed use is not a use
    status, usage = harness.call("GetKeyLastUsage", {"KeyId": key_id})
    assert status == 200
    last = usage["KeyLastUsage"]
    assert last["Operation"] == "Decrypt" and last["Timestamp"] == NOW.timestamp()
    assert last["CloudTrailEventId"] and last["KmsRequestId"]
    assert usage["KeyCreationDate"] == created["KeyMetadata"]["CreationDate"]
