"""The in-memory store's XKS proxy tables (store/memory_tables.py has the rest): logical key stores and
exposures, read and written over one version of the tables as every other record is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trent.kms.ids import KeyId
from trent.kms.xks import XksExposure, XksKeyStore
from trent.store.base import DuplicateError

if TYPE_CHECKING:
    from trent.store.memory_tables import Tables


class XksReads:
    def _view(self) -> Tables:
        raise NotImplementedError

    def get_xks_store(self, uri_prefix: str) -> XksKeyStore | None:
        return self._view().xks_stores.get(uri_prefix)

    def list_xks_stores(self) -> tuple[XksKeyStore, ...]:
        return tuple(sorted(self._view().xks_stores.values(), key=lambda s: s.uri_prefix))

    def get_xks_exposure(self, uri_prefix: str, key_id: KeyId) -> XksExposure | None:
        return self._view().xks_exposures.get((uri_prefix, key_id))

    def list_xks_exposures(self, uri_prefix: str) -> tuple[XksExposure, ...]:
        found = (e for (prefix, _), e in self._view().xks_exposures.items() if prefix == uri_prefix)
        return tuple(sorted(found, key=lambda e: e.key_id))


class XksWrites:
    def _view(self) -> Tables:
        raise NotImplementedError

    @staticmethod
    def _id_taken(t: Tables, store: XksKeyStore) -> bool:
        return any(
            s.access_key_id == store.access_key_id and s.uri_prefix != store.uri_prefix for s in t.xks_stores.values()
        )

    def insert_xks_store(self, store: XksKeyStore) -> None:
        t = self._view()
        if store.uri_prefix in t.xks_stores or self._id_taken(t, store):
            raise DuplicateError(store.uri_prefix)
        t.xks_stores[store.uri_prefix] = store
        t.changes += 1

    def update_xks_store(self, store: XksKeyStore) -> None:
        t = self._view()
        if store.uri_prefix not in t.xks_stores:
            return
        if self._id_taken(t, store):
            raise DuplicateError(store.access_key_id)
        t.xks_stores[store.uri_prefix] = store
        t.changes += 1

    def delete_xks_store(self, uri_prefix: str) -> None:
        t = self._view()
        if t.xks_stores.pop(uri_prefix, None) is None:
            return
        t.changes += 1
        for ref in [r for r in t.xks_exposures if r[0] == uri_prefix]:
            del t.xks_exposures[ref]

    def put_xks_exposure(self, exposure: XksExposure) -> None:
        t = self._view()
        if exposure.uri_prefix not in t.xks_stores:
            raise ValueError(f"no XKS key store {exposure.uri_prefix}")
        t.xks_exposures[(exposure.uri_prefix, exposure.key_id)] = exposure
        t.changes += 1

    def delete_xks_exposure(self, uri_prefix: str, key_id: KeyId) -> None:
        t = self._view()
        if t.xks_exposures.pop((uri_prefix, key_id), None) is not None:
            t.changes += 1
