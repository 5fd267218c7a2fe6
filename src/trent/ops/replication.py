"""ReplicateKey and UpdatePrimaryRegion: making a replica of a multi-Region primary key in another region of this
Trent, and moving the primary to one of its replicas (KMS API; docs/multi-region.md).

Both finish within the request: the replica is usable (Enabled, or PendingImport for imported material) and the
primary region changed when the call returns. AWS answers ReplicateKey with the replica in its transient state
Creating, "This key state changes to Enabled (or PendingImport) after a few seconds", and shows Updating during
UpdatePrimaryRegion; Trent's ReplicateKey response shows Creating as AWS's does, and DescribeKey right after it
shows the state the replica settled in.
"""

from __future__ import annotations

from dataclasses import replace

from trent.authz.conditions import FactValue
from trent.kms.errors import AlreadyExistsException, NotFoundException, ValidationException
from trent.kms.ids import Region, key_arn, regional_key_id
from trent.kms.keys import Key, Tag
from trent.kms.operations import OPERATION_FACTS, Operation
from trent.kms.results import Empty, ReplicateKeyResult
from trent.kms.specs import KeyState, Origin
from trent.kms.states import require_state
from trent.ops import authorization, relations
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keys import described
from trent.ops.policies import checked_policy, default_policy
from trent.ops.resolution import resolve_key
from trent.ops.tags import checked_tags, request_tag_facts
from trent.store.base import Transaction

# "kms:ReplicateKey on the primary key (in the primary key's Region) ... kms:CreateKey in an IAM policy in the
# replica Region" (KMS API, ReplicateKey): the two permissions of its OPERATION_FACTS row.
_ON_PRIMARY, _IN_REPLICA_REGION = OPERATION_FACTS[Operation.ReplicateKey].permissions


def replicate_key(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    replica_region: str,
    policy: str | None = None,
    bypass_policy_lockout_safety_check: bool = False,
    description: str = "",
    tags: tuple[Tag, ...] = (),
) -> ReplicateKeyResult:
    region = Region(replica_region)
    where = {"kms:replicaregion": region}  # the condition key of ReplicateKey (developer guide, kms:ReplicaRegion)
    primary = resolve_key(
        deps,
        ctx,
        key_id,
        Operation.ReplicateKey,
        aliases=False,
        check_state=False,
        action=_ON_PRIMARY.action,
        grant_operation="",
        facts=where,
    )
    relations.require_primary(primary)
    require_state(Operation.ReplicateKey, primary.state, primary.arn)
    if region == primary.region:
        # "The replica must be in a different Amazon Web Services Region than its primary key" (ReplicaRegion).
        raise ValidationException(f"The replica Region {region} is the Region of the primary key {primary.arn}.")
    there = replace(ctx, region=region)
    facts: dict[str, FactValue] = {
        "kms:keyspec": primary.spec.value,
        "kms:keyusage": primary.usage.value,
        "kms:keyorigin": primary.origin.value,
        "kms:multiregion": True,
        "kms:multiregionkeytype": "REPLICA",
        "kms:replicaregion": region,
        "kms:bypasspolicylockoutsafetycheck": bypass_policy_lockout_safety_check,
        **request_tag_facts(tags),
    }
    authorization.check(
        deps.policies,
        deps.store,
        there,
        None,
        Operation.CreateKey,
        action=_IN_REPLICA_REGION.action,
        grant_operation="",
        facts=facts,
        now=deps.clock(),
    )
    replica_arn = key_arn(region, primary.account, primary.key_id)
    policy_text = (
        default_policy(ctx.account)
        if policy is None
        else checked_policy(deps, there, policy, replica_arn, bypass_policy_lockout_safety_check)
    )
    tag_list = checked_tags((), tags)
    with deps.store.transaction() as tx:
        primary = resolve_key(
            deps,
            ctx,
            primary.arn,
            Operation.ReplicateKey,
            aliases=False,
            reader=tx,
            action=_ON_PRIMARY.action,
            grant_operation="",
            facts=where,
        )
        if tx.get_key(regional_key_id(primary.key_id, region)) is not None:
            # "If the Region already includes a replica of the key you're trying to replicate, ReplicateKey
            # returns an AlreadyExistsException error." (KMS API, ReplicateKey)
            raise AlreadyExistsException(f"Key '{replica_arn}' already exists")
        replica = _insert_replica(deps, tx, primary, region, description, policy_text, tag_list)
    ctx.trace.keys.append(replica.arn)
    # "When this operation completes, the new replica key has a transient key state of Creating."
    shown = replace(described(deps.store, replica), key_state=KeyState.CREATING, enabled=False)
    return ReplicateKeyResult(shown, policy_text, tag_list)


def _insert_replica(
    deps: Deps, tx: Transaction, primary: Key, region: Region, description: str, policy: str, tags: tuple[Tag, ...]
) -> Key:
    """The replica, with every version of the primary's material permanently associated with it: a copy of each
    generated one; for imported material, the versions' records without their bytes: "If you replicate a
    multi-Region primary key with imported key material, the replica key is created with no key material. You
    must import the same key material that you imported into the primary key." (KMS API, ReplicateKey)"""
    external = primary.origin is Origin.EXTERNAL
    replica = Key(
        key_id=primary.key_id,
        account=primary.account,
        region=region,
        spec=primary.spec,
        usage=primary.usage,
        origin=primary.origin,
        state=KeyState.PENDING_IMPORT if external else KeyState.ENABLED,
        creation_date=deps.clock(),
        description=description,
        current_version=primary.current_version,
        multi_region=True,
        primary_region=primary.region,
        material_ids=primary.material_ids[: primary.current_version] if external else (),
    )
    tx.insert_key(replica, None, policy, tags)
    for version in tx.list_materials(primary.store_id):
        if version.version > primary.current_version:
            continue  # imported material pending rotation is not yet the key's
        if external:
            bare = replace(version, key_id=replica.store_id, imported=False, valid_to=None, expiration_model=None)
            tx.put_material(bare, None)
        else:
            relations.copy_version(deps, tx, version, deps.keyring.load(tx, primary, version.version).secret, replica)
    return replica


def update_primary_region(deps: Deps, ctx: RequestContext, *, key_id: str, primary_region: str) -> Empty:
    """ "kms:UpdatePrimaryRegion on the current primary key (in the primary key's Region) ... on the current
    replica key (in the replica key's Region)"; "Both the primary key and the replica key must be in the Enabled
    key state" (KMS API, UpdatePrimaryRegion; developer guide, multi-region-update)."""
    with deps.store.transaction() as tx:
        region = Region(primary_region)
        where = {"kms:primaryregion": region}  # its condition key (developer guide, kms:PrimaryRegion)
        primary = resolve_key(
            deps, ctx, key_id, Operation.UpdatePrimaryRegion, aliases=False, reader=tx, check_state=False, facts=where
        )
        relations.require_primary(primary)
        require_state(Operation.UpdatePrimaryRegion, primary.state, primary.arn)
        if region == primary.region:
            return Empty()  # it is the primary already: nothing changes
        target = key_arn(region, primary.account, primary.key_id)
        if tx.get_key(regional_key_id(primary.key_id, region)) is None:
            # "The primary Region must already have a replica key."
            raise NotFoundException(f"Key '{target}' does not exist")
        there = replace(ctx, region=region)
        resolve_key(deps, there, target, Operation.UpdatePrimaryRegion, aliases=False, reader=tx, facts=where)
        for related in tx.related_keys(primary.key_id):
            tx.update_key(related.evolve(primary_region=region), related.revision)
    return Empty()
