"""Planting a seed (ops/seeding.py) on a real SQLite store and software root: everything made through the
operations, with audit records; a second planting makes nothing; a store whose things contradict the seed is
refused."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest

from trent.audit.events import AuditEvent
from trent.kms.ids import AccountId, KeyId, Region
from trent.kms.principals import Principal
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KeyState, Origin
from trent.ops import aliases, encryption, grants, keys, principals, rotation
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.ops.seeding import SEED_AGENT, apply_seed
from trent.ops.seeds import SeedError, parse_seed
from trent.rootoftrust.software import SoftwareRoot
from trent.store.postgres import PostgresStore
from trent.store.sqlite import SqliteStore

ACCOUNT = AccountId("111122223333")
KEY_ID = "11111111-2222-3333-4444-555555555555"
MATERIAL = os.urandom(32)
USER_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}


class Recorder:
    """The audit port as far as planting uses it: record_now."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record_now(self, events: Any, *, journaled: bool = False) -> None:
        self.events.extend(events)


def _deps() -> Deps:
    root = SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1")
    return Deps(store=SqliteStore(":memory:"), root_of_trust=root, keyring=Keyring(root), audit=Recorder())  # type: ignore[arg-type]


DOCUMENT: dict[str, Any] = {
    "users": [{"name": "alice", "policy": USER_POLICY}],
    "access_keys": [{"access_key_id": "AKIAALICE00000000000", "secret_access_key": "x" * 40, "user": "alice"}],
    "keys": [
        {
            "key_id": KEY_ID,
            "description": "seeded",
            "aliases": ["alias/seeded"],
            "material": base64.b64encode(MATERIAL).decode(),
            "tags": {"team": "a"},
            "rotation_enabled": True,
            "rotation_period_days": 100,
            "grants": [
                {"grantee_principal": "arn:aws:iam::111122223333:user/bob", "operations": ["Decrypt"], "name": "g"}
            ],
        },
        {"key_id": "22222222-3333-4444-5555-666666666666", "enabled": False, "policy": KEY_POLICY},
    ],
}
ROOT = RequestContext(Principal(ACCOUNT, "arn:aws:iam::111122223333:root", "AKIAEXAMPLE"), Region("us-east-1"), "r")


def test_planting_makes_everything_through_the_operations() -> None:
    deps = _deps()
    made = apply_seed(deps, parse_seed(DOCUMENT), ACCOUNT)
    assert made == {"account": 1, "user": 1, "access key": 1, "key": 2, "alias": 1, "grant": 1}
    key = deps.store.get_key(KeyId(KEY_ID))
    assert key is not None and (key.origin, key.state, key.description) == (Origin.AWS_KMS, KeyState.ENABLED, "seeded")
    assert deps.keyring.load(deps.store, key).secret == MATERIAL
    assert rotation.get_key_rotation_status(deps, ROOT, key_id=KEY_ID).rotation_period_in_days == 100
    assert [a.alias_name for a in aliases.list_aliases(deps, ROOT).aliases] == ["alias/seeded"]
    assert [g.name for g in grants.list_grants(deps, ROOT, key_id=KEY_ID).grants] == ["g"]
    assert [(t.tag_key, t.tag_value) for t in deps.store.get_tags(KeyId(KEY_ID))] == [("team", "a")]
    second = deps.store.get_key(KeyId("22222222-3333-4444-5555-666666666666"))
    assert second is not None and second.state is KeyState.DISABLED
    assert json.loads(deps.store.get_policy(second.key_id) or "") == KEY_POLICY
    user = deps.store.get_user("arn:aws:iam::111122223333:user/alice")
    assert user is not None and json.loads(user.policy or "") == USER_POLICY
    access = deps.store.get_access_key("AKIAALICE00000000000")
    assert access is not None and principals.secret_of(deps, access) == Sensitive(b"x" * 40)
    events = deps.audit.events  # type: ignore[attr-defined]
    assert [e.event_name for e in events] == [
        "CreateKey",
        "EnableKeyRotation",
        "CreateAlias",
        "CreateGrant",
        "CreateKey",
        "DisableKey",
        "PutKeyPolicy",
    ]
    assert {e.user_agent for e in events} == {SEED_AGENT}
    assert all(e.user_identity.arn == "arn:aws:iam::111122223333:root" for e in events)
    assert not any(base64.b64encode(MATERIAL).decode() in repr(e) for e in events)


def test_a_second_planting_changes_nothing() -> None:
    deps = _deps()
    seed = parse_seed(DOCUMENT)
    apply_seed(deps, seed, ACCOUNT)
    before = deps.store.get_key(KeyId(KEY_ID))
    ciphertext = encryption.encrypt(deps, ROOT, key_id=KEY_ID, plaintext=Sensitive(b"hello")).ciphertext_blob
    assert apply_seed(deps, seed, ACCOUNT) == {}
    assert deps.store.get_key(KeyId(KEY_ID)) == before
    assert encryption.decrypt(deps, ROOT, ciphertext_blob=ciphertext).plaintext == Sensitive(b"hello")


def test_a_key_without_material_gets_it_once() -> None:
    deps = _deps()
    seed = parse_seed({"keys": [{"key_id": KEY_ID}]})
    apply_seed(deps, seed, ACCOUNT)
    key = deps.store.get_key(KeyId(KEY_ID))
    assert key is not None
    first = deps.store.get_material(key.key_id, 1)
    apply_seed(deps, seed, ACCOUNT)
    assert deps.store.get_material(key.key_id, 1) == first and deps.store.list_materials(key.key_id)[-1].version == 1


def test_a_grown_seed_adds_what_is_missing_and_keeps_changes() -> None:
    deps = _deps()
    apply_seed(deps, parse_seed({"keys": [{"key_id": KEY_ID, "aliases": ["alias/a"]}]}), ACCOUNT)
    keys.update_key_description(deps, ROOT, key_id=KEY_ID, description="changed while running")
    grown = {"keys": [{"key_id": KEY_ID, "aliases": ["alias/a", "alias/b"], "description": "seeded"}]}
    assert apply_seed(deps, parse_seed(grown), ACCOUNT) == {"alias": 1}
    key = deps.store.get_key(KeyId(KEY_ID))
    assert key is not None and key.description == "changed while running"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"material": base64.b64encode(os.urandom(32)).decode()}, "exists already with other key material"),
        ({"key_spec": "HMAC_256"}, "exists already with key_spec SYMMETRIC_DEFAULT, not HMAC_256"),
        ({"region": "eu-west-1"}, "exists already with region us-east-1, not eu-west-1"),
    ],
)
def test_a_store_that_contradicts_the_seed_is_refused(change: dict[str, str], reason: str) -> None:
    deps = _deps()
    apply_seed(
        deps, parse_seed({"keys": [{"key_id": KEY_ID, "material": base64.b64encode(MATERIAL).decode()}]}), ACCOUNT
    )
    with pytest.raises(SeedError) as caught:
        apply_seed(deps, parse_seed({"keys": [{"key_id": KEY_ID, **change}]}), ACCOUNT)
    assert (caught.value.entry, caught.value.reason) == ("keys[0]", f"key {KEY_ID} {reason}")


def test_an_access_key_with_another_secret_is_refused() -> None:
    deps = _deps()
    entry = {"access_key_id": "AKIAROOT000000000000", "secret_access_key": "y" * 40}
    apply_seed(deps, parse_seed({"access_keys": [entry]}), ACCOUNT)
    with pytest.raises(SeedError, match="exists already, with another secret") as caught:
        apply_seed(deps, parse_seed({"access_keys": [{**entry, "secret_access_key": "z" * 40}]}), ACCOUNT)
    assert "z" * 40 not in str(caught.value) and "y" * 40 not in str(caught.value)


def test_an_operation_refusal_names_the_entry() -> None:
    deps = _deps()
    hmac = {"key_id": KEY_ID, "key_spec": "HMAC_256", "grants": [{"grantee_principal": "x", "operations": ["Encrypt"]}]}
    with pytest.raises(SeedError) as caught:
        apply_seed(deps, parse_seed({"keys": [hmac]}), ACCOUNT)
    assert caught.value.entry == "keys[0]" and caught.value.reason.startswith("ValidationException: Grant operations")
    assert deps.store.get_key(KeyId(KEY_ID)) is None  # the whole key or none of it


def test_planting_on_postgresql(postgres_url: str) -> None:
    """The same planting on the PostgreSQL store, whose units join transactions on one connection."""
    root = SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1")
    store = PostgresStore(postgres_url)
    try:
        deps = Deps(store=store, root_of_trust=root, keyring=Keyring(root), audit=Recorder())  # type: ignore[arg-type]
        seed = parse_seed(DOCUMENT)
        assert apply_seed(deps, seed, ACCOUNT)["key"] == 2
        assert apply_seed(deps, seed, ACCOUNT) == {}
        key = store.get_key(KeyId(KEY_ID))
        assert key is not None and deps.keyring.load(store, key).secret == MATERIAL
        assert [a.alias_name for a in aliases.list_aliases(deps, ROOT).aliases] == ["alias/seeded"]
        assert len(deps.audit.events) == 7  # type: ignore[attr-defined]
    finally:
        store.close()


def test_every_record_commits_in_the_outbox_with_its_change() -> None:
    """Chained at once by a process that writes the audit log; left to the audit writer by a worker."""
    deps = _deps()
    apply_seed(deps, parse_seed(DOCUMENT), ACCOUNT, chain=False)
    assert deps.audit.events == []  # type: ignore[attr-defined]
    assert len(deps.store.outbox(100)) == 7
