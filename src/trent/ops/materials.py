"""Imported key material on its key: the key's state and expiry as its material versions say, the removal of
one version (DeleteImportedKeyMaterial), and the background job that removes material whose ValidTo came.

The rules (AWS KMS Developer Guide, "Importing key material"; KMS API, ImportKeyMaterial and
DeleteImportedKeyMaterial; docs/decisions/0012-import-key-material.md):
- Material up to the key's current version is permanently associated with the key; a version above it is
  imported material pending rotation, which "is not permanently associated with the KMS key. You can delete
  this key material and import different key material in its place" (RotationsListEntry).
- "For symmetric encryption keys, you will need to import all of the key materials associated with the KMS key
  to change its state to Enabled": a key whose permanently associated material is all there leaves
  PendingImport for Enabled; one with any of it gone is PendingImport, unless it is PendingDeletion, which
  "this operation does not change".
- DescribeKey's ValidTo is "the earliest time at which any imported key material permanently associated with
  this KMS key expires".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from trent.kms.keys import Key, MaterialVersion
from trent.kms.specs import ExpirationModel, KeyState
from trent.ops.deps import Deps
from trent.ops.journal import chain_now, journal, service_event
from trent.store.base import Transaction

EXPIRED_EVENT = "DeleteExpiredKeyMaterial"  # the CloudTrail event AWS records when it deletes expired material


def permanent(key: Key, materials: Sequence[MaterialVersion]) -> list[MaterialVersion]:
    return [m for m in materials if m.version <= key.current_version]


def complete(key: Key, materials: Sequence[MaterialVersion]) -> bool:
    """Whether every version the key is permanently associated with is imported (none yet: not complete)."""
    kept = permanent(key, materials)
    return len(kept) == key.current_version and all(m.imported for m in kept)


def settle(key: Key, materials: Sequence[MaterialVersion], **changes: Any) -> Key:
    """The key after `changes`, with the state and expiry its material versions give it."""
    shaped = replace(key, **changes)
    present = [m for m in permanent(shaped, materials) if m.imported]
    expiring = [m.valid_to for m in present if m.expiration_model is ExpirationModel.KEY_MATERIAL_EXPIRES]
    state = shaped.state
    if state is not KeyState.PENDING_DELETION:
        if not complete(shaped, materials):
            state = KeyState.PENDING_IMPORT
        elif state is KeyState.PENDING_IMPORT:
            state = KeyState.ENABLED
    model = None
    if present:
        model = ExpirationModel.KEY_MATERIAL_EXPIRES if expiring else ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE
    valid_to = min((v for v in expiring if v is not None), default=None)
    return key.evolve(**changes, state=state, valid_to=valid_to, expiration_model=model)


def remove(tx: Transaction, key: Key, material: MaterialVersion) -> Key:
    """Delete one version's imported material and settle the key: material pending rotation is forgotten (its
    version can take other material), permanently associated material keeps its record, marked gone."""
    ids = key.material_ids
    if material.version > key.current_version:
        tx.delete_material(key.store_id, material.version)
        ids = ids[: material.version - 1]
    else:
        tx.put_material(replace(material, imported=False), None)
    changed = settle(key, tx.list_materials(key.store_id), material_ids=ids)
    tx.update_key(changed, key.revision)
    return changed


def _expire(tx: Transaction, due: MaterialVersion, now: datetime) -> Key | None:
    """Remove the material if it is still there and expired (read under the write lock); the key if it did."""
    key = tx.get_key(due.key_id)
    if key is None:
        return None
    found = next((m for m in tx.list_materials(key.store_id) if m.version == due.version), None)
    if found is None or not found.imported or found.valid_to is None or found.valid_to > now:
        return None  # re-imported with a later ValidTo, deleted, or removed by another node meanwhile
    remove(tx, key, found)
    return key


def delete_expired_material(deps: Deps) -> int:
    """Delete every imported material whose ValidTo has come; run by a background task, on every node.

    Each removal re-reads the material in a transaction under the write lock, so it happens once whoever runs
    it (another process or node, a retry after a crash), and commits with its DeleteExpiredKeyMaterial record
    (decision 0009).
    """
    now = deps.clock()
    removed = 0
    for due in deps.store.materials_due_for_expiry(now):
        event = None
        with deps.store.unit() as unit:
            with deps.store.transaction() as tx:
                key = _expire(tx, due, now)
            if key is not None:
                event = service_event(deps, EXPIRED_EVENT, key)
                if not journal(unit, event):
                    event = None
        if event is not None:
            chain_now(deps, event)
            removed += 1
    return removed
