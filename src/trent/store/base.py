"""The store port: persistence of keys, material, policies, tags, aliases and access keys.

The store is untrusted storage: key material and secrets reach it only wrapped by the root of trust.
Reads on a Store are fresh (each sees every commit that returned before it started); writes happen in a
Transaction, which is atomic and serialized against other writers (also in other processes or nodes).
Updates of a key are compare-and-set on its revision: ConflictError when someone else changed it first.
A Unit groups the transactions of one request with the audit record of what they changed (the outbox): they
commit as one, or not at all (docs/decisions/0009-audit-atomicity.md). Each key's latest successful use
(GetKeyLastUsage) is kept here too, recorded by the audit writers once a use is chained.

The many-record reads (get_keys, get_aliases) are for a per-node batcher: it gathers the requests that arrived
while its last flush ran and reads their keys in one statement that starts after every one of them arrived,
so each request still sees every commit that returned before it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeAlias, TypeVar

from trent.kms.ids import AccountId, AliasName, KeyId, Region
from trent.kms.keys import AccessKey, Account, Alias, Grant, ImportParameters, Key, MaterialVersion, Tag, User
from trent.kms.keystores import CustomKeyStore, HsmCluster
from trent.kms.xks import XksExposure, XksKeyStore


class ConflictError(Exception):
    """A compare-and-set lost: the record changed since it was read. The caller may re-read and retry."""


class DuplicateError(Exception):
    """An insert collided with an existing record (same alias name, same access key id, ...)."""


class SchemaTooNewError(Exception):
    """The database was migrated by a newer Trent: this one refuses to touch a schema it does not know."""

    def __init__(self, database: str, found: int, known: int) -> None:
        super().__init__(
            f"the {database} has schema version {found}, newer than this Trent knows ({known}): run a newer Trent"
        )
        self.found, self.known = found, known


T = TypeVar("T")

# Where an alias lives: its name is unique within an account and region.
AliasRef: TypeAlias = tuple[AccountId, Region, AliasName]
# One material version as stored: (key id, version, the root of trust's wrapped bytes).
WrappedRow: TypeAlias = tuple[KeyId, int, bytes]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_marker: str | None


@dataclass(frozen=True, slots=True)
class KeyUse:
    """A successful cryptographic use of a key, as GetKeyLastUsage reports it."""

    key_arn: str
    when: datetime
    operation: str
    event_id: str  # the CloudTrail event id of the use's audit record
    request_id: str


class Reader(Protocol):
    """Reads, valid inside and outside a transaction."""

    def get_key(self, key_id: KeyId) -> Key | None: ...

    def get_keys(self, key_ids: Sequence[KeyId]) -> Mapping[KeyId, Key]:
        """The keys of `key_ids` that exist, read together (a statement per few hundred ids, not one per id),
        as fresh as get_key; absent ids are missing from the answer."""
        ...

    def list_keys(self, account: AccountId, region: Region, after: str | None, limit: int) -> Page[Key]: ...

    def related_keys(self, key_id: KeyId) -> tuple[Key, ...]:
        """Every key of the multi-Region key id `key_id` (`mrk-...`), in each region it is in, by store id: its
        primary and its replicas, which share the key id (the store knows each by Key.store_id)."""
        ...

    def get_material(self, key_id: KeyId, version: int) -> bytes | None:
        """The wrapped bytes of a version; None when there is no such version or its imported bytes are gone."""
        ...

    def list_materials(self, key_id: KeyId) -> tuple[MaterialVersion, ...]:
        """Every version of the key's material, oldest first, those whose imported bytes are gone included."""
        ...

    def materials_due_for_expiry(self, now: datetime) -> tuple[MaterialVersion, ...]:
        """Imported material still present whose ValidTo is `now` or earlier, of every key, by key and version."""
        ...

    def get_import_parameters(self, key_id: KeyId) -> ImportParameters | None:
        """The key's latest GetParametersForImport set, if it has one (used up, replaced or deleted: none)."""
        ...

    def list_import_parameters(self) -> tuple[ImportParameters, ...]:
        """Every key's import set, by key id (the root key re-wrapping batch: one per EXTERNAL key at most)."""
        ...

    def list_wrapped_materials(self, after: tuple[KeyId, int] | None, limit: int) -> tuple[WrappedRow, ...]:
        """Up to `limit` material versions of every key, with their wrapped bytes, in (key id, version) order
        after `after`: the pages a root-key rotation walks to re-wrap each one."""
        ...

    def keys_due_for_rotation(self, now: datetime) -> tuple[Key, ...]: ...

    def get_policy(self, key_id: KeyId) -> str | None: ...

    def get_tags(self, key_id: KeyId) -> tuple[Tag, ...]: ...

    def get_alias(self, account: AccountId, region: Region, name: AliasName) -> Alias | None: ...

    def get_aliases(self, refs: Sequence[AliasRef]) -> Mapping[AliasRef, Alias]:
        """The aliases of `refs` that exist, read together, as get_keys; absent ones are missing."""
        ...

    def list_aliases(
        self, account: AccountId, region: Region, key_id: KeyId | None, after: str | None, limit: int
    ) -> Page[Alias]: ...

    def get_access_key(self, access_key_id: str) -> AccessKey | None: ...

    def list_access_keys(self, account: AccountId | None) -> tuple[AccessKey, ...]: ...

    def keys_due_for_deletion(self, now: datetime) -> tuple[Key, ...]: ...

    def get_account(self, account: AccountId) -> Account | None: ...

    def list_accounts(self) -> tuple[Account, ...]: ...

    def get_user(self, arn: str) -> User | None: ...

    def list_users(self, account: AccountId | None) -> tuple[User, ...]: ...

    def count_keys(self, account: AccountId) -> int:
        """The account's keys in every region, pending deletion included."""
        ...

    def is_empty(self) -> bool:
        """True when no account, user, access key or key was ever stored (or all were deleted)."""
        ...

    def get_grant(self, grant_id: str) -> Grant | None: ...

    def list_grants(self, key_id: KeyId) -> tuple[Grant, ...]: ...

    def list_retirable_grants(self, retiring_principal: str, after: str | None, limit: int) -> Page[Grant]: ...

    # -- custom key stores (kms/keystores.py) --------------------------------------------------------------
    def get_hsm_cluster(self, cluster_id: str) -> HsmCluster | None: ...

    def list_hsm_clusters(self) -> tuple[HsmCluster, ...]:
        """Every registered cluster, by cluster id."""
        ...

    def get_custom_key_store(self, custom_key_store_id: str) -> CustomKeyStore | None:
        """As fresh as get_key: a connection state change that returned is seen by the next read anywhere."""
        ...

    def list_custom_key_stores(self, account: AccountId | None, region: Region | None) -> tuple[CustomKeyStore, ...]:
        """The stores of an account and region (None: of every account or region), by custom key store id."""
        ...

    def count_keys_in_custom_key_store(self, custom_key_store_id: str) -> int:
        """The keys whose material the store holds, pending deletion included."""
        ...

    # XKS proxy (docs/xks.md): logical key stores by URI prefix, and the Trent keys exposed to each
    def get_xks_store(self, uri_prefix: str) -> XksKeyStore | None: ...

    def list_xks_stores(self) -> tuple[XksKeyStore, ...]:
        """Every logical key store, by URI prefix."""
        ...

    def get_xks_exposure(self, uri_prefix: str, key_id: KeyId) -> XksExposure | None: ...

    def list_xks_exposures(self, uri_prefix: str) -> tuple[XksExposure, ...]:
        """The store's exposures, by key id."""
        ...


class Transaction(Reader, Protocol):
    """Writes. Leaving the `with` block normally commits durably; an exception rolls back."""

    def insert_key(self, key: Key, wrapped_material: bytes | None, policy: str, tags: Sequence[Tag]) -> None:
        """A new key with its first material version (key.current_version), or with no material at all (None:
        a key of Origin EXTERNAL, waiting for its material to be imported)."""
        ...

    def update_key(self, key: Key, expected_revision: int) -> None: ...

    def delete_key(self, key_id: KeyId) -> None:
        """Destroy a key: its row, every material version, policy, tags, aliases, grants and import parameters."""
        ...

    def add_material(self, material: MaterialVersion, wrapped_material: bytes) -> None:
        """A new version (DuplicateError if the key has it already)."""
        ...

    def put_material(self, material: MaterialVersion, wrapped_material: bytes | None) -> None:
        """Store a version of imported material, inserting it or replacing its record and bytes. None: its bytes
        are gone (deleted or expired), its record stays; `material.imported` must say the same."""
        ...

    def delete_material(self, key_id: KeyId, version: int) -> None:
        """Forget a version entirely, record and bytes (imported material that was pending rotation)."""
        ...

    def put_import_parameters(self, parameters: ImportParameters) -> None:
        """Store the key's GetParametersForImport set, replacing any it had."""
        ...

    def delete_import_parameters(self, key_id: KeyId) -> None: ...

    def rewrap_material(self, key_id: KeyId, version: int, old: bytes, new: bytes) -> bool:
        """Store `new` as the wrapped bytes of a material version if they still are `old` (compare-and-set);
        False when they changed or the version is gone. Only the wrapping changes: the material is the same."""
        ...

    def put_policy(self, key_id: KeyId, policy: str) -> None: ...

    def put_tags(self, key_id: KeyId, tags: Sequence[Tag]) -> None: ...

    def delete_tags(self, key_id: KeyId, tag_keys: Sequence[str]) -> None: ...

    def insert_alias(self, alias: Alias) -> None: ...

    def update_alias(self, alias: Alias) -> None: ...

    def delete_alias(self, account: AccountId, region: Region, name: AliasName) -> None: ...

    def put_access_key(self, access_key: AccessKey) -> None: ...

    def set_access_key_active(self, access_key_id: str, active: bool) -> None: ...

    def rewrap_secret(self, access_key_id: str, old: bytes, new: bytes) -> bool:
        """As rewrap_material, for an access key's wrapped secret."""
        ...

    def delete_access_key(self, access_key_id: str) -> None: ...

    def delete_user(self, arn: str) -> None: ...

    def delete_account(self, account: AccountId) -> None: ...

    def put_account(self, account: Account) -> None:
        """Insert the account if it is new; an existing one is left as it is."""
        ...

    def insert_user(self, user: User) -> None: ...

    def put_user_policy(self, arn: str, policy: str | None) -> None: ...

    def insert_grant(self, grant: Grant) -> None: ...

    def delete_grant(self, grant_id: str) -> None: ...

    def insert_hsm_cluster(self, cluster: HsmCluster) -> None:
        """Register a cluster (DuplicateError if its id is registered)."""
        ...

    def delete_hsm_cluster(self, cluster_id: str) -> None: ...

    def insert_custom_key_store(self, store: CustomKeyStore) -> None:
        """A new store (DuplicateError if its id, or its name in its account and region, is taken)."""
        ...

    def update_custom_key_store(self, store: CustomKeyStore, expected_revision: int) -> None:
        """Compare-and-set on the revision (ConflictError); DuplicateError if its new name is taken."""
        ...

    def delete_custom_key_store(self, custom_key_store_id: str) -> None: ...

    def delete_outbox(self, event_ids: Sequence[str]) -> None:
        """Forget outbox rows (once the audit chain holds them)."""
        ...

    def wipe(self) -> None:
        """Forget every key (with its material, policy, tags, aliases, grants and import parameters), access key,
        user, account, custom key store and XKS key store (with its exposures): the empty state a dev server's
        reset starts from. Blobs (the root of trust's check value, the audit chain's anchor), the registered HSM
        clusters, the audit outbox and the key uses stay (a token's key objects too: a wipe never reaches a
        token)."""
        ...

    def insert_xks_store(self, store: XksKeyStore) -> None:
        """A new logical key store (DuplicateError: its URI prefix, or its access key id, is taken)."""
        ...

    def update_xks_store(self, store: XksKeyStore) -> None:
        """Replace the stored record of `store.uri_prefix` (credentials, enabled); nothing if there is none.
        DuplicateError if its new access key id is another store's."""
        ...

    def delete_xks_store(self, uri_prefix: str) -> None:
        """Forget the store and every exposure to it."""
        ...

    def put_xks_exposure(self, exposure: XksExposure) -> None:
        """Insert or replace the exposure of (uri prefix, key id); ValueError if there is no such store."""
        ...

    def delete_xks_exposure(self, uri_prefix: str, key_id: KeyId) -> None: ...


class Unit(Protocol):
    """The writes of one request and its audit record, made durable together or not at all.

    Inside `with store.unit()`, every `transaction()` joins one database transaction, begun by the first
    of them (so work done before it holds no lock) and committed when the unit ends normally; an exception
    rolls all of it back. Each transaction block stays atomic on its own: one that raises undoes only itself.
    """

    def wrote(self) -> bool:
        """Whether a transaction of this unit changed anything (so it has a record to journal)."""
        ...

    def journal(self, event_id: str, row: bytes) -> None:
        """Add the audit record of this unit's changes to the outbox, in the same commit. Only if wrote()."""
        ...


class Store(Reader, Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]: ...

    def unit(self) -> AbstractContextManager[Unit]: ...

    def outbox(self, limit: int) -> tuple[tuple[str, bytes], ...]:
        """Up to `limit` journaled audit records not yet forgotten, oldest first: (event id, row)."""
        ...

    def get_blob(self, name: str) -> bytes | None:
        """An opaque record that another component authenticates itself (the audit chain's anchor)."""
        ...

    def update_blob(self, name: str, change: Callable[[bytes | None], bytes | None]) -> bytes | None:
        """Store `change(old)` unless it returns None, atomically, in a transaction of its own (never inside
        one, nor inside a unit's); return what is stored afterwards."""
        ...

    def record_key_uses(self, uses: Sequence[KeyUse]) -> None:
        """Keep each key's latest use: of `uses` and what is stored, the later (by time; a tie: the one given).

        A commit of its own, outside any transaction or unit, and no invalidation of cached reads. The uses
        are advisory, so an adapter may make them durable lazily: a crash may lose the latest ones (then
        GetKeyLastUsage answers an earlier use), never mix two uses into one.
        """
        ...

    def key_last_use(self, key_arn: str) -> KeyUse | None:
        """The latest use recorded for the key (fresh: it sees every record_key_uses that returned)."""
        ...

    def key_use_tracking_start(self) -> datetime | None:
        """Since when this store records key uses (GetKeyLastUsage's TrackingStartDate); None: unknown."""
        ...

    def close(self) -> None: ...
