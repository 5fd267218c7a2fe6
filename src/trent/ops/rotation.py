"""Key rotation: Enable/DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand, ListKeyRotations, and
the background task that rotates keys on their schedule.

Rotation adds a new version of the key material; new ciphertexts use it, and every ciphertext names the
version it was made with, so all of them keep decrypting. Only symmetric encryption keys rotate (AWS KMS
Developer Guide, "Rotate AWS KMS keys").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from trent.crypto import material as crypto_material
from trent.kms.errors import KMSInvalidStateException, LimitExceededException, UnsupportedOperationException
from trent.kms.keys import Key, MaterialVersion
from trent.kms.operations import Operation
from trent.kms.results import (
    Empty,
    GetKeyRotationStatusResult,
    ListKeyRotationsResult,
    RotateKeyOnDemandResult,
    RotationsListEntry,
)
from trent.kms.specs import ImportState, IncludeKeyMaterial, KeyMaterialState, KeySpec, KeyState, Origin
from trent.ops import materials, paging, relations
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.journal import chain_now, journal, service_event
from trent.ops.keys import key_material_id
from trent.ops.resolution import resolve_key
from trent.store.base import Transaction

DEFAULT_PERIOD_DAYS = 365
MAX_ON_DEMAND_ROTATIONS = 10  # AWS KMS quota "On-demand rotations per key"
AUTOMATIC, ON_DEMAND = "AUTOMATIC", "ON_DEMAND"


def _require_rotatable(key: Key, *, automatic: bool = True) -> None:
    """Only symmetric encryption keys rotate; imported material never rotates automatically ("you cannot enable
    automatic rotation of ... KMS keys with imported key material"), but on demand to new imported material."""
    if automatic and key.origin is Origin.EXTERNAL:
        raise UnsupportedOperationException(f"{key.arn} origin is EXTERNAL which is not valid for this operation.")
    if key.custom_key_store_id is not None:
        # "You cannot enable automatic key rotation of ... KMS keys in a custom key store", nor rotate them on
        # demand (Developer Guide, "Rotate AWS KMS keys"; key-state page note 7).
        raise UnsupportedOperationException(f"{key.arn} origin is {key.origin} which is not valid for this operation.")
    if key.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise UnsupportedOperationException()  # recorded from AWS with no message


def _add_version(deps: Deps, tx: Transaction, key: Key, rotation_type: str, when: datetime) -> Key:
    version = key.current_version + 1
    secret = crypto_material.generate(key.info)
    record = MaterialVersion(key.store_id, version, when, rotation_type)
    tx.add_material(record, deps.keyring.wrap(key.store_id, version, secret))
    relations.propagate_version(deps, tx, key, record, secret)  # a multi-Region primary's replicas get it too
    return key.evolve(current_version=version)


def enable_key_rotation(
    deps: Deps, ctx: RequestContext, *, key_id: str, rotation_period_in_days: int | None = None
) -> Empty:
    with deps.store.transaction() as tx:
        facts = {} if rotation_period_in_days is None else {"kms:rotationperiodindays": rotation_period_in_days}
        key = resolve_key(deps, ctx, key_id, Operation.EnableKeyRotation, aliases=False, reader=tx, facts=facts)
        _require_rotatable(key)
        relations.require_not_replica(key)
        period = rotation_period_in_days or key.rotation_period_days or DEFAULT_PERIOD_DAYS
        if key.rotation_period_days != period or key.next_rotation_date is None:
            next_date = deps.clock() + timedelta(days=period)
            tx.update_key(key.evolve(rotation_period_days=period, next_rotation_date=next_date), key.revision)
    return Empty()


def disable_key_rotation(deps: Deps, ctx: RequestContext, *, key_id: str) -> Empty:
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, Operation.DisableKeyRotation, aliases=False, reader=tx)
        _require_rotatable(key)
        relations.require_not_replica(key)
        if key.rotation_period_days is not None:
            tx.update_key(key.evolve(rotation_period_days=None, next_rotation_date=None), key.revision)
    return Empty()


def get_key_rotation_status(deps: Deps, ctx: RequestContext, *, key_id: str) -> GetKeyRotationStatusResult:
    key = resolve_key(deps, ctx, key_id, Operation.GetKeyRotationStatus, aliases=False)
    if key.custom_key_store_id is not None:
        # "KMS keys in a custom key store: The KeyRotationEnabled value is false" (API_GetKeyRotationStatus).
        return GetKeyRotationStatusResult(False, key.arn)
    _require_rotatable(key, automatic=False)
    # A replica's "automatic key rotation status" is its primary's, a shared property (KMS API, ReplicateKey).
    source = relations.primary_of(deps.store, key)
    # "While the key is pending deletion, the rotation status is false" (API_GetKeyRotationStatus).
    if source.rotation_period_days is None or key.state is KeyState.PENDING_DELETION:
        return GetKeyRotationStatusResult(False, key.arn)
    return GetKeyRotationStatusResult(True, key.arn, source.rotation_period_days, source.next_rotation_date)


def rotate_key_on_demand(deps: Deps, ctx: RequestContext, *, key_id: str) -> RotateKeyOnDemandResult:
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, Operation.RotateKeyOnDemand, aliases=False, reader=tx)
        _require_rotatable(key, automatic=False)
        relations.require_not_replica(key)
        versions = tx.list_materials(key.store_id)
        if sum(m.rotation_type == ON_DEMAND for m in versions) >= MAX_ON_DEMAND_ROTATIONS:
            raise LimitExceededException(
                "The on-demand rotations limit has been reached for the given keyId. "
                f"No more on-demand rotations can be performed for this key: {key.arn}"
            )
        if key.origin is Origin.EXTERNAL:
            when = deps.clock()
            tx.update_key(_rotate_to_imported(tx, key, versions, when), key.revision)
            _rotate_replicas_to_imported(tx, key, when)
        else:
            tx.update_key(_add_version(deps, tx, key, ON_DEMAND, deps.clock()), key.revision)
    return RotateKeyOnDemandResult(key.arn)


def _rotate_to_imported(tx: Transaction, key: Key, versions: tuple[MaterialVersion, ...], when: datetime) -> Key:
    """The version pending rotation becomes the current one, rotated now: "When you initiate on-demand key
    rotation on a symmetric encryption KMS key with imported key material, you must have already imported new
    key material and that key material's state should be PENDING_ROTATION" (KMS API, RotateKeyOnDemand)."""
    pending = next((m for m in versions if m.version > key.current_version), None)
    if pending is None:
        raise KMSInvalidStateException(
            f"{key.arn} has no key material pending rotation. Import new key material "
            "(ImportKeyMaterial with ImportType NEW_KEY_MATERIAL) before you rotate it on demand."
        )
    tx.put_material(
        replace(pending, created=when, rotation_type=ON_DEMAND), tx.get_material(key.store_id, pending.version)
    )
    return materials.settle(key, tx.list_materials(key.store_id), current_version=pending.version)


def _rotate_replicas_to_imported(tx: Transaction, primary: Key, when: datetime) -> None:
    """The replicas of a multi-Region primary with imported material rotate with it, to the same material, which
    each must have been given ("Call ImportKeyMaterial on the replica Region key with the ImportType set to
    EXISTING_KEY_MATERIAL using the same key material imported to the primary Region key", KMS API,
    ImportKeyMaterial); one that was not refuses the rotation of all (the transaction rolls back)."""
    for replica in relations.others(tx, primary):
        versions = tx.list_materials(replica.store_id)
        if not any(m.version > replica.current_version and m.imported for m in versions):
            raise KMSInvalidStateException(
                f"{replica.arn} has no key material pending rotation. Import the key material pending rotation "
                f"in {primary.arn} into it (ImportType EXISTING_KEY_MATERIAL) before you rotate."
            )
        tx.update_key(_rotate_to_imported(tx, replica, versions, when), replica.revision)


def list_key_rotations(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    include_key_material: IncludeKeyMaterial = IncludeKeyMaterial.ROTATIONS_ONLY,
    limit: int = 100,
    marker: str | None = None,
) -> ListKeyRotationsResult:
    key = resolve_key(deps, ctx, key_id, Operation.ListKeyRotations, aliases=False)
    _require_rotatable(key, automatic=False)
    # ROTATIONS_ONLY: "the key materials created by automatic or on-demand key rotation"; ALL_KEY_MATERIAL adds
    # "the first key material and any imported key material pending rotation" (KMS API, ListKeyRotations).
    versions = [
        m
        for m in deps.store.list_materials(key.store_id)
        if include_key_material is IncludeKeyMaterial.ALL_KEY_MATERIAL or m.rotation_type is not None
    ]
    start = int(paging.after(marker) or 0)
    remaining = [m for m in versions if m.version > start]
    page = remaining[:limit]
    entries = tuple(_entry(key, m) for m in page)
    more = len(remaining) > limit
    return ListKeyRotationsResult(entries, more, paging.marker(str(page[-1].version)) if more else None)


def _entry(key: Key, material: MaterialVersion) -> RotationsListEntry:
    """RotationDate and RotationType only for rotated material; the import fields only for imported material."""
    if material.version > key.current_version:
        state = KeyMaterialState.PENDING_ROTATION
    else:
        state = KeyMaterialState.CURRENT if material.version == key.current_version else KeyMaterialState.NON_CURRENT
    rotated = material.rotation_type is not None
    external = key.origin is Origin.EXTERNAL
    return RotationsListEntry(
        key_id=key.key_id,
        key_material_id=key_material_id(key, material.version),
        rotation_date=material.created if rotated else None,
        rotation_type=material.rotation_type,
        key_material_state=state,
        key_material_description=material.description if external else None,
        import_state=(ImportState.IMPORTED if material.imported else ImportState.PENDING_IMPORT) if external else None,
        expiration_model=material.expiration_model if external else None,
        valid_to=material.valid_to if external else None,
    )


def rotate_due_keys(deps: Deps) -> int:
    """Rotate every enabled key whose rotation date has come: once per due date, whoever runs it.

    The rotation and the next date commit in one transaction that re-reads the key under the write lock,
    so a second runner (another process, or a retry after a crash) finds the key no longer due. A disabled
    or pending-deletion key is not rotated; it stays due and rotates once it is enabled again. Each
    rotation commits with its audit record (decision 0009).
    """
    now = deps.clock()
    rotated = 0
    for due in deps.store.keys_due_for_rotation(now):
        with deps.store.unit() as unit:
            key = _rotate_if_due(deps, due, now)
            event = None if key is None else service_event(deps, "RotateKey", key)
            if event is not None:
                journal(unit, event)
        if event is not None:
            chain_now(deps, event)
            rotated += 1
    return rotated


def _rotate_if_due(deps: Deps, due: Key, now: datetime) -> Key | None:
    """Add the automatic rotation's version if the key is still due (read under the write lock)."""
    with deps.store.transaction() as tx:
        key = tx.get_key(due.store_id)
        if key is None or key.state is not KeyState.ENABLED or key.rotation_period_days is None:
            return None
        if key.next_rotation_date is None or key.next_rotation_date > now:
            return None
        period = timedelta(days=key.rotation_period_days)
        next_date = key.next_rotation_date + period
        while next_date <= now:  # missed dates (the server was down) collapse into this one rotation
            next_date += period
        rotated_key = _add_version(deps, tx, key, AUTOMATIC, key.next_rotation_date)
        tx.update_key(rotated_key.evolve(next_rotation_date=next_date), key.revision)
        return key
