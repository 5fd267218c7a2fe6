"""Domain records: KMS keys, aliases, tags, access keys (frozen dataclasses; the store persists them).

A record that names a key (MaterialVersion, ImportParameters, Alias, Grant) names it by the id the store knows
it by (Key.store_id): the key id, or for a multi-Region key the key id and region (kms/ids.py regional_key_id).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from trent.kms.ids import (
    AccountId,
    AliasArn,
    AliasName,
    KeyArn,
    KeyId,
    Region,
    alias_arn,
    key_arn,
    regional_key_id,
)
from trent.kms.specs import (
    KEY_SPECS,
    ExpirationModel,
    KeySpec,
    KeyState,
    KeyUsage,
    Origin,
    SpecInfo,
    WrappingAlgorithm,
    WrappingKeySpec,
)

# A first revision is random below 2**62: SQLite INTEGER and PostgreSQL bigint hold it and every increment.
_FIRST_REVISION_BITS = 62


def first_revision() -> int:
    """A new key record's first revision (and first policy revision): random, so (key id, revision) never
    names two records, even for a key id deleted and made again; ops caches parsed records by it."""
    return secrets.randbits(_FIRST_REVISION_BITS) + 1


@dataclass(frozen=True, slots=True)
class Key:
    """A KMS key's metadata. Material lives elsewhere, per version, wrapped by the root of trust.

    `revision` grows by one on every change (compare-and-set in the store); `policy_revision` only when
    the key policy changes, so compiled policies can be cached by it. Both start from first_revision(), never
    from a constant, so a key id made again (a deleted replica replicated again, a dev reset's seeded key, an
    imported key id) never repeats a (key, revision) that a worker's cache holds for the record before it.

    `material_ids`: for a key with imported material (Origin EXTERNAL), the KeyMaterialId of each version,
    version 1 first. AWS derives an imported material's id from the key id and the material, so it cannot be
    computed from the version as a generated material's is; the key record carries them, so every answer that
    names a version's id (Decrypt, GenerateDataKey, DescribeKey) needs no read. Empty for generated material.
    `primary_region`: for a multi-Region key (key id `mrk-...`), the region of its primary key (this key's own
    region when it is the primary); None for a single-Region key. The store knows each of the related keys by
    `store_id` (kms/ids.py regional_key_id), as they share one key id.
    `custom_key_store_id`: the custom key store whose token holds the key's material (Origin AWS_CLOUDHSM);
    such a key has no material version in the store at all (kms/keystores.py); a key in an external key store
    (Origin EXTERNAL_KEY_STORE) has its Trent material and `xks_key_id`, the proxy's external key (XksKeyId).
    `valid_to` and `expiration_model` are DescribeKey's: the earliest expiry of the imported material
    permanently associated with the key (every version up to the current one), and whether any expires.
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
    revision: int = field(default_factory=first_revision)
    policy_revision: int = field(default_factory=first_revision)
    multi_region: bool = False
    valid_to: datetime | None = None
    expiration_model: ExpirationModel | None = None
    rotation_period_days: int | None = None
    next_rotation_date: datetime | None = None
    on_demand_rotation_start: datetime | None = None
    material_ids: tuple[str, ...] = ()
    primary_region: Region | None = None
    custom_key_store_id: str | None = None
    xks_key_id: str | None = None

    @property
    def arn(self) -> KeyArn:
        return key_arn(self.region, self.account, self.key_id)

    @property
    def store_id(self) -> KeyId:
        """The id the store knows this key by: its key id, or for a multi-Region key the key id and region."""
        return regional_key_id(self.key_id, self.region)

    @property
    def is_replica(self) -> bool:
        """A multi-Region replica key (its primary is in another region)."""
        return self.primary_region is not None and self.primary_region != self.region

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
    """One version of a key's material: made at creation (rotation_type None) or by a rotation; or imported.

    Imported material (a key of Origin EXTERNAL) also has its KeyMaterialDescription and expiry, and may be
    gone: `imported` False once it was deleted or expired (ImportState PENDING_IMPORT). Its record stays, so
    ListKeyRotations names it and a re-import is checked against its id. A version above the key's current one
    is imported material waiting for RotateKeyOnDemand (KeyMaterialState PENDING_ROTATION); `created` is then
    when it was imported, and becomes the rotation's date when the key rotates to it.
    """

    key_id: KeyId
    version: int
    created: datetime
    rotation_type: str | None  # "AUTOMATIC" or "ON_DEMAND" (AWS's RotationType)
    description: str | None = None
    expiration_model: ExpirationModel | None = None
    valid_to: datetime | None = None
    imported: bool = True  # False: its bytes are gone (imported material deleted or expired)


@dataclass(frozen=True, slots=True)
class ImportParameters:
    """The set GetParametersForImport gave for a key: the wrapping key pair (its private key wrapped by the root
    of trust) and the import token that names it. One set per key: a new call replaces it, a successful import
    uses it up; it is refused after `valid_to`. Only a digest of the token is kept (docs/decisions/0012)."""

    key_id: KeyId
    token_digest: bytes = field(repr=False)
    wrapping_algorithm: WrappingAlgorithm
    wrapping_key_spec: WrappingKeySpec
    wrapped_private_key: bytes = field(repr=False)
    created: datetime
    valid_to: datetime


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
