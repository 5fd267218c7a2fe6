"""The background jobs with an injected clock: deletion when the window ends, and automatic rotation exactly
once per due date, on a real (in-memory) SQLite store and software root of trust."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from trent.audit.sqlite import SqliteAuditLog
from trent.kms.ids import AccountId, Region
from trent.kms.principals import Principal
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KeyState
from trent.ops import encryption, keys, rotation
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore

START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world() -> tuple[Deps, RequestContext, Clock]:
    root = SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1")
    clock = Clock()
    audit = SqliteAuditLog(":memory:", os.urandom(32))
    deps = Deps(store=SqliteStore(":memory:"), root_of_trust=root, keyring=Keyring(root), audit=audit, clock=clock)
    principal = Principal(AccountId("111122223333"), "arn:aws:iam::111122223333:root", "AKIAEXAMPLE")
    return deps, RequestContext(principal, Region("us-east-1"), "req-1"), clock


def test_rotation_happens_once_per_due_date(world: tuple[Deps, RequestContext, Clock]) -> None:
    deps, ctx, clock = world
    key_id = keys.create_key(deps, ctx).key_metadata.key_id
    first = encryption.encrypt(deps, ctx, key_id=key_id, plaintext=Sensitive(b"a"))
    rotation.enable_key_rotation(deps, ctx, key_id=key_id, rotation_period_in_days=90)
    clock.now = START + timedelta(days=89)
    assert rotation.rotate_due_keys(deps) == 0
    clock.now = START + timedelta(days=90, seconds=1)
    assert rotation.rotate_due_keys(deps) == 1
    assert rotation.rotate_due_keys(deps) == 0  # same due date, run again: nothing
    key = deps.store.get_key(key_id)
    assert key is not None and key.current_version == 2
    assert key.next_rotation_date == START + timedelta(days=180)
    clock.now = START + timedelta(days=400)  # the server slept through three due dates
    assert rotation.rotate_due_keys(deps) == 1
    key = deps.store.get_key(key_id)
    assert key is not None and key.current_version == 3 and key.next_rotation_date == START + timedelta(days=450)
    assert encryption.decrypt(deps, ctx, ciphertext_blob=first.ciphertext_blob).plaintext.reveal() == b"a"
    kinds = [m.rotation_type for m in deps.store.list_materials(key_id)]
    assert kinds == [None, "AUTOMATIC", "AUTOMATIC"]


def test_disabled_keys_wait_to_rotate(world: tuple[Deps, RequestContext, Clock]) -> None:
    deps, ctx, clock = world
    key_id = keys.create_key(deps, ctx).key_metadata.key_id
    rotation.enable_key_rotation(deps, ctx, key_id=key_id, rotation_period_in_days=90)
    keys.disable_key(deps, ctx, key_id=key_id)
    clock.now = START + timedelta(days=91)
    assert rotation.rotate_due_keys(deps) == 0
    keys.enable_key(deps, ctx, key_id=key_id)
    assert rotation.rotate_due_keys(deps) == 1


def test_deletion_when_the_window_ends(world: tuple[Deps, RequestContext, Clock]) -> None:
    deps, ctx, clock = world
    doomed = keys.create_key(deps, ctx).key_metadata.key_id
    cancelled = keys.create_key(deps, ctx).key_metadata.key_id
    keys.schedule_key_deletion(deps, ctx, key_id=doomed, pending_window_in_days=7)
    keys.schedule_key_deletion(deps, ctx, key_id=cancelled, pending_window_in_days=7)
    keys.cancel_key_deletion(deps, ctx, key_id=cancelled)
    clock.now = START + timedelta(days=6, hours=23)
    assert keys.delete_due_keys(deps) == 0
    clock.now = START + timedelta(days=7, seconds=1)
    assert keys.delete_due_keys(deps) == 1
    assert deps.store.get_key(doomed) is None and deps.store.get_material(doomed, 1) is None
    survivor = deps.store.get_key(cancelled)
    assert survivor is not None and survivor.state is KeyState.DISABLED
