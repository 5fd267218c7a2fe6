"""The store port's contract for grants: records with their constraints, per key, and paged by retiring principal."""

from __future__ import annotations

from dataclasses import replace

from tests.contract.conftest import Opener
from tests.contract.records import grant, key
from trent.kms.keys import GrantConstraints
from trent.store.base import Store

RETIRER, OTHER_RETIRER = "arn:aws:iam::111122223333:role/retirer", "arn:aws:iam::111122223333:role/other"


def test_a_grant_round_trips_with_its_constraints(store: Store) -> None:
    k = key(1)
    plain = grant("g-plain", k)
    named = replace(
        grant("g-named", k, retiring=RETIRER),
        name="nightly",
        operations=("GenerateDataKey",),
        constraints=GrantConstraints(encryption_context_subset={"app": "x", "env": "prod"}),
    )
    exact = replace(
        grant("g-exact", k),
        constraints=GrantConstraints(encryption_context_equals={"k": "v"}, source_arn="arn:aws:s3:::b"),
    )
    with store.transaction() as tx:
        tx.insert_key(k, b"w", "{}", [])
        for g in (plain, named, exact):
            tx.insert_grant(g)
    assert store.get_grant("g-plain") == plain and store.get_grant("g-named") == named
    assert store.get_grant("g-exact") == exact and store.get_grant("g-none") is None
    assert store.list_grants(k.key_id) == (exact, named, plain)  # by grant id
    assert store.list_grants(key(2).key_id) == ()


def test_a_stored_grant_does_not_change_with_the_callers_mapping(store: Store) -> None:
    k = key(3)
    context = {"app": "x"}
    g = replace(grant("g-mine", k), constraints=GrantConstraints(encryption_context_subset=context))
    with store.transaction() as tx:
        tx.insert_key(k, b"w", "{}", [])
        tx.insert_grant(g)
    context["app"] = "changed after the insert"
    stored = store.get_grant("g-mine")
    assert stored is not None and stored.constraints is not None
    assert dict(stored.constraints.encryption_context_subset or {}) == {"app": "x"}


def test_delete_grant(store: Store) -> None:
    k = key(4)
    with store.transaction() as tx:
        tx.insert_key(k, b"w", "{}", [])
        tx.insert_grant(grant("g-1", k))
        tx.insert_grant(grant("g-2", k))
    with store.transaction() as tx:
        tx.delete_grant("g-1")
        tx.delete_grant("g-never")
    assert store.get_grant("g-1") is None and [g.grant_id for g in store.list_grants(k.key_id)] == ["g-2"]


def test_retirable_grants_are_paged_by_grant_id(store: Store) -> None:
    one, two = key(5), key(6)
    with store.transaction() as tx:
        tx.insert_key(one, b"w", "{}", [])
        tx.insert_key(two, b"w", "{}", [])
        for n, target in ((4, one), (1, two), (3, one), (5, two), (2, one)):
            tx.insert_grant(grant(f"g-{n}", target, retiring=RETIRER))
        tx.insert_grant(grant("g-0-other", one, retiring=OTHER_RETIRER))
        tx.insert_grant(grant("g-0-none", one))
    pages: list[list[str]] = []
    marker: str | None = None
    while True:
        page = store.list_retirable_grants(RETIRER, marker, 2)
        pages.append([g.grant_id for g in page.items])
        if page.next_marker is None:
            break
        marker = page.next_marker
    assert pages == [["g-1", "g-2"], ["g-3", "g-4"], ["g-5"]]
    exact = store.list_retirable_grants(RETIRER, None, 5)
    assert len(exact.items) == 5 and exact.next_marker is None
    assert [g.grant_id for g in store.list_retirable_grants(OTHER_RETIRER, None, 10).items] == ["g-0-other"]
    assert store.list_retirable_grants("arn:aws:iam::111122223333:role/nobody", None, 10).items == ()


def test_list_grants_is_fresh(open_store: Opener) -> None:
    store, peer = open_store(), open_store()
    k = key(7)
    with store.transaction() as tx:
        tx.insert_key(k, b"w", "{}", [])
    assert peer.list_grants(k.key_id) == ()
    with store.transaction() as tx:
        tx.insert_grant(grant("g-new", k))
    assert [g.grant_id for g in peer.list_grants(k.key_id)] == ["g-new"]
    with store.transaction() as tx:
        tx.delete_grant("g-new")
    assert peer.list_grants(k.key_id) == ()
