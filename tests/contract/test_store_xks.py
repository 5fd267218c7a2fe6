"""The store port's contract for the XKS proxy: logical key stores (credentials wrapped, enabled flag, a
previous credential during rotation) and the Trent keys exposed to them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.contract.conftest import Opener
from tests.contract.records import NOW
from trent.kms.ids import KeyId
from trent.kms.xks import DECRYPT, ENCRYPT, XksExposure, XksKeyStore
from trent.store.base import DuplicateError, Store

K1, K2 = KeyId("00000000-0000-4000-8000-000000000001"), KeyId("00000000-0000-4000-8000-000000000002")


def _store(prefix: str = "ks/a", access_key_id: str = "AAAAAAAAAAAAAAAAAAAA") -> XksKeyStore:
    return XksKeyStore(prefix, access_key_id, b"wrapped-" + prefix.encode(), True, NOW)


def _exposure(prefix: str = "ks/a", key_id: KeyId = K1, **changes: object) -> XksExposure:
    return replace(XksExposure(prefix, key_id, frozenset({ENCRYPT, DECRYPT}), NOW), **changes)  # type: ignore[arg-type]


def test_a_store_round_trips_and_is_seen_by_another_handle(open_store: Opener) -> None:
    one, other = open_store(), open_store()
    assert one.get_xks_store("ks/a") is None and one.list_xks_stores() == ()
    with one.transaction() as tx:
        tx.insert_xks_store(_store("ks/b", "BBBBBBBBBBBBBBBBBBBB"))
        tx.insert_xks_store(_store())
    assert other.get_xks_store("ks/a") == _store()
    assert [s.uri_prefix for s in other.list_xks_stores()] == ["ks/a", "ks/b"]


@pytest.mark.parametrize("clash", ["prefix", "access key id"])
def test_a_prefix_or_access_key_id_is_one_stores(store: Store, clash: str) -> None:
    with store.transaction() as tx:
        tx.insert_xks_store(_store())
    again = _store() if clash == "prefix" else _store("ks/other")
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.insert_xks_store(again)
    assert store.list_xks_stores() == (_store(),)


def test_update_replaces_credentials_and_enabled(open_store: Opener) -> None:
    one, other = open_store(), open_store()
    with one.transaction() as tx:
        tx.insert_xks_store(_store())
        tx.insert_xks_store(_store("ks/b", "BBBBBBBBBBBBBBBBBBBB"))
    rotated = replace(
        _store(),
        access_key_id="CCCCCCCCCCCCCCCCCCCC",
        wrapped_secret=b"new",
        enabled=False,
        previous_access_key_id="AAAAAAAAAAAAAAAAAAAA",
        previous_wrapped_secret=b"wrapped-ks/a",
    )
    with one.transaction() as tx:
        tx.update_xks_store(rotated)
        tx.update_xks_store(_store("ks/none"))  # no such store: nothing
    assert other.get_xks_store("ks/a") == rotated and other.get_xks_store("ks/none") is None
    with pytest.raises(DuplicateError), one.transaction() as tx:
        tx.update_xks_store(replace(rotated, access_key_id="BBBBBBBBBBBBBBBBBBBB"))
    assert other.get_xks_store("ks/a") == rotated


def test_exposures_are_per_store_and_replaced(open_store: Opener) -> None:
    one, other = open_store(), open_store()
    with one.transaction() as tx:
        tx.insert_xks_store(_store())
        tx.insert_xks_store(_store("ks/b", "BBBBBBBBBBBBBBBBBBBB"))
        tx.put_xks_exposure(_exposure(key_id=K2))
        tx.put_xks_exposure(_exposure())
        tx.put_xks_exposure(_exposure("ks/b", usage=frozenset()))
    assert other.list_xks_exposures("ks/a") == (_exposure(), _exposure(key_id=K2))
    assert other.get_xks_exposure("ks/b", K1) == _exposure("ks/b", usage=frozenset())
    assert other.get_xks_exposure("ks/b", K2) is None
    narrowed = _exposure(
        usage=frozenset({ENCRYPT}), allowed_principals=("arn:aws:iam::1:user/A",), allowed_operations=("Encrypt",)
    )
    with one.transaction() as tx:
        tx.put_xks_exposure(narrowed)
    assert other.get_xks_exposure("ks/a", K1) == narrowed
    with one.transaction() as tx:
        tx.delete_xks_exposure("ks/a", K2)
        tx.delete_xks_exposure("ks/a", KeyId("absent"))
    assert other.list_xks_exposures("ks/a") == (narrowed,)


def test_an_exposure_needs_its_store(store: Store) -> None:
    with pytest.raises(ValueError), store.transaction() as tx:
        tx.put_xks_exposure(_exposure())
    assert store.list_xks_exposures("ks/a") == ()


def test_deleting_a_store_forgets_its_exposures(open_store: Opener) -> None:
    one, other = open_store(), open_store()
    with one.transaction() as tx:
        tx.insert_xks_store(_store())
        tx.put_xks_exposure(_exposure())
    with one.transaction() as tx:
        tx.delete_xks_store("ks/a")
    assert other.get_xks_store("ks/a") is None and other.list_xks_exposures("ks/a") == ()
    with one.transaction() as tx:  # the prefix is free again, with no exposure left over
        tx.insert_xks_store(_store())
    assert other.get_xks_exposure("ks/a", K1) is None


def test_a_store_change_is_a_write_of_its_unit(store: Store) -> None:
    with store.unit() as unit:
        with store.transaction() as tx:
            tx.insert_xks_store(_store())
        assert unit.wrote()


def test_a_wipe_forgets_key_stores_and_exposures(open_store: Opener) -> None:
    one, other = open_store(), open_store()
    with one.transaction() as tx:
        tx.insert_xks_store(_store())
        tx.put_xks_exposure(_exposure())
    with one.transaction() as tx:
        tx.wipe()
    assert other.list_xks_stores() == () and other.list_xks_exposures("ks/a") == ()
    with one.transaction() as tx:  # the same prefix and access key id can be stored again
        tx.insert_xks_store(_store())
    assert other.get_xks_exposure("ks/a", K1) is None
