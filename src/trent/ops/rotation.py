"""Key rotation: Enable/DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand, ListKeyRotations, and
the background task that rotates keys on their schedule.

Rotation adds a new version of the key material; new ciphertexts use it, and every ciphertext names the
version it was made with, so all of them keep decrypting. Only symmetric encryption keys rotate (AWS KMS
Developer Guide, "Rotate AWS KMS keys").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from trent.crypto import material as crypto_material
from trent.kms.errors import LimitExceededException, UnsupportedOperationException
from trent.kms.keys import Key, MaterialVersion
from trent.kms.operations import Operation
from trent.kms.results import (
    Empty,
    GetKeyRotationStatusResult,
    ListKeyRotationsResult,
    RotateKeyOnDemandResult,
    RotationsListEntry,
)
from trent.kms.specs import KeySpec, KeyState, Origin
from trent.ops import paging
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.journal import chain_now, journal, service_event
from trent.ops.keys import key_material_id
from trent.ops.resolution import resolve_key
from trent.store.base import Transaction

DEFAULT_PERIOD_DAYS = 365
MAX_ON_DEMAND_ROTATIONS = 10  # AWS KMS quota "On-demand rotations per key"
AUTOMATIC, ON_DEMAND = "AUTOMATIC", "ON_DEMAND"


def _require_rotatable(key: Key) -> None:
    if key.origin is Origin.EXTERNAL:
        raise UnsupportedOperationException(f"{key.arn} origin is EXTERNAL which is not valid for this operation.")
    if key.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise UnsupportedOperationException()  # recorded from AWS with no message


def _add_version(deps: Deps, tx: Transaction, key: Key, rotation_type: str, when: datetime) -> Key:
    version = key.current_version + 1
    wrapped = deps.keyring.wrap(key.key_id, version, crypto_material.generate(key.info))
    tx.add_material(MaterialVersion(key.key_id, version, when, rotation_type), wrapped)
    return key.evolve(current_version=version)


def enable_key_rotation(
    deps: Deps, ctx: RequestContext, *, key_id: str, rotation_period_in_days: int | None = None
) -> Empty:
    with deps.store.transaction() as tx:
        facts = {} if rotation_period_in_days is None else {"kms:rotationperiodindays": rotation_period_in_days}
        key = resolve_key(deps, ctx, key_id, Operation.EnableKeyRotation, aliases=False, reader=tx, facts=facts)
        _require_rotatable(key)
        period = rotation_period_in_days or key.rotation_period_days or DEFAULT_PERIOD_DAYS
        if key.rotation_period_days != period or key.next_rotation_date is None:
            next_date = deps.clock() + timedelta(days=period)
            tx.update_key(key.evolve(rotation_period_days=period, next_rotation_date=next_date), key.revision)
    return Empty()


def disable_key_rotation(deps: Deps, ctx: RequestContext, *, key_id: str) -> Empty:
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, Operation.DisableKeyRotation, aliases=False, reader=tx)
        _require_rotatable(key)
        if key.rotation_period_days is not None:
            tx.update_key(key.evolve(rotation_period_days=None, next_rotation_date=None), key.revision)
    return Empty()


def get_key_rotation_status(deps: Deps, ctx: RequestContext, *, key_id: str) -> GetKeyRotationStatusResult:
    key = resolve_key(deps, ctx, key_id, Operation.GetKeyRotationStatus, aliases=False)
    _require_rotatable(key)
    # "While the key is pending deletion, the rotation status is false" (API_GetKeyRotationStatus).
    if key.rotation_period_days is None or key.state is KeyState.PENDING_DELETION:
        return GetKeyRotationStatusResult(False, key.arn)
    return GetKeyRotationStatusResult(True, key.arn, key.rotation_period_days, key.next_rotation_date)


def rotate_key_on_demand(deps: Deps, ctx: RequestContext, *, key_id: str) -> RotateKeyOnDemandResult:
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, Operation.RotateKeyOnDemand, aliases=False, reader=tx)
        _require_rotatable(key)
        if sum(m.rotation_type == ON_DEMAND for m in tx.list_materials(key.key_id)) >= MAX_ON_DEMAND_ROTATIONS:
            raise LimitExceededException(
                "The on-demand rotations limit has been reached for the given keyId. "
                f"No more on-demand rotations can be performed for this key: {key.arn}"
            )
        tx.update_key(_add_version(deps, tx, key, ON_DEMAND, deps.clock()), key.revision)
    return RotateKeyOnDemandResult(key.arn)


def list_key_rotations(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    include_key_material: str = "ROTATIONS_ONLY",
    limit: int = 100,
    marker: str | None = None,
) -> ListKeyRotationsResult:
    key = resolve_key(deps, ctx, key_id, Operation.ListKeyRotations, aliases=False)
    _require_rotatable(key)
    versions = [
        m
        for m in deps.store.list_materials(key.key_id)
        if include_key_material == "ALL_KEY_MATERIAL" or m.rotation_type is not None
    ]
    start = int(paging.after(marker) or 0)
    remaining = [m for m in versions if m.version > start]
    page = remaining[:limit]
    entries = tuple(
        RotationsListEntry(
            key_id=key.key_id,
            key_material_id=key_material_id(key.key_id, m.version),
            rotation_date=m.created,
            rotation_type=m.rotation_type or "",
            key_material_state="CURRENT" if m.version == key.current_version else "NON_CURRENT",
        )
        for m in page
    )
    more = len(remaining) > limit
    return ListKeyRotationsResult(entries, more, paging.marker(str(page[-1].version)) if more else None)


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
        key = tx.get_key(due.key_id)
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
