"""The in-memory store's custom key stores and HSM clusters (memory_tables.py has the tables)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trent.kms.ids import AccountId, Region
from trent.kms.keystores import CustomKeyStore, HsmCluster
from trent.store.base import ConflictError, DuplicateError

if TYPE_CHECKING:
    from trent.store.memory_tables import Tables


class KeyStoreReads:
    def _view(self) -> Tables:
        raise NotImplementedError

    def get_hsm_cluster(self, cluster_id: str) -> HsmCluster | None:
        return self._view().hsm_clusters.get(cluster_id)

    def list_hsm_clusters(self) -> tuple[HsmCluster, ...]:
        clusters = self._view().hsm_clusters
        return tuple(clusters[c] for c in sorted(clusters))

    def get_custom_key_store(self, custom_key_store_id: str) -> CustomKeyStore | None:
        return self._view().key_stores.get(custom_key_store_id)

    def list_custom_key_stores(self, account: AccountId | None, region: Region | None) -> tuple[CustomKeyStore, ...]:
        stores = self._view().key_stores
        return tuple(
            stores[i]
            for i in sorted(stores)
            if account in (None, stores[i].account) and region in (None, stores[i].region)
        )

    def count_keys_in_custom_key_store(self, custom_key_store_id: str) -> int:
        return sum(1 for k in self._view().keys.values() if k.custom_key_store_id == custom_key_store_id)


class KeyStoreWrites(KeyStoreReads):
    def insert_hsm_cluster(self, cluster: HsmCluster) -> None:
        t = self._view()
        if cluster.cluster_id in t.hsm_clusters:
            raise DuplicateError(cluster.cluster_id)
        t.hsm_clusters[cluster.cluster_id] = cluster
        t.changes += 1

    def delete_hsm_cluster(self, cluster_id: str) -> None:
        t = self._view()
        if t.hsm_clusters.pop(cluster_id, None) is not None:
            t.changes += 1

    def _name_taken(self, t: Tables, store: CustomKeyStore) -> bool:
        return any(
            (s.account, s.region, s.name) == (store.account, store.region, store.name)
            and s.custom_key_store_id != store.custom_key_store_id
            for s in t.key_stores.values()
        )

    def insert_custom_key_store(self, store: CustomKeyStore) -> None:
        t = self._view()
        if store.custom_key_store_id in t.key_stores or self._name_taken(t, store):
            raise DuplicateError(store.custom_key_store_id)
        t.key_stores[store.custom_key_store_id] = store
        t.changes += 1

    def update_custom_key_store(self, store: CustomKeyStore, expected_revision: int) -> None:
        t = self._view()
        stored = t.key_stores.get(store.custom_key_store_id)
        if stored is None or stored.revision != expected_revision:
            raise ConflictError(store.custom_key_store_id)
        if self._name_taken(t, store):
            raise DuplicateError(store.name)
        t.key_stores[store.custom_key_store_id] = store
        t.changes += 1

    def delete_custom_key_store(self, custom_key_store_id: str) -> None:
        t = self._view()
        if t.key_stores.pop(custom_key_store_id, None) is not None:
            t.changes += 1
