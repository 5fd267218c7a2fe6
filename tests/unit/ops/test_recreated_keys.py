"""Two workers over one SQLite database: a key id made again is never served from a worker's caches of the
record before it. A multi-Region replica deleted and replicated again with a policy that denies Encrypt is
denied by a worker that cached the old replica's policy (an authorization bypass otherwise); after a dev
reset, a worker serves the seeded key as it is now, not as it was before the reset."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trent.audit.sqlite import SqliteAuditLog
from trent.kms.errors import AccessDeniedException
from trent.kms.ids import AccountId, KeyId, Region
from trent.kms.principals import Principal
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KeyState
from trent.ops import encryption, keys, replication
from trent.ops import principals as principal_ops
from trent.ops import reset as reset_ops
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.ops.seeding import apply_seed
from trent.ops.seeds import parse_seed
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore

ACCOUNT = AccountId("111122223333")
ROOT = Principal(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", "AKIAEXAMPLE")
EAST, WEST = RequestContext(ROOT, Region("us-east-1"), "r-1"), RequestContext(ROOT, Region("us-west-2"), "r-2")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def workers(tmp_path: Path) -> tuple[Deps, Deps, Clock]:
    root, clock = SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1"), Clock()

    def worker() -> Deps:
        store = SqliteStore(tmp_path / "trent.db")
        return Deps(store, root, Keyring(root), SqliteAuditLog(":memory:", os.urandom(32)), clock=clock)

    return worker(), worker(), clock


def _deny_encrypt() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": ROOT.arn}, "Action": "kms:*", "Resource": "*"},
                {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*"},
            ],
        }
    )


def test_a_replica_made_again_is_authorized_by_its_own_policy(workers: tuple[Deps, Deps, Clock]) -> None:
    a, b, clock = workers
    principal_ops.create_account(a, ACCOUNT)
    key_id = keys.create_key(a, EAST, multi_region=True).key_metadata.key_id
    replication.replicate_key(a, EAST, key_id=key_id, replica_region="us-west-2")
    encryption.encrypt(b, WEST, key_id=key_id, plaintext=Sensitive(b"x"))  # b caches the default policy
    keys.schedule_key_deletion(a, WEST, key_id=key_id, pending_window_in_days=7)
    clock.now += timedelta(days=8)
    keys.delete_due_keys(a)
    replication.replicate_key(a, EAST, key_id=key_id, replica_region="us-west-2", policy=_deny_encrypt())
    for worker in (a, b):
        with pytest.raises(AccessDeniedException):
            encryption.encrypt(worker, WEST, key_id=key_id, plaintext=Sensitive(b"x"))


def test_a_replica_made_again_is_read_as_it_is_now(workers: tuple[Deps, Deps, Clock]) -> None:
    a, b, clock = workers
    principal_ops.create_account(a, ACCOUNT)
    key_id = keys.create_key(a, EAST, multi_region=True).key_metadata.key_id
    replication.replicate_key(a, EAST, key_id=key_id, replica_region="us-west-2")
    keys.disable_key(a, WEST, key_id=key_id)
    assert keys.describe_key(b, WEST, key_id=key_id).key_metadata.key_state is KeyState.DISABLED
    keys.schedule_key_deletion(a, WEST, key_id=key_id, pending_window_in_days=7)
    clock.now += timedelta(days=8)
    keys.delete_due_keys(a)
    replication.replicate_key(a, EAST, key_id=key_id, replica_region="us-west-2")
    keys.update_key_description(a, WEST, key_id=key_id, description="again")  # as many changes as b's copy had
    seen = keys.describe_key(b, WEST, key_id=key_id).key_metadata
    assert (seen.key_state, seen.description) == (KeyState.ENABLED, "again")


def test_after_a_reset_another_worker_serves_the_seeded_key_as_it_is_now(workers: tuple[Deps, Deps, Clock]) -> None:
    a, b, _ = workers
    key_id = "11111111-2222-3333-4444-555555555555"
    seed = parse_seed({"keys": [{"key_id": key_id, "description": "seeded"}]})

    def hook(deps: Deps) -> None:
        principal_ops.create_account(deps, ACCOUNT)
        apply_seed(deps, seed, ACCOUNT, chain=False)

    hook(a)
    keys.disable_key(a, EAST, key_id=key_id)
    assert b.store.get_key(KeyId(key_id)).state is KeyState.DISABLED  # type: ignore[union-attr]
    reset_ops.reset(a, hook)
    keys.update_key_description(a, EAST, key_id=key_id, description="after the reset")
    reset_ops.forget_cached(b)  # b sees the reset's new generation
    seen = b.store.get_key(KeyId(key_id))
    assert seen is not None and (seen.state, seen.description) == (KeyState.ENABLED, "after the reset")


def test_forget_cached_drops_the_stores_parsed_records(workers: tuple[Deps, Deps, Clock]) -> None:
    a, _, _ = workers
    principal_ops.create_account(a, ACCOUNT)
    key_id = keys.create_key(a, EAST).key_metadata.key_id
    assert a.store.get_key(KeyId(key_id)) is not None
    assert isinstance(a.store, SqliteStore) and a.store._keys
    reset_ops.forget_cached(a)
    assert not a.store._keys
