"""A change and its audit record become durable together or not at all (decision 0009), in-process through
the front and in the background jobs: the record commits in the store's outbox with the change, the chain
holds it once, a change whose record cannot be committed does not stay, and reads journal nothing."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.unit.protocol.test_front import NOW, Harness, b64
from trent.app import StoreOutbox
from trent.audit import writer
from trent.audit.rows import unpack_row
from trent.audit.sqlite import ChainWriter, SqliteAuditLog
from trent.auth.principals import Authenticator
from trent.kms.ids import AliasName, Region
from trent.kms.principals import DEFAULT_ACCOUNT, Principal, root_arn
from trent.ops import keys
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.ops.principals import create_access_key
from trent.protocol.awsjson.front import AwsJsonFront
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore

AUDIT_KEY = os.urandom(32)


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.store_path, self.audit_path = tmp_path / "trent.db", tmp_path / "audit.db"
        self.store = SqliteStore(self.store_path)
        root = SoftwareRoot({"rk-test": os.urandom(32)}, "rk-test")
        self.audit = SqliteAuditLog(self.audit_path, AUDIT_KEY)
        self.clock = NOW
        self.deps = Deps(self.store, root, Keyring(root), self.audit, clock=lambda: self.clock)
        record, secret = create_access_key(self.deps, DEFAULT_ACCOUNT, root_arn(DEFAULT_ACCOUNT))
        front = AwsJsonFront(self.deps, Authenticator(self.store, root), clock=lambda: NOW)
        self.harness = Harness(front, record.access_key_id, secret.reveal().decode())

    def chained(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.audit_path) as conn:
            return [orjson.loads(body) for (body,) in conn.execute("SELECT body FROM events ORDER BY seq")]

    def break_store_outbox(self) -> None:
        """The outbox refuses every row, as a full disk would refuse the commit."""
        with sqlite3.connect(self.store_path) as conn:
            conn.execute(
                "CREATE TRIGGER no_room BEFORE INSERT ON audit_outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )

    def break_chain(self) -> None:
        with sqlite3.connect(self.audit_path) as conn:
            conn.execute("DROP TABLE events")

    def close(self) -> None:
        self.audit.close()
        self.store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


def test_a_change_commits_with_its_record_which_is_chained_once(world: World) -> None:
    status, created = world.harness.call("CreateKey", {"Description": "journaled"})
    assert status == 200
    ((event_id, row),) = world.store.outbox(10)
    (record,) = world.chained()
    assert record["eventName"] == "CreateKey" and record["eventID"] == event_id
    assert orjson.loads(unpack_row(row)[3]) == record  # the outbox holds the very record that was chained
    chain = ChainWriter(world.audit_path, AUDIT_KEY)
    try:
        assert writer.drain(chain, StoreOutbox(world.store)) == 1  # the writer's drain: seen, not chained again
    finally:
        chain.close()
    assert world.store.outbox(10) == ()
    assert [r["eventID"] for r in world.chained()] == [event_id]
    assert created["KeyMetadata"]["KeyId"] == record["responseElements"]["keyMetadata"]["keyId"]


def test_no_change_stays_when_its_record_cannot_be_committed(world: World) -> None:
    _, created = world.harness.call("CreateKey", {})
    key_id = created["KeyMetadata"]["KeyId"]
    world.break_store_outbox()
    status, error = world.harness.call("CreateKey", {})
    assert (status, error) == (500, {"__type": "KMSInternalException"})
    status, _ = world.harness.call("CreateAlias", {"AliasName": "alias/never", "TargetKeyId": key_id})
    assert status == 500
    status, _ = world.harness.call("TagResource", {"KeyId": key_id, "Tags": [{"TagKey": "t", "TagValue": "v"}]})
    assert status == 500
    assert [k["KeyId"] for k in world.harness.call("ListKeys", {})[1]["Keys"]] == [key_id]
    assert world.harness.call("ListAliases", {})[1]["Aliases"] == []
    assert world.harness.call("ListResourceTags", {"KeyId": key_id})[1]["Tags"] == []
    failed = [(r["eventName"], r.get("errorCode")) for r in world.chained()][1:4]
    assert failed == [(name, "KMSInternalException") for name in ("CreateKey", "CreateAlias", "TagResource")]


def test_a_change_is_answered_once_journaled_even_if_the_chain_is_broken(world: World) -> None:
    _, created = world.harness.call("CreateKey", {})
    key_id = created["KeyMetadata"]["KeyId"]
    world.break_chain()
    status, _ = world.harness.call("CreateAlias", {"AliasName": "alias/kept", "TargetKeyId": key_id})
    assert status == 200  # its record is durable in the outbox: a 500 would invite a second attempt
    assert world.store.get_alias(DEFAULT_ACCOUNT, Region("us-east-1"), AliasName("alias/kept")) is not None
    records = [orjson.loads(unpack_row(row)[3]) for _, row in world.store.outbox(10)]
    assert [r["eventName"] for r in records] == ["CreateKey", "CreateAlias"]
    status, _ = world.harness.call("Encrypt", {"KeyId": key_id, "Plaintext": b64(b"x")})
    assert status == 500  # a read's record has no outbox: without the chain, it fails closed


def test_reads_failures_and_no_op_changes_journal_nothing(world: World) -> None:
    _, created = world.harness.call("CreateKey", {})
    key_id = created["KeyMetadata"]["KeyId"]
    world.harness.call("Encrypt", {"KeyId": key_id, "Plaintext": b64(b"x")})
    world.harness.call("DescribeKey", {"KeyId": key_id})
    assert world.harness.call("CreateAlias", {"AliasName": "alias/a", "TargetKeyId": "alias/none"})[0] == 400
    assert world.harness.call("EnableKey", {"KeyId": key_id})[0] == 200  # enabled already: nothing changed
    assert len(world.store.outbox(10)) == 1
    assert [r["eventName"] for r in world.chained()] == [
        "CreateKey",
        "Encrypt",
        "DescribeKey",
        "CreateAlias",
        "EnableKey",
    ]


def _ctx() -> RequestContext:
    principal = Principal(DEFAULT_ACCOUNT, root_arn(DEFAULT_ACCOUNT), "AKIAEXAMPLE")
    return RequestContext(principal, Region("us-east-1"), "req-1")


def test_a_background_deletion_commits_with_its_record_even_if_the_chain_is_broken(world: World) -> None:
    key_id = keys.create_key(world.deps, _ctx()).key_metadata.key_id
    keys.schedule_key_deletion(world.deps, _ctx(), key_id=key_id, pending_window_in_days=7)
    world.break_chain()
    world.clock = NOW + timedelta(days=8)
    assert keys.delete_due_keys(world.deps) == 1  # does not raise: the record waits in the outbox
    assert world.store.get_key(key_id) is None
    records = [orjson.loads(unpack_row(row)[3]) for _, row in world.store.outbox(10)]
    assert [(r["eventName"], r["userIdentity"]["type"]) for r in records] == [("DeleteKey", "AWSService")]


def test_a_background_deletion_whose_record_cannot_be_committed_does_not_happen(world: World) -> None:
    key_id = keys.create_key(world.deps, _ctx()).key_metadata.key_id
    keys.schedule_key_deletion(world.deps, _ctx(), key_id=key_id, pending_window_in_days=7)
    world.break_store_outbox()
    world.clock = NOW + timedelta(days=8)
    with pytest.raises(sqlite3.IntegrityError):
        keys.delete_due_keys(world.deps)
    assert world.store.get_key(key_id) is not None
