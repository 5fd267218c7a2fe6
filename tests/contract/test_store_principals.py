"""The store port's contract for principals: accounts, users and their policies, access keys (revocation
included), and the reads `trent admin` relies on."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.conftest import Opener
from tests.contract.records import ACCOUNT, NOW, OTHER_ACCOUNT, key
from trent.kms.ids import AccountId, Region
from trent.kms.keys import AccessKey, Account, User
from trent.kms.specs import KeyState
from trent.store.base import DuplicateError, Store

A, B = ACCOUNT, OTHER_ACCOUNT


def _user(account: AccountId, name: str) -> User:
    return User(f"arn:aws:iam::{account}:user/{name}", account, name, NOW)


def _access_key(n: int, account: AccountId = A) -> AccessKey:
    return AccessKey(f"AKIAEXAMPLE{n:09d}", account, f"arn:aws:iam::{account}:root", b"wrapped-%d" % n, NOW)


def test_empty_until_anything_is_stored(store: Store) -> None:
    assert store.is_empty()
    with store.transaction() as tx:
        tx.put_account(Account(A, NOW))
    assert not store.is_empty()
    with store.transaction() as tx:
        tx.delete_account(A)
    assert store.is_empty() and store.get_account(A) is None


@pytest.mark.parametrize("what", ["user", "access key", "key"])
def test_any_principal_or_key_makes_the_store_not_empty(store: Store, what: str) -> None:
    with store.transaction() as tx:
        if what == "user":
            tx.insert_user(_user(A, "u"))
        elif what == "access key":
            tx.put_access_key(_access_key(1))
        else:
            tx.insert_key(key(1), b"w", "{}", [])
    assert not store.is_empty()


def test_put_account_keeps_an_existing_one(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_account(Account(B, NOW))
        tx.put_account(Account(A, NOW))
    with store.transaction() as tx:
        tx.put_account(Account(A, NOW + timedelta(days=1)))
    assert store.get_account(A) == Account(A, NOW)
    assert store.list_accounts() == (Account(A, NOW), Account(B, NOW))


def test_keys_are_counted_in_every_region_pending_deletion_included(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_key(key(1, state=KeyState.PENDING_DELETION), b"w", "{}", [])
        tx.insert_key(key(2, region=Region("eu-west-1")), b"w", "{}", [])
    assert (store.count_keys(A), store.count_keys(B)) == (2, 0)


def test_users_are_unique_by_arn_and_by_name_in_their_account(store: Store) -> None:
    erin, erin_b, ann = _user(A, "erin"), _user(B, "erin"), _user(A, "ann")
    with store.transaction() as tx:
        for u in (erin, erin_b, ann):
            tx.insert_user(u)
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.insert_user(replace(erin, created=NOW + timedelta(days=1)))
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.insert_user(replace(erin, arn=f"arn:aws:iam::{A}:user/path/erin"))
    assert store.get_user(erin.arn) == erin and store.get_user(f"arn:aws:iam::{A}:user/path/erin") is None
    assert store.list_users(A) == (ann, erin) and store.list_users(B) == (erin_b,)
    assert store.list_users(None) == (ann, erin, erin_b)  # by ARN


def test_a_users_policy_is_set_replaced_and_removed_each_time_with_a_new_revision(open_store: Opener) -> None:
    store, peer = open_store(), open_store()
    user = _user(A, "pat")
    with store.transaction() as tx:
        tx.insert_user(user)
    assert peer.get_user(user.arn) == user and user.policy_revision == 0
    for n, policy in enumerate(('{"v": 1}', '{"v": 2}', None), start=1):
        with store.transaction() as tx:
            tx.put_user_policy(user.arn, policy)
        assert peer.get_user(user.arn) == replace(user, policy=policy, policy_revision=n)
    with store.transaction() as tx:
        tx.put_user_policy(f"arn:aws:iam::{A}:user/nobody", "{}")  # no such user: nothing happens
    assert peer.get_user(f"arn:aws:iam::{A}:user/nobody") is None


def test_a_user_is_deleted_and_its_account_stays(store: Store) -> None:
    user = _user(A, "erin")
    with store.transaction() as tx:
        tx.put_account(Account(A, NOW))
        tx.insert_user(user)
    with store.transaction() as tx:
        tx.delete_user(user.arn)
        tx.delete_user(f"arn:aws:iam::{A}:user/nobody")
    assert store.get_user(user.arn) is None and store.list_users(A) == ()
    assert store.get_account(A) is not None
    with store.transaction() as tx:  # its name is free again
        tx.insert_user(user)


def test_access_keys_are_unique_and_listed_by_account(store: Store) -> None:
    mine, theirs, other = _access_key(2), _access_key(1, B), _access_key(3)
    with store.transaction() as tx:
        for record in (mine, theirs, other):
            tx.put_access_key(record)
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.put_access_key(replace(mine, principal_arn=f"arn:aws:iam::{A}:user/thief"))
    assert store.get_access_key(mine.access_key_id) == mine and store.get_access_key("AKIANONE") is None
    assert store.list_access_keys(A) == (mine, other) and store.list_access_keys(B) == (theirs,)
    assert store.list_access_keys(None) == (theirs, mine, other)  # by access key id
    assert "wrapped" not in repr(mine)


def test_an_access_key_is_deactivated_reactivated_and_deleted_and_every_read_sees_it(open_store: Opener) -> None:
    store, peer = open_store(), open_store()
    record = _access_key(9)
    with store.transaction() as tx:
        tx.put_access_key(record)
    assert peer.get_access_key(record.access_key_id) == record  # remembered from here on, where adapters do
    for active in (False, True, False):
        with store.transaction() as tx:
            tx.set_access_key_active(record.access_key_id, active)
        assert peer.get_access_key(record.access_key_id) == replace(record, active=active)
        assert peer.list_access_keys(A) == (replace(record, active=active),)
    with store.transaction() as tx:
        tx.delete_access_key(record.access_key_id)
        tx.set_access_key_active("AKIANONE", True)  # no such key: nothing happens
    assert peer.get_access_key(record.access_key_id) is None and peer.list_access_keys(A) == ()
    assert peer.get_access_key("AKIANONE") is None
