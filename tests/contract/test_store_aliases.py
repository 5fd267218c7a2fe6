"""The store port's contract for aliases: unique per account and region, retargeted, paged, read many at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.conftest import Opener
from tests.contract.records import ACCOUNT, NOW, OTHER_ACCOUNT, OTHER_REGION, REGION, alias, key
from trent.kms.ids import AliasName
from trent.store.base import AliasRef, DuplicateError, Store


def _ref(a: object) -> AliasRef:
    return (a.account, a.region, a.name)  # type: ignore[attr-defined]


def test_an_alias_is_unique_in_its_account_and_region(store: Store) -> None:
    k = key(1)
    a = alias("a", k)
    with store.transaction() as tx:
        tx.insert_key(k, b"w", "{}", [])
        tx.insert_alias(a)
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.insert_alias(replace(a, creation_date=NOW + timedelta(days=1)))
    assert store.get_alias(ACCOUNT, REGION, a.name) == a
    assert store.get_alias(ACCOUNT, OTHER_REGION, a.name) is None
    with store.transaction() as tx:  # the same name elsewhere is another alias
        tx.insert_alias(alias("a", k, region=OTHER_REGION))
        tx.insert_alias(alias("a", k, account=OTHER_ACCOUNT))
    assert store.get_alias(ACCOUNT, REGION, a.name) == a
    assert store.list_aliases(ACCOUNT, REGION, k.key_id, None, 10).items == (a,)


def test_update_alias_retargets_and_keeps_its_creation_date(store: Store) -> None:
    old, new = key(2), key(3)
    a = alias("moving", old)
    later = NOW + timedelta(hours=1)
    with store.transaction() as tx:
        tx.insert_key(old, b"w", "{}", [])
        tx.insert_key(new, b"w", "{}", [])
        tx.insert_alias(a)
    with store.transaction() as tx:
        tx.update_alias(replace(a, target_key_id=new.key_id, creation_date=later, last_updated_date=later))
        tx.update_alias(alias("never-made", new))  # no such alias: nothing happens
    assert store.get_alias(ACCOUNT, REGION, a.name) == replace(a, target_key_id=new.key_id, last_updated_date=later)
    assert store.get_alias(ACCOUNT, REGION, AliasName("alias/never-made")) is None
    assert store.list_aliases(ACCOUNT, REGION, old.key_id, None, 10).items == ()
    assert [x.name for x in store.list_aliases(ACCOUNT, REGION, new.key_id, None, 10).items] == [a.name]


def test_delete_alias(store: Store) -> None:
    k = key(4)
    with store.transaction() as tx:
        tx.insert_key(k, b"w", "{}", [])
        tx.insert_alias(alias("gone", k))
        tx.insert_alias(alias("gone", k, region=OTHER_REGION))
    with store.transaction() as tx:
        tx.delete_alias(ACCOUNT, REGION, AliasName("alias/gone"))
        tx.delete_alias(ACCOUNT, REGION, AliasName("alias/never-there"))
    assert store.get_alias(ACCOUNT, REGION, AliasName("alias/gone")) is None
    assert store.get_alias(ACCOUNT, OTHER_REGION, AliasName("alias/gone")) is not None
    with store.transaction() as tx:  # the name is free again
        tx.insert_alias(alias("gone", k))
    assert store.get_alias(ACCOUNT, REGION, AliasName("alias/gone")) is not None


def test_list_aliases_is_scoped_sorted_paged_and_filtered_by_key(store: Store) -> None:
    one, two = key(5), key(6)
    with store.transaction() as tx:
        tx.insert_key(one, b"w", "{}", [])
        tx.insert_key(two, b"w", "{}", [])
        for name, target in (("e", one), ("b", two), ("d", one), ("a", one), ("c", two)):
            tx.insert_alias(alias(name, target))
        tx.insert_alias(alias("0-elsewhere", one, region=OTHER_REGION))
    first = store.list_aliases(ACCOUNT, REGION, None, None, 2)
    assert [a.name for a in first.items] == ["alias/a", "alias/b"] and first.next_marker is not None
    second = store.list_aliases(ACCOUNT, REGION, None, first.next_marker, 2)
    assert [a.name for a in second.items] == ["alias/c", "alias/d"] and second.next_marker is not None
    last = store.list_aliases(ACCOUNT, REGION, None, second.next_marker, 2)
    assert [a.name for a in last.items] == ["alias/e"] and last.next_marker is None
    mine = store.list_aliases(ACCOUNT, REGION, one.key_id, None, 2)
    assert [a.name for a in mine.items] == ["alias/a", "alias/d"] and mine.next_marker is not None
    rest = store.list_aliases(ACCOUNT, REGION, one.key_id, mine.next_marker, 2)
    assert [a.name for a in rest.items] == ["alias/e"] and rest.next_marker is None
    assert store.list_aliases(OTHER_ACCOUNT, REGION, None, None, 10).items == ()


def test_get_aliases_answers_those_that_exist_in_their_own_scope(store: Store) -> None:
    k = key(7)
    here, there, theirs = alias("x", k), alias("x", k, region=OTHER_REGION), alias("y", k, account=OTHER_ACCOUNT)
    with store.transaction() as tx:
        tx.insert_key(k, b"w", "{}", [])
        for a in (here, there, theirs):
            tx.insert_alias(a)
    assert store.get_aliases([]) == {}
    missing: AliasRef = (ACCOUNT, REGION, AliasName("alias/y"))  # y exists, but in another account
    asked = [_ref(here), missing, _ref(theirs), _ref(here)]
    assert dict(store.get_aliases(asked)) == {_ref(here): here, _ref(theirs): theirs}
    with store.transaction() as tx:
        assert dict(tx.get_aliases([_ref(there)])) == {_ref(there): there}


def test_get_aliases_reads_many_hundreds_at_once(store: Store) -> None:
    k = key(8)
    stored = [alias(f"n{n:04d}", k) for n in range(0, 700, 2)]
    with store.transaction() as tx:
        tx.insert_key(k, b"w", "{}", [])
        for a in stored:
            tx.insert_alias(a)
    asked = [(ACCOUNT, REGION, AliasName(f"alias/n{n:04d}")) for n in range(700)]
    assert dict(store.get_aliases(asked)) == {_ref(a): a for a in stored}


def test_get_aliases_is_fresh(open_store: Opener) -> None:
    store, peer = open_store(), open_store()
    old, new = key(9), key(10)
    a = alias("fresh", old)
    assert peer.get_aliases([_ref(a)]) == {} and peer.get_alias(*_ref(a)) is None
    with store.transaction() as tx:
        tx.insert_key(old, b"w", "{}", [])
        tx.insert_key(new, b"w", "{}", [])
        tx.insert_alias(a)
    assert peer.get_aliases([_ref(a)]) == {_ref(a): a}
    with store.transaction() as tx:
        tx.update_alias(replace(a, target_key_id=new.key_id))
    assert peer.get_aliases([_ref(a)])[_ref(a)].target_key_id == new.key_id
    assert peer.get_alias(*_ref(a)) == peer.get_aliases([_ref(a)])[_ref(a)]
    with store.transaction() as tx:
        tx.delete_key(new.key_id)  # takes its aliases along
    assert peer.get_aliases([_ref(a)]) == {} and peer.get_alias(*_ref(a)) is None
