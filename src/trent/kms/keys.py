"""Domain records: KMS keys, aliases, tags, access keys (frozen dataclasses; the store persists them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from trent.kms.ids import AccountId, AliasArn, AliasName, KeyArn, KeyId, Region, alias_arn, key_arn
from trent.kms.specs import KEY_SPECS, ExpirationModel, KeySpec, KeyState, KeyUsage, Origin, SpecInfo


@dataclass(frozen=True, slots=True)
class Key:
    """A KMS key's metadata. Material lives elsewhere, per version, wrapped by the root of trust.

    `revision` grows by one on every change (compare-and-set in the store); `policy_revision` only when
    the key policy changes, so compiled policies can be cached by it.
    """

    key_id: KeyId
    account: AccountId
    region: Region
    spec: KeySpec
    usage: KeyUsage
    origin: Origin
    state: KeyState
    creation_date: datetime
    description: str = ""
    deletion_date: datetime | None = None
    pending_window_days: int | None = None
    current_version: int = 1
    revision: int = 1
    policy_revision: int = 1
    multi_region: bool = False
    valid_to: datetime | None = None
    expiration_model: ExpirationModel | None = None
    rotation_period_days: int | None = None
    next_rotation_date: datetime | None = None
    on_demand_rotation_start: datetime | None = None

    @property
    def arn(self) -> KeyArn:
        return key_arn(self.region, self.account, self.key_id)

    @property
    def info(self) -> SpecInfo:
        return KEY_SPECS[self.spec]

    @property
    def enabled(self) -> bool:
        return self.state is KeyState.ENABLED

    def evolve(self, **changes: Any) -> Key:
        """A copy with `changes` applied and the revision advanced (the store compares-and-sets on it)."""
        return replace(self, revision=self.revision + 1, **changes)


@dataclass(frozen=True, slots=True)
class MaterialVersion:
    """One version of a key's material: made at creation (rotation_type None) or by a rotation."""

    key_id: KeyId
    version: int
    created: datetime
    rotation_type: str | None  # "AUTOMATIC" or "ON_DEMAND" (AWS's RotationType)


@dataclass(frozen=True, slots=True)
class Alias:
    account: AccountId
    region: Region
    name: AliasName
    target_key_id: KeyId
    creation_date: datetime
    last_updated_date: datetime

    @property
    def arn(self) -> AliasArn:
        return alias_arn(self.region, self.account, self.name)


@dataclass(frozen=True, slots=True)
class Tag:
    tag_key: str
    tag_value: str


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An access key: id, the principal it authenticates as, and its secret wrapped by the root of trust."""

    access_key_id: str
    account: AccountId
    principal_arn: str
    wrapped_secret: bytes = field(repr=False)
    created: datetime
    active: bool = True


@dataclass(frozen=True, slots=True)
class Account:
    account: AccountId
    created: datetime


@dataclass(frozen=True, slots=True)
class User:
    """An IAM-style user. `policy` is its identity policy document (one per user), None when it has none."""

    arn: str
    account: AccountId
    name: str
    created: datetime
    policy: str | None = None
    policy_revision: int = 0


@dataclass(frozen=True, slots=True)
class GrantConstraints:
    encryption_context_subset: Mapping[str, str] | None = None
    encryption_context_equals: Mapping[str, str] | None = None
    source_arn: str | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    key_id: KeyId
    grantee_principal: str
    operations: tuple[str, ...]  # GrantOperation values
    issuing_account: AccountId
    created: datetime
    name: str | None = None
    retiring_principal: str | None = None
    constraints: GrantConstraints | None = None
