"""The store port's contract for blobs: opaque records (the audit chain's anchor) replaced atomically."""

from __future__ import annotations

import pytest

from tests.contract.conftest import Opener
from trent.store.base import Store


def test_update_blob_stores_what_change_returns_and_keeps_the_old_on_none(open_store: Opener) -> None:
    store, peer = open_store(), open_store()
    seen: list[bytes | None] = []

    def first(old: bytes | None) -> bytes | None:
        seen.append(old)
        return b"one" if old is None else None

    assert store.get_blob("anchor") is None
    assert store.update_blob("anchor", first) == b"one"
    assert store.update_blob("anchor", first) == b"one"  # made once: the second change keeps it
    assert seen == [None, b"one"]
    assert peer.get_blob("anchor") == b"one" and peer.get_blob("other") is None
    assert peer.update_blob("anchor", lambda old: (old or b"") + b"+two") == b"one+two"
    assert store.get_blob("anchor") == b"one+two"


def test_a_change_that_raises_stores_nothing(store: Store) -> None:
    store.update_blob("anchor", lambda old: b"kept")

    def fails(old: bytes | None) -> bytes | None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        store.update_blob("anchor", fails)
    assert store.get_blob("anchor") == b"kept"
