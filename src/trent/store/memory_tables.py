"""The in-memory store's tables, and the port's reads and writes over one version of them (store/memory.py
says how versions are made, published and locked)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from types import MappingProxyType
from typing import TypeVar

from trent.kms.ids import AccountId, AliasName, KeyId, Region, related_id_range
from trent.kms.keys import (
    AccessKey,
    Account,
    Alias,
    Grant,
    GrantConstraints,
    ImportParameters,
    Key,
    MaterialVersion,
    Tag,
    User,
)
from trent.kms.keystores import CustomKeyStore, HsmCluster
from trent.kms.specs import KeyState
from trent.kms.xks import XksExposure, XksKeyStore
from trent.store.base import AliasRef, ConflictError, DuplicateError, Page
from trent.store.memory_keystores import KeyStoreReads, KeyStoreWrites
from trent.store.memory_materials import MaterialReads, MaterialWrites
from trent.store.memory_xks import XksReads, XksWrites

_T = TypeVar("_T")


@dataclass(slots=True)
class Tables:
    """One version of everything stored. `changes` counts the rows that writes touched, as SQLite's
    total_changes does, so a unit can tell whether it wrote."""

    keys: dict[KeyId, Key] = field(default_factory=dict)
    materials: dict[tuple[KeyId, int], tuple[MaterialVersion, bytes | None]] = field(default_factory=dict)
    policies: dict[KeyId, str] = field(default_factory=dict)
    tags: dict[tuple[KeyId, str], str] = field(default_factory=dict)
    aliases: dict[AliasRef, Alias] = field(default_factory=dict)
    access_keys: dict[str, AccessKey] = field(default_factory=dict)
    accounts: dict[AccountId, Account] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    imports: dict[KeyId, ImportParameters] = field(default_factory=dict)
    hsm_clusters: dict[str, HsmCluster] = field(default_factory=dict)
    key_stores: dict[str, CustomKeyStore] = field(default_factory=dict)
    outbox: dict[str, bytes] = field(default_factory=dict)  # insertion order is the outbox's order
    xks_stores: dict[str, XksKeyStore] = field(default_factory=dict)
    xks_exposures: dict[tuple[str, KeyId], XksExposure] = field(default_factory=dict)
    changes: int = 0

    def copy(self) -> Tables:
        # Shallow copies suffice: every record is frozen.
        copied = {f.name: dict(getattr(self, f.name)) for f in fields(self) if f.name != "changes"}
        return Tables(**copied, changes=self.changes)


def _page(items: list[_T], marker: Callable[[_T], str], limit: int) -> Page[_T]:
    """A page of `limit` from `items` (read one past it): the marker is the last one's id when more follow."""
    kept = tuple(items[:limit])
    return Page(kept, marker(kept[-1]) if len(items) > limit else None)


def _frozen_grant(grant: Grant) -> Grant:
    """A grant whose constraint mappings are private read-only copies, so no caller can change a stored one."""
    c = grant.constraints
    if c is None:
        return grant

    def frozen(m: Mapping[str, str] | None) -> Mapping[str, str] | None:
        return None if m is None else MappingProxyType(dict(m))

    constraints = GrantConstraints(
        frozen(c.encryption_context_subset), frozen(c.encryption_context_equals), c.source_arn
    )
    return replace(grant, operations=tuple(grant.operations), constraints=constraints)


class Reads(KeyStoreReads, MaterialReads, XksReads):
    """Every read, over the tables `_view()` returns (taken once per call, so each read sees one version)."""

    def _view(self) -> Tables:
        raise NotImplementedError

    def get_key(self, key_id: KeyId) -> Key | None:
        return self._view().keys.get(key_id)

    def get_keys(self, key_ids: Sequence[KeyId]) -> Mapping[KeyId, Key]:
        keys = self._view().keys
        return {i: keys[i] for i in key_ids if i in keys}

    def list_keys(self, account: AccountId, region: Region, after: str | None, limit: int) -> Page[Key]:
        keys = sorted(
            (k for k in self._view().keys.values() if (k.account, k.region) == (account, region)),
            key=_id,
        )
        return _page([k for k in keys if k.store_id > (after or "")][: limit + 1], _id, limit)

    def related_keys(self, key_id: KeyId) -> tuple[Key, ...]:
        low, high = related_id_range(key_id)
        return tuple(sorted((k for i, k in self._view().keys.items() if low <= i < high), key=_id))

    def keys_due_for_rotation(self, now: datetime) -> tuple[Key, ...]:
        keys = self._view().keys.values()
        return tuple(sorted((k for k in keys if k.next_rotation_date and k.next_rotation_date <= now), key=_id))

    def keys_due_for_deletion(self, now: datetime) -> tuple[Key, ...]:
        due = (
            k
            for k in self._view().keys.values()
            if k.state is KeyState.PENDING_DELETION and k.deletion_date is not None and k.deletion_date <= now
        )
        return tuple(sorted(due, key=_id))

    def get_policy(self, key_id: KeyId) -> str | None:
        return self._view().policies.get(key_id)

    def get_tags(self, key_id: KeyId) -> tuple[Tag, ...]:
        return tuple(Tag(t, v) for (k, t), v in sorted(self._view().tags.items()) if k == key_id)

    def get_alias(self, account: AccountId, region: Region, name: AliasName) -> Alias | None:
        return self._view().aliases.get((account, region, name))

    def get_aliases(self, refs: Sequence[AliasRef]) -> Mapping[AliasRef, Alias]:
        aliases = self._view().aliases
        return {r: aliases[r] for r in refs if r in aliases}

    def list_aliases(
        self, account: AccountId, region: Region, key_id: KeyId | None, after: str | None, limit: int
    ) -> Page[Alias]:
        aliases = sorted(
            (
                a
                for (acct, reg, name), a in self._view().aliases.items()
                if (acct, reg) == (account, region) and name > (after or "")
                if key_id is None or a.target_key_id == key_id
            ),
            key=lambda a: a.name,
        )
        return _page(aliases[: limit + 1], lambda a: a.name, limit)

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        return self._view().access_keys.get(access_key_id)

    def list_access_keys(self, account: AccountId | None) -> tuple[AccessKey, ...]:
        records = sorted(self._view().access_keys.values(), key=lambda a: a.access_key_id)
        return tuple(a for a in records if account is None or a.account == account)

    def get_account(self, account: AccountId) -> Account | None:
        return self._view().accounts.get(account)

    def list_accounts(self) -> tuple[Account, ...]:
        return tuple(sorted(self._view().accounts.values(), key=lambda a: a.account))

    def get_user(self, arn: str) -> User | None:
        return self._view().users.get(arn)

    def list_users(self, account: AccountId | None) -> tuple[User, ...]:
        users = sorted(self._view().users.values(), key=lambda u: u.arn)
        return tuple(u for u in users if account is None or u.account == account)

    def count_keys(self, account: AccountId) -> int:
        return sum(1 for k in self._view().keys.values() if k.account == account)

    def is_empty(self) -> bool:
        t = self._view()
        return not (t.accounts or t.users or t.access_keys or t.keys)

    def get_grant(self, grant_id: str) -> Grant | None:
        return self._view().grants.get(grant_id)

    def list_grants(self, key_id: KeyId) -> tuple[Grant, ...]:
        return tuple(sorted((g for g in self._view().grants.values() if g.key_id == key_id), key=_grant_id))

    def list_retirable_grants(self, retiring_principal: str, after: str | None, limit: int) -> Page[Grant]:
        grants = sorted(
            (
                g
                for g in self._view().grants.values()
                if g.retiring_principal == retiring_principal and g.grant_id > (after or "")
            ),
            key=_grant_id,
        )
        return _page(grants[: limit + 1], _grant_id, limit)


def _id(key: Key) -> str:
    return key.store_id


def _grant_id(grant: Grant) -> str:
    return grant.grant_id


class Work:
    """The tables a transaction (or a begun unit) writes; a failed block inside a unit swaps in its copy."""

    __slots__ = ("tables",)

    def __init__(self, tables: Tables) -> None:
        self.tables = tables


class MemoryTransaction(KeyStoreWrites, MaterialWrites, Reads, XksWrites):
    """Writes into the working tables. Where SQLite's schema refuses a row that names no key (a foreign key),
    this raises ValueError; DuplicateError and ConflictError where the port says."""

    def __init__(self, work: Work) -> None:
        self._work = work

    def _view(self) -> Tables:
        return self._work.tables

    def _need_key(self, t: Tables, key_id: KeyId) -> None:
        if key_id not in t.keys:
            raise ValueError(f"no key {key_id}")

    def insert_key(self, key: Key, wrapped_material: bytes | None, policy: str, tags: Sequence[Tag]) -> None:
        t = self._view()
        if key.store_id in t.keys:
            raise DuplicateError(key.store_id)
        t.keys[key.store_id] = key
        t.changes += 1
        if wrapped_material is not None:
            first = MaterialVersion(key.store_id, key.current_version, key.creation_date, None)
            self.add_material(first, wrapped_material)
        t.policies[key.store_id] = policy
        t.changes += 1
        self.put_tags(key.store_id, tags)

    def update_key(self, key: Key, expected_revision: int) -> None:
        t = self._view()
        stored = t.keys.get(key.store_id)
        if stored is None or stored.revision != expected_revision:
            raise ConflictError(key.store_id)
        t.keys[key.store_id] = key
        t.changes += 1

    def delete_key(self, key_id: KeyId) -> None:
        t = self._view()
        if t.keys.pop(key_id, None) is None:
            return
        t.changes += 1
        t.policies.pop(key_id, None)
        for version in [v for v in t.materials if v[0] == key_id]:
            del t.materials[version]
        for tag in [r for r in t.tags if r[0] == key_id]:
            del t.tags[tag]
        for ref in [r for r, a in t.aliases.items() if a.target_key_id == key_id]:
            del t.aliases[ref]
        for grant_id in [g.grant_id for g in t.grants.values() if g.key_id == key_id]:
            del t.grants[grant_id]
        t.imports.pop(key_id, None)

    def rewrap_secret(self, access_key_id: str, old: bytes, new: bytes) -> bool:
        t = self._view()
        found = t.access_keys.get(access_key_id)
        if found is None or found.wrapped_secret != old:
            return False
        t.access_keys[access_key_id] = replace(found, wrapped_secret=bytes(new))
        t.changes += 1
        return True

    def put_policy(self, key_id: KeyId, policy: str) -> None:
        t = self._view()
        if key_id in t.policies:
            t.policies[key_id] = policy
            t.changes += 1

    def put_tags(self, key_id: KeyId, tags: Sequence[Tag]) -> None:
        t = self._view()
        if tags:
            self._need_key(t, key_id)
        for tag in tags:
            t.tags[(key_id, tag.tag_key)] = tag.tag_value
            t.changes += 1

    def delete_tags(self, key_id: KeyId, tag_keys: Sequence[str]) -> None:
        t = self._view()
        for tag_key in tag_keys:
            if t.tags.pop((key_id, tag_key), None) is not None:
                t.changes += 1

    def insert_alias(self, alias: Alias) -> None:
        t = self._view()
        ref = (alias.account, alias.region, alias.name)
        if ref in t.aliases:
            raise DuplicateError(alias.name)
        self._need_key(t, alias.target_key_id)
        t.aliases[ref] = alias
        t.changes += 1

    def update_alias(self, alias: Alias) -> None:
        # As SQLite's UPDATE: the target and the last-updated date change; the creation date stays.
        t = self._view()
        ref = (alias.account, alias.region, alias.name)
        stored = t.aliases.get(ref)
        if stored is None:
            return
        self._need_key(t, alias.target_key_id)
        t.aliases[ref] = replace(stored, target_key_id=alias.target_key_id, last_updated_date=alias.last_updated_date)
        t.changes += 1

    def delete_alias(self, account: AccountId, region: Region, name: AliasName) -> None:
        t = self._view()
        if t.aliases.pop((account, region, name), None) is not None:
            t.changes += 1

    def put_access_key(self, access_key: AccessKey) -> None:
        t = self._view()
        if access_key.access_key_id in t.access_keys:
            raise DuplicateError(access_key.access_key_id)
        t.access_keys[access_key.access_key_id] = access_key
        t.changes += 1

    def set_access_key_active(self, access_key_id: str, active: bool) -> None:
        t = self._view()
        stored = t.access_keys.get(access_key_id)
        if stored is not None:
            t.access_keys[access_key_id] = replace(stored, active=active)
            t.changes += 1

    def delete_access_key(self, access_key_id: str) -> None:
        t = self._view()
        if t.access_keys.pop(access_key_id, None) is not None:
            t.changes += 1

    def delete_user(self, arn: str) -> None:
        t = self._view()
        if t.users.pop(arn, None) is not None:
            t.changes += 1

    def delete_account(self, account: AccountId) -> None:
        t = self._view()
        if t.accounts.pop(account, None) is not None:
            t.changes += 1

    def put_account(self, account: Account) -> None:
        t = self._view()
        if account.account not in t.accounts:
            t.accounts[account.account] = account
            t.changes += 1

    def insert_user(self, user: User) -> None:
        t = self._view()
        if user.arn in t.users or any((u.account, u.name) == (user.account, user.name) for u in t.users.values()):
            raise DuplicateError(user.arn)
        t.users[user.arn] = user
        t.changes += 1

    def put_user_policy(self, arn: str, policy: str | None) -> None:
        t = self._view()
        stored = t.users.get(arn)
        if stored is not None:
            t.users[arn] = replace(stored, policy=policy, policy_revision=stored.policy_revision + 1)
            t.changes += 1

    def insert_grant(self, grant: Grant) -> None:
        t = self._view()
        self._need_key(t, grant.key_id)
        if grant.grant_id in t.grants:
            raise DuplicateError(grant.grant_id)
        t.grants[grant.grant_id] = _frozen_grant(grant)
        t.changes += 1

    def delete_grant(self, grant_id: str) -> None:
        t = self._view()
        if t.grants.pop(grant_id, None) is not None:
            t.changes += 1

    def delete_outbox(self, event_ids: Sequence[str]) -> None:
        t = self._view()
        for event_id in event_ids:
            if t.outbox.pop(event_id, None) is not None:
                t.changes += 1

    def wipe(self) -> None:
        t = self._view()
        for table in (t.keys, t.materials, t.policies, t.tags, t.aliases, t.access_keys, t.accounts, t.users):
            t.changes += len(table)
            table.clear()
        for xks_table in (t.xks_stores, t.xks_exposures):
            t.changes += len(xks_table)
            xks_table.clear()
        t.grants.clear()
        t.imports.clear()
        t.changes += len(t.key_stores)
        t.key_stores.clear()
