"""Related multi-Region keys: what DescribeKey shows of them, and what the primary key drives for the others.

"A primary key and its replica keys share properties that make them interoperable. They have the same key ID
and key material. They also have the same key spec, key usage, key material origin, and automatic key
rotation status. KMS automatically synchronizes these shared properties among related multi-Region keys. All
other properties of a replica key can differ, including its key policy, tags, aliases, and key state." (KMS
API, ReplicateKey.) Each related key is a record of its own (Key.store_id); the shared material is a copy of
each version under each key, wrapped for it. docs/multi-region.md.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from trent.kms.errors import IncorrectKeyMaterialException, UnsupportedOperationException
from trent.kms.ids import MULTI_REGION_PREFIX, KeyId, key_arn
from trent.kms.keys import Key, MaterialVersion
from trent.kms.results import MultiRegionConfiguration, MultiRegionKey, MultiRegionKeyType
from trent.kms.specs import KeyState
from trent.ops.deps import Deps
from trent.store.base import Reader, Transaction

NOT_PRIMARY = "{} is not a multi-Region primary key."
NOT_MULTI_REGION = "{} is not a multi-Region key."
REPLICA_NEW_MATERIAL = (
    "{} is a multi-Region replica key: import new key material into its primary key, in {}, then the same key "
    "material into this replica with ImportType EXISTING_KEY_MATERIAL."
)
REPLICA_ROTATION = (
    "{} is a multi-Region replica key. Its key rotation is that of its primary key: "
    "manage rotation on the primary key, in {}."
)


def new_key_id() -> KeyId:
    """`mrk-` and 32 hex digits: "Multi-Region key IDs begin with mrk-" (developer guide, multi-Region keys)."""
    return KeyId(MULTI_REGION_PREFIX + uuid.uuid4().hex)


def configuration(reader: Reader, key: Key) -> MultiRegionConfiguration | None:
    """DescribeKey's MultiRegionConfiguration of a multi-Region key (None for a single-Region key)."""
    if key.primary_region is None:
        return None
    region = key.primary_region
    replicas = tuple(MultiRegionKey(k.arn, k.region) for k in reader.related_keys(key.key_id) if k.region != region)
    return MultiRegionConfiguration(
        MultiRegionKeyType.REPLICA if key.is_replica else MultiRegionKeyType.PRIMARY,
        MultiRegionKey(key_arn(region, key.account, key.key_id), region),
        replicas,
    )


def others(reader: Reader, key: Key) -> tuple[Key, ...]:
    """The keys related to `key`, itself left out (none for a single-Region key)."""
    if key.primary_region is None:
        return ()
    return tuple(k for k in reader.related_keys(key.key_id) if k.region != key.region)


def primary_of(reader: Reader, key: Key) -> Key:
    """The primary key of a multi-Region key (the key itself when it is the primary, or a single-Region key)."""
    if not key.is_replica:
        return key
    return next((k for k in reader.related_keys(key.key_id) if k.region == key.primary_region), key)


def require_primary(key: Key) -> None:
    """ReplicateKey and UpdatePrimaryRegion take a multi-Region primary key: UnsupportedOperationException."""
    if key.primary_region is None:
        raise UnsupportedOperationException(NOT_MULTI_REGION.format(key.arn))
    if key.is_replica:
        raise UnsupportedOperationException(NOT_PRIMARY.format(key.arn))


def require_not_replica(key: Key) -> None:
    """Rotation is the primary's: "automatic key rotation status" is shared and synchronized from the primary, so
    a replica's rotation is not managed (Enable/DisableKeyRotation, RotateKeyOnDemand) on the replica."""
    if key.is_replica:
        raise UnsupportedOperationException(REPLICA_ROTATION.format(key.arn, key.primary_region))


def copy_version(deps: Deps, tx: Transaction, version: MaterialVersion, secret: bytes, to: Key) -> None:
    """One version of the shared material, stored under a related key (wrapped for it, AAD its store id)."""
    tx.add_material(replace(version, key_id=to.store_id), deps.keyring.wrap(to.store_id, version.version, secret))


def propagate_version(deps: Deps, tx: Transaction, primary: Key, version: MaterialVersion, secret: bytes) -> None:
    """A rotation of the primary adds its new version to every replica, which then uses it too."""
    for replica in others(tx, primary):
        copy_version(deps, tx, version, secret, replica)
        tx.update_key(replica.evolve(current_version=version.version), replica.revision)


def replica_version(reader: Reader, key: Key, material_id: str, new_material: bool) -> int | None:
    """The version imported material takes in a replica: the primary's version of the same material. "You must
    import the new key material into the primary Region key. Then you can import the same key materials into the
    replica Region keys. You cannot directly import new key material into the replica Region keys." (KMS API,
    ImportKeyMaterial.) None for a key that is not a replica."""
    if not key.is_replica:
        return None
    if new_material:
        raise UnsupportedOperationException(REPLICA_NEW_MATERIAL.format(key.arn, key.primary_region))
    primary = primary_of(reader, key)
    if material_id not in primary.material_ids:
        raise IncorrectKeyMaterialException(f"The key material is not key material of the primary key {primary.arn}.")
    return primary.material_ids.index(material_id) + 1


def require_shared_material(reader: Reader, key: Key, version: int, material_id: str) -> None:
    """Related keys share their material: material imported into one as `version` must be what the others
    have (or get) as that version. "You must import the same key material that you imported into the primary
    key" (KMS API, ReplicateKey); its KeyMaterialId, derived from the key id and the material, tells."""
    for related in others(reader, key):
        if version <= len(related.material_ids) and related.material_ids[version - 1] != material_id:
            raise IncorrectKeyMaterialException(
                "The key material is not the key material imported into the related multi-Region keys."
            )


def after_deletion(tx: Transaction, deleted: Key, now: datetime) -> None:
    """Once the last replica of a primary in PendingReplicaDeletion is deleted, its own waiting period starts:
    "When the last replica key in the multi-Region key is deleted, the KeyState of the scheduled primary key
    changes from PendingReplicaDeletion to PendingDeletion" (KeyMetadata, PendingDeletionWindowInDays)."""
    if deleted.primary_region is None:
        return
    remaining = tx.related_keys(deleted.key_id)
    primary = next((k for k in remaining if k.region == deleted.primary_region), None)
    if primary is None or primary.state is not KeyState.PENDING_REPLICA_DELETION or len(remaining) > 1:
        return
    days = primary.pending_window_days or 30
    pending = primary.evolve(state=KeyState.PENDING_DELETION, deletion_date=now + timedelta(days=days))
    tx.update_key(pending, primary.revision)
