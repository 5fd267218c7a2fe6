"""Keys in a custom key store, in-process (ops over an in-memory SQLite store, a software root and a SoftHSM2
token): the key's object is destroyed with the key when its deletion window ends; the store's password is
stored only wrapped; a password update takes effect on the next connection."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.keystores import trust_anchor
from tests.softhsm import Token
from trent.audit.sqlite import SqliteAuditLog
from trent.kms.errors import LimitExceededException
from trent.kms.ids import AccountId, KeyId, Region
from trent.kms.keystores import ConnectionState
from trent.kms.principals import Principal
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KeyState, Origin
from trent.ops import clusters, encryption, keys, keystores
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
def world(token_in_process: Token, tmp_path: Path) -> Iterator[tuple[Deps, RequestContext, Clock, str]]:
    root = SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1")
    clock = Clock()
    deps = Deps(
        store=SqliteStore(":memory:"),
        root_of_trust=root,
        keyring=Keyring(root),
        audit=SqliteAuditLog(":memory:", os.urandom(32)),
        clock=clock,
    )
    principal = Principal(AccountId("111122223333"), "arn:aws:iam::111122223333:root", "AKIAEXAMPLE")
    ctx = RequestContext(principal, Region("us-east-1"), "req-1")
    pem = trust_anchor(tmp_path / "ca.crt").read_text()
    clusters.add_cluster(deps, "cluster-abcdefghijk", token_in_process.module, token_in_process.label, pem)
    store_id = keystores.create_custom_key_store(
        deps,
        ctx,
        custom_key_store_name="s",
        cloud_hsm_cluster_id="cluster-abcdefghijk",
        trust_anchor_certificate=pem,
        key_store_password=token_in_process.pin,
    ).custom_key_store_id
    try:
        yield deps, ctx, clock, store_id
    finally:
        deps.tokens.close()


def test_the_token_object_is_destroyed_with_the_key(
    world: tuple[Deps, RequestContext, Clock, str], token_in_process: Token
) -> None:
    deps, ctx, clock, store_id = world
    keystores.connect_custom_key_store(deps, ctx, custom_key_store_id=store_id)
    meta = keys.create_key(deps, ctx, custom_key_store_id=store_id, origin=Origin.AWS_CLOUDHSM).key_metadata
    blob = encryption.encrypt(deps, ctx, key_id=meta.key_id, plaintext=Sensitive(b"a")).ciphertext_blob
    assert len(token_in_process.objects()) == 1
    keys.schedule_key_deletion(deps, ctx, key_id=meta.key_id, pending_window_in_days=7)
    clock.now = START + timedelta(days=6)
    assert keys.delete_due_keys(deps) == 0 and len(token_in_process.objects()) == 1
    clock.now = START + timedelta(days=8)
    assert keys.delete_due_keys(deps) == 1
    assert token_in_process.objects() == [] and deps.store.get_key(KeyId(meta.key_id)) is None
    assert deps.store.count_keys_in_custom_key_store(store_id) == 0
    assert blob  # nothing anywhere opens it now


def test_the_password_is_stored_only_wrapped_and_updates_take_effect(
    world: tuple[Deps, RequestContext, Clock, str], token_in_process: Token
) -> None:
    deps, ctx, _, store_id = world
    store = deps.store.get_custom_key_store(store_id)
    assert store is not None and token_in_process.pin.encode() not in store.config.wrapped_password
    assert "wrapped_password" not in repr(store.config) or token_in_process.pin not in repr(store)
    keystores.update_custom_key_store(deps, ctx, custom_key_store_id=store_id, key_store_password="wrong-pin-000")
    keystores.connect_custom_key_store(deps, ctx, custom_key_store_id=store_id)
    failed = deps.store.get_custom_key_store(store_id)
    assert failed is not None and failed.connection_state is ConnectionState.FAILED
    keystores.disconnect_custom_key_store(deps, ctx, custom_key_store_id=store_id)
    keystores.update_custom_key_store(deps, ctx, custom_key_store_id=store_id, key_store_password=token_in_process.pin)
    keystores.connect_custom_key_store(deps, ctx, custom_key_store_id=store_id)
    connected = deps.store.get_custom_key_store(store_id)
    assert connected is not None and connected.connected
    key = keys.create_key(deps, ctx, custom_key_store_id=store_id, origin=Origin.AWS_CLOUDHSM).key_metadata
    assert key.key_state is KeyState.ENABLED and key.custom_key_store_id == store_id


def test_ten_custom_key_stores_per_account_and_region(
    world: tuple[Deps, RequestContext, Clock, str], token_in_process: Token, tmp_path: Path
) -> None:
    deps, ctx, _, _ = world  # one store already
    pem = (tmp_path / "ca.crt").read_text()

    def create(n: int, region: str = "us-east-1") -> str:
        cluster = f"cluster-bbbbbbbbbb{'abcdefghijklmnopqrstuvwxyz'[n]}"
        clusters.add_cluster(deps, cluster, token_in_process.module, f"label-{n}", pem)
        here = RequestContext(ctx.principal, Region(region), "req")
        return keystores.create_custom_key_store(
            deps,
            here,
            custom_key_store_name=f"s{n}",
            cloud_hsm_cluster_id=cluster,
            trust_anchor_certificate=pem,
            key_store_password="1234567",
        ).custom_key_store_id

    for n in range(9):
        create(n)
    with pytest.raises(LimitExceededException):
        create(9)
    assert create(10, "eu-west-1")  # another Region has a quota of its own
