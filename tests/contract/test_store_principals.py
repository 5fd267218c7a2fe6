"""The store port's revocation writes (access keys, users, accounts) and the reads `trent admin` relies on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trent.kms.ids import AccountId, KeyId, Region
from trent.kms.keys import AccessKey, Account, Key, User
from trent.kms.specs import KeySpec, KeyState, KeyUsage, Origin
from trent.store.base import Store
from trent.store.postgres import PostgresStore
from trent.store.sqlite import SqliteStore

A, B = AccountId("111122223333"), AccountId("444455556666")
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    adapter: Store
    if request.param == "postgresql":
        adapter = PostgresStore(request.getfixturevalue("postgres_url"))
    else:
        adapter = SqliteStore(tmp_path / "t.db" if request.param == "sqlite-file" else ":memory:")
    yield adapter
    adapter.close()


def _key(account: AccountId, region: str, n: int) -> Key:
    return Key(
        key_id=KeyId(f"00000000-0000-4000-8000-{n:012d}"),
        account=account,
        region=Region(region),
        spec=KeySpec.SYMMETRIC_DEFAULT,
        usage=KeyUsage.ENCRYPT_DECRYPT,
        origin=Origin.AWS_KMS,
        state=KeyState.PENDING_DELETION,
        creation_date=NOW,
    )


def test_empty_until_anything_is_stored(store: Store) -> None:
    assert store.is_empty()
    with store.transaction() as tx:
        tx.put_account(Account(A, NOW))
    assert not store.is_empty()
    with store.transaction() as tx:
        tx.delete_account(A)
    assert store.is_empty() and store.get_account(A) is None


def test_keys_are_counted_in_every_region_pending_deletion_included(store: Store) -> None:
    with store.transaction() as tx:
        for n, region in enumerate(("us-east-1", "eu-west-1")):
            tx.insert_key(_key(A, region, n), b"wrapped", "{}", [])
    assert (store.count_keys(A), store.count_keys(B)) == (2, 0)
    assert not store.is_empty()


def test_an_access_key_is_deactivated_reactivated_and_deleted_and_every_read_sees_it(store: Store) -> None:
    record = AccessKey("AKIAREVOKED000000001", A, f"arn:aws:iam::{A}:root", b"wrapped", NOW)
    with store.transaction() as tx:
        tx.put_access_key(record)
    assert store.get_access_key(record.access_key_id) == record  # remembered from here on (decision 0006)
    for active in (False, True, False):
        with store.transaction() as tx:
            tx.set_access_key_active(record.access_key_id, active)
        found = store.get_access_key(record.access_key_id)
        assert found is not None and found.active is active
    with store.transaction() as tx:
        tx.delete_access_key(record.access_key_id)
    assert store.get_access_key(record.access_key_id) is None and store.list_access_keys(A) == ()


def test_a_user_is_deleted(store: Store) -> None:
    user = User(f"arn:aws:iam::{A}:user/erin", A, "erin", NOW)
    with store.transaction() as tx:
        tx.put_account(Account(A, NOW))
        tx.insert_user(user)
    assert store.get_user(user.arn) == user
    with store.transaction() as tx:
        tx.delete_user(user.arn)
    assert store.get_user(user.arn) is None and store.list_users(A) == ()
    assert store.get_account(A) is not None  # the account stays
