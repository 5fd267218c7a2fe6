"""Key lifecycle operations: CreateKey, DescribeKey, ListKeys, Enable/DisableKey, key deletion, descriptions."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from functools import lru_cache

from trent.authz.conditions import FactValue
from trent.crypto import material as crypto_material
from trent.kms.errors import (
    UnsupportedOperationException,
    ValidationException,
)
from trent.kms.ids import KeyId, key_arn
from trent.kms.keys import Key, Tag
from trent.kms.keystores import CloudHsmConfig, CustomKeyStore, CustomKeyStoreType
from trent.kms.operations import Operation
from trent.kms.results import (
    CancelKeyDeletionResult,
    DescribeKeyResult,
    Empty,
    GetKeyLastUsageResult,
    GetPublicKeyResult,
    KeyLastUsage,
    KeyListEntry,
    KeyMetadata,
    ListKeysResult,
    ScheduleKeyDeletionResult,
    XksKeyConfiguration,
)
from trent.kms.specs import KEY_SPECS, LEGACY_SPECS, KeyManager, KeySpec, KeyState, KeyUsage, Origin
from trent.ops import extkeys, materials, paging, relations, storekeys
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.journal import chain_now, journal, service_event
from trent.ops.keystores import find_store
from trent.ops.policies import checked_policy, default_policy
from trent.ops.resolution import authorize_account, resolve_key
from trent.ops.tags import checked_tags, request_tag_facts
from trent.store.base import Reader

MIN_PENDING_DAYS, MAX_PENDING_DAYS, DEFAULT_PENDING_DAYS = 7, 30, 30
USAGE_REQUIRED = "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."


@lru_cache(maxsize=8192)
def _generated_material_id(key_id: str, version: int) -> str:
    return hashlib.sha256(f"trent:key-material-id:{key_id}:{version}".encode()).hexdigest()


def key_material_id(key: Key, version: int) -> str:
    """The 64-hex identifier of one version of a key's material (AWS's BackingKeyIdType): derived from the key
    id and version for material Trent generated; the one the key record carries for imported material."""
    if 0 < version <= len(key.material_ids):
        return key.material_ids[version - 1]
    return _generated_material_id(key.key_id, version)


@lru_cache(maxsize=8192)
def metadata(key: Key, store: CustomKeyStore | None = None) -> KeyMetadata:
    """KeyMetadata of a key record and, for a key in a custom key store, of its store (records are immutable,
    and each change makes a new one)."""
    return _metadata(key, store)


def _metadata(key: Key, store: CustomKeyStore | None) -> KeyMetadata:
    lists = key.info.algorithms_for(key.usage)
    state = storekeys.shown_state(key, store)
    return KeyMetadata(
        aws_account_id=key.account,
        key_id=key.key_id,
        arn=key.arn,
        creation_date=key.creation_date,
        enabled=key.enabled,
        description=key.description,
        key_usage=key.usage,
        key_state=state,
        origin=key.origin,
        key_manager=KeyManager.CUSTOMER,
        customer_master_key_spec=key.spec if key.spec in LEGACY_SPECS else None,
        key_spec=key.spec,
        multi_region=key.multi_region,
        deletion_date=key.deletion_date,
        valid_to=key.valid_to,
        expiration_model=key.expiration_model,
        encryption_algorithms=lists.encryption or None,
        signing_algorithms=lists.signing or None,
        key_agreement_algorithms=lists.agreement or None,
        encapsulation_algorithms=lists.encapsulation or None,
        mac_algorithms=lists.mac or None,
        current_key_material_id=_current_material_id(key),
        custom_key_store_id=key.custom_key_store_id,
        cloud_hsm_cluster_id=store.config.cluster_id
        if store is not None and isinstance(store.config, CloudHsmConfig)
        else None,
        xks_key_configuration=None if key.xks_key_id is None else XksKeyConfiguration(key.xks_key_id),
        # "This value is present only when the KeyState of the KMS key is PendingReplicaDeletion" (KeyMetadata)
        pending_deletion_window_in_days=(
            key.pending_window_days if key.state is KeyState.PENDING_REPLICA_DELETION else None
        ),
    )


def described(reader: Reader, key: Key) -> KeyMetadata:
    """KeyMetadata with, for a multi-Region key, its MultiRegionConfiguration (read from its related keys); for a
    key in a custom key store, its store's cluster and connection (Unavailable while it is not connected)."""
    shown = metadata(key, storekeys.store_of(reader, key))
    related = relations.configuration(reader, key)
    return shown if related is None else replace(shown, multi_region_configuration=related)


def _current_material_id(key: Key) -> str | None:
    """CurrentKeyMaterialId "is present for symmetric encryption keys with AWS_KMS or EXTERNAL origin"
    (KeyMetadata); an EXTERNAL key has none before its first import."""
    if key.spec is not KeySpec.SYMMETRIC_DEFAULT or (key.origin is Origin.EXTERNAL and not key.material_ids):
        return None
    if key.origin not in (Origin.AWS_KMS, Origin.EXTERNAL):
        return None
    return key_material_id(key, key.current_version)


def _spec_and_usage(
    key_spec: KeySpec | None, customer_master_key_spec: KeySpec | None, key_usage: KeyUsage | None
) -> tuple[KeySpec, KeyUsage]:
    if key_spec is not None and customer_master_key_spec is not None:
        raise ValidationException(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
            "CustomerMasterKeySpec is deprecated."
        )
    spec = key_spec or customer_master_key_spec or KeySpec.SYMMETRIC_DEFAULT
    info = KEY_SPECS[spec]
    if key_usage is None:
        if spec is not KeySpec.SYMMETRIC_DEFAULT:
            raise ValidationException(USAGE_REQUIRED)
        key_usage = KeyUsage.ENCRYPT_DECRYPT
    if key_usage not in info.usages:
        raise ValidationException(f"KeyUsage {key_usage} is not compatible with KeySpec {spec}")
    if info.unsupported:
        raise UnsupportedOperationException(info.unsupported)
    return spec, key_usage


def create_key(
    deps: Deps,
    ctx: RequestContext,
    *,
    policy: str | None = None,
    description: str = "",
    key_usage: KeyUsage | None = None,
    customer_master_key_spec: KeySpec | None = None,
    key_spec: KeySpec | None = None,
    origin: Origin = Origin.AWS_KMS,
    custom_key_store_id: str | None = None,
    bypass_policy_lockout_safety_check: bool = False,
    tags: tuple[Tag, ...] = (),
    multi_region: bool | None = None,
    xks_key_id: str | None = None,
) -> DescribeKeyResult:
    spec, usage = _spec_and_usage(key_spec, customer_master_key_spec, key_usage)
    store = _custom_key_store(deps, ctx, custom_key_store_id, origin, spec, multi_region)
    if (xks_key_id is not None) != (origin is Origin.EXTERNAL_KEY_STORE):
        raise ValidationException(
            "XksKeyId is required for, and valid only for, keys in an external key store (Origin EXTERNAL_KEY_STORE)."
        )
    if origin is Origin.EXTERNAL and not KEY_SPECS[spec].importable:
        raise UnsupportedOperationException(f"KeySpec {spec} does not support imported key material (Origin EXTERNAL).")
    facts: dict[str, FactValue] = {
        "kms:keyspec": spec.value,
        "kms:keyusage": usage.value,
        "kms:keyorigin": origin.value,
        "kms:bypasspolicylockoutsafetycheck": bypass_policy_lockout_safety_check,
        "kms:multiregion": bool(multi_region),
        **({"kms:multiregionkeytype": "PRIMARY"} if multi_region else {}),
        **request_tag_facts(tags),
    }
    authorize_account(deps, ctx, Operation.CreateKey, facts)
    key_id = relations.new_key_id() if multi_region else KeyId(str(uuid.uuid4()))
    policy_text = (
        default_policy(ctx.account)
        if policy is None
        else checked_policy(
            deps, ctx, policy, key_arn(ctx.region, ctx.account, key_id), bypass_policy_lockout_safety_check
        )
    )
    tag_list = checked_tags((), tags)
    now = deps.clock()
    external = origin is Origin.EXTERNAL  # created with no key material: it waits in PendingImport for some
    key = Key(
        key_id=key_id,
        account=ctx.account,
        region=ctx.region,
        spec=spec,
        usage=usage,
        origin=origin,
        state=KeyState.PENDING_IMPORT if external else KeyState.ENABLED,
        creation_date=now,
        description=description,
        multi_region=bool(multi_region),
        primary_region=ctx.region if multi_region else None,
    )
    if store is not None and xks_key_id is not None:
        extkeys.check_external_key(deps, ctx, store, xks_key_id)
        key = replace(key, custom_key_store_id=store.custom_key_store_id, xks_key_id=xks_key_id)
    elif store is not None:
        return _create_in_store(
            deps, ctx, store, replace(key, custom_key_store_id=store.custom_key_store_id), policy_text, tag_list
        )
    wrapped = (
        None if external else deps.keyring.wrap(key.store_id, key.current_version, crypto_material.generate(key.info))
    )
    with deps.store.transaction() as tx:
        tx.insert_key(key, wrapped, policy_text, tag_list)
    ctx.trace.keys.append(key.arn)
    return DescribeKeyResult(described(deps.store, key))


def _custom_key_store(
    deps: Deps,
    ctx: RequestContext,
    custom_key_store_id: str | None,
    origin: Origin,
    spec: KeySpec,
    multi_region: bool | None,
) -> CustomKeyStore | None:
    """The connected store a key is to be created in, if any. "To create a KMS key in an AWS CloudHSM key store,
    use the CustomKeyStoreId parameter ... You must also use the Origin parameter with a value of AWS_CLOUDHSM";
    only symmetric encryption keys (CreateKey; Developer Guide, "Create a KMS key in an AWS CloudHSM key store")."""
    in_store = (Origin.AWS_CLOUDHSM, Origin.EXTERNAL_KEY_STORE)
    if custom_key_store_id is None:
        if origin in in_store:
            raise UnsupportedOperationException(f"Origin {origin} requires a CustomKeyStoreId.")
        return None
    if origin not in in_store:
        raise UnsupportedOperationException(
            f"CustomKeyStoreId requires Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE; Origin {origin} is not valid for "
            "this operation."
        )
    if spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise UnsupportedOperationException(f"KeySpec {spec} is not supported in a custom key store.")
    if multi_region:
        # "You cannot create multi-Region keys in a custom key store" (CreateKey, MultiRegion)
        raise UnsupportedOperationException("Multi-Region keys cannot be created in a custom key store.")
    store = find_store(deps.store, ctx, custom_key_store_id)
    external = store.store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE
    if external != (origin is Origin.EXTERNAL_KEY_STORE):
        # "The Origin value must match the type of the custom key store" (CreateKey, Origin).
        raise UnsupportedOperationException(
            f"Origin {origin} is not valid for custom key store {store.custom_key_store_id} of type {store.store_type}."
        )
    storekeys.require_connected(store, "CreateKey")
    return store


def _create_in_store(
    deps: Deps, ctx: RequestContext, store: CustomKeyStore, key: Key, policy: str, tags: tuple[Tag, ...]
) -> DescribeKeyResult:
    """The key's AES-256 object is generated in the token first, so no key record ever names a missing one;
    if the record cannot be stored (the store disconnected meanwhile), the object is destroyed again."""
    storekeys.create(deps, store, key)
    try:
        with deps.store.transaction() as tx:
            storekeys.require_connected(find_store(tx, ctx, store.custom_key_store_id), "CreateKey")
            tx.insert_key(key, None, policy, tags)
    except BaseException:
        storekeys.destroy(deps, key)
        raise
    ctx.trace.keys.append(key.arn)
    return DescribeKeyResult(described(deps.store, key))


def describe_key(
    deps: Deps, ctx: RequestContext, *, key_id: str, grant_tokens: tuple[str, ...] = ()
) -> DescribeKeyResult:
    return DescribeKeyResult(described(deps.store, resolve_key(deps, ctx, key_id, Operation.DescribeKey)))


def list_keys(
    deps: Deps,
    ctx: RequestContext,
    *,
    limit: int = 100,
    marker: str | None = None,
    resource_owners: tuple[str, ...] = (),
) -> ListKeysResult:
    if resource_owners and "SELF" not in resource_owners:
        # Only OTHER_ACCOUNTS_VIA_RAM asked for: Trent has no AWS RAM shares, so there are none.
        authorize_account(deps, ctx, Operation.ListKeys)
        paging.after(marker)
        return ListKeysResult((), False)
    authorize_account(deps, ctx, Operation.ListKeys)
    page = deps.store.list_keys(ctx.account, ctx.region, paging.after(marker), limit)
    entries = tuple(KeyListEntry(k.key_id, k.arn) for k in page.items)
    return ListKeysResult(entries, page.next_marker is not None, paging.marker(page.next_marker))


def _set_state(deps: Deps, ctx: RequestContext, key_id: str, operation: Operation, state: KeyState) -> Key:
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, operation, aliases=False, reader=tx)
        if key.state is not state:
            changed = key.evolve(state=state, deletion_date=None, pending_window_days=None)
            tx.update_key(changed, key.revision)
            key = changed
    return key


def enable_key(deps: Deps, ctx: RequestContext, *, key_id: str) -> Empty:
    _set_state(deps, ctx, key_id, Operation.EnableKey, KeyState.ENABLED)
    return Empty()


def disable_key(deps: Deps, ctx: RequestContext, *, key_id: str) -> Empty:
    _set_state(deps, ctx, key_id, Operation.DisableKey, KeyState.DISABLED)
    return Empty()


def schedule_key_deletion(
    deps: Deps, ctx: RequestContext, *, key_id: str, pending_window_in_days: int = DEFAULT_PENDING_DAYS
) -> ScheduleKeyDeletionResult:
    if not MIN_PENDING_DAYS <= pending_window_in_days <= MAX_PENDING_DAYS:
        raise ValidationException(f"PendingWindowInDays must be between {MIN_PENDING_DAYS} and {MAX_PENDING_DAYS}")
    with deps.store.transaction() as tx:
        facts = {"kms:schedulekeydeletionpendingwindowindays": pending_window_in_days}
        key = resolve_key(deps, ctx, key_id, Operation.ScheduleKeyDeletion, aliases=False, reader=tx, facts=facts)
        state = KeyState.PENDING_DELETION
        when: datetime | None = deps.clock() + timedelta(days=pending_window_in_days)
        if not key.is_replica and relations.others(tx, key):
            # "If you schedule the deletion of a primary key with replicas, its key state changes to
            # PendingReplicaDeletion"; its waiting period "begins when the last of its replica keys is
            # deleted", so it has no deletion date yet (KMS API, ScheduleKeyDeletion).
            state, when = KeyState.PENDING_REPLICA_DELETION, None
        pending = key.evolve(state=state, deletion_date=when, pending_window_days=pending_window_in_days)
        tx.update_key(pending, key.revision)
    return ScheduleKeyDeletionResult(key.arn, when, state, pending_window_in_days)


def cancel_key_deletion(deps: Deps, ctx: RequestContext, *, key_id: str) -> CancelKeyDeletionResult:
    # "After CancelKeyDeletion the key is Disabled, not Enabled" (docs/aws-semantics.md A.4, recorded from AWS);
    # a key whose imported material is not all there goes back to PendingImport (ops/materials.py).
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, Operation.CancelKeyDeletion, aliases=False, reader=tx)
        state = KeyState.DISABLED
        if key.origin is Origin.EXTERNAL and not materials.complete(key, tx.list_materials(key.store_id)):
            state = KeyState.PENDING_IMPORT
        tx.update_key(key.evolve(state=state, deletion_date=None, pending_window_days=None), key.revision)
    return CancelKeyDeletionResult(key.arn)


def update_key_description(deps: Deps, ctx: RequestContext, *, key_id: str, description: str) -> Empty:
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, Operation.UpdateKeyDescription, aliases=False, reader=tx)
        tx.update_key(key.evolve(description=description), key.revision)
    return Empty()


def delete_due_keys(deps: Deps) -> int:
    """Destroy every key whose deletion window has ended; run by a background task. Idempotent.
    Each destruction commits with its audit record (decision 0009)."""
    now = deps.clock()
    destroyed = 0
    for due in deps.store.keys_due_for_deletion(now):
        event = service_event(deps, "DeleteKey", due)
        with deps.store.unit() as unit:
            with deps.store.transaction() as tx:
                key = tx.get_key(due.store_id)  # re-checked under the write lock: a cancel may have won
                ended = key is not None and key.state is KeyState.PENDING_DELETION
                ended = ended and key is not None and key.deletion_date is not None and key.deletion_date <= now
                if ended and key is not None:
                    tx.delete_key(due.store_id)
                    relations.after_deletion(tx, key, now)
            ended = ended and journal(unit, event)
        if ended and key is not None and key.custom_key_store_id is not None and not extkeys.is_external(key):
            storekeys.destroy(deps, key)  # its material: the token object (the key record is gone already)
        if ended:
            chain_now(deps, event)
            destroyed += 1
    return destroyed


def get_public_key(
    deps: Deps, ctx: RequestContext, *, key_id: str, grant_tokens: tuple[str, ...] = ()
) -> GetPublicKeyResult:
    key = resolve_key(deps, ctx, key_id, Operation.GetPublicKey)
    if key.info.family in crypto_material.SYMMETRIC_FAMILIES:
        raise UnsupportedOperationException(f"{key.arn} key usage is {key.usage} which is not valid for GetPublicKey.")
    lists = key.info.algorithms_for(key.usage)
    return GetPublicKeyResult(
        key_id=key.arn,
        public_key=deps.keyring.load(deps.store, key).public_der,
        customer_master_key_spec=key.spec if key.spec in LEGACY_SPECS else None,
        key_spec=key.spec,
        key_usage=key.usage,
        encryption_algorithms=lists.encryption or None,
        signing_algorithms=lists.signing or None,
        key_agreement_algorithms=lists.agreement or None,
        encapsulation_algorithms=lists.encapsulation or None,
    )


def get_key_last_usage(deps: Deps, ctx: RequestContext, *, key_id: str) -> GetKeyLastUsageResult:
    """The key's most recent successful cryptographic use, as the audit writers recorded it in the store."""
    key = resolve_key(deps, ctx, key_id, Operation.GetKeyLastUsage)
    use = deps.store.key_last_use(key.arn)
    last = None if use is None else KeyLastUsage(use.when, use.operation, use.event_id, use.request_id)
    return GetKeyLastUsageResult(key.arn, key.creation_date, last, deps.store.key_use_tracking_start())
