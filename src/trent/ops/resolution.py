"""Turning a KeyId parameter into a Key, as AWS does: key id, key ARN, alias name or alias ARN.

A key is visible in the (account, region) of the request; a key ARN names its own account and region.
"""

from __future__ import annotations

from collections.abc import Mapping

from trent.authz.conditions import FactValue
from trent.authz.evaluate import unseen_denial
from trent.kms.errors import (
    AccessDeniedException,
    InvalidArnException,
    InvalidKeyUsageException,
    NotFoundException,
)
from trent.kms.ids import KeyRef, alias_arn, key_arn, parse_key_identifier, regional_key_id
from trent.kms.keys import Key
from trent.kms.operations import OPERATION_FACTS, Operation
from trent.kms.specs import KeyUsage
from trent.kms.states import require_state
from trent.ops import authorization, storekeys, throttling
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.store.base import Reader

ALIASES_NOT_SUPPORTED = "Key Aliases are not supported for this operation."


def not_authorized(ctx: RequestContext, action: str) -> AccessDeniedException:
    """The denial of another account's key (or alias) that does not exist: worded as the denial of one that exists
    but does not let the caller in, so neither is told from the other (authz/evaluate.py UNSEEN_REASON)."""
    return AccessDeniedException(unseen_denial(ctx.principal.arn, action), unseen=True)


def _lookup(reader: Reader, ctx: RequestContext, ref: KeyRef, action: str) -> Key:
    """A key id names a key of the caller's account; another account's key is named by its ARN (or alias ARN).
    `action`: the IAM action the request is authorized as, for the denial of another account's missing key."""
    region = ref.region if ref.region is not None else ctx.region
    account = ref.account if ref.account is not None else ctx.account
    if region != ctx.region:
        raise NotFoundException(f"Invalid arn {region}")
    if ref.alias_name is not None:
        alias = reader.get_alias(account, region, ref.alias_name)
        if alias is None:
            if account != ctx.account:
                raise not_authorized(ctx, action)
            raise NotFoundException(f"Alias {alias_arn(region, account, ref.alias_name)} is not found.")
        key = reader.get_key(alias.target_key_id)
    else:
        assert ref.key_id is not None
        key = reader.get_key(regional_key_id(ref.key_id, region))
    if key is None or key.region != region or key.account != account:
        if account != ctx.account:
            # Whether another account's key exists is not revealed: the answer is the denial it would get.
            raise not_authorized(ctx, action)
        raise NotFoundException(f"Key '{key_arn(region, account, ref.key_id or '')}' does not exist")
    return key


def resolve_key(
    deps: Deps,
    ctx: RequestContext,
    key_id: str,
    operation: Operation,
    *,
    reader: Reader | None = None,
    aliases: bool = True,
    check_state: bool = True,
    action: str | None = None,
    facts: Mapping[str, FactValue] | None = None,
    encryption_context: Mapping[str, str] | None = None,
    grant_operation: str | None = None,
) -> Key:
    """The key a KeyId names, once the caller is authorized for `operation` on it (AccessDeniedException) and
    it is in a state `operation` accepts (STATE_RULES), unless told not to check the state.

    Every operation on a key goes through here, so none can skip authorization.
    """
    reader = deps.store if reader is None else reader
    ref = parse_key_identifier(key_id)
    if ref.is_alias and not aliases:
        raise InvalidArnException(ALIASES_NOT_SUPPORTED)
    key = _lookup(reader, ctx, ref, action or OPERATION_FACTS[operation].permissions[0].action)
    ctx.trace.keys.append(key.arn)
    throttling.charge_key(deps.throttle, ctx, operation, key)
    request_facts = dict(facts or {})
    if ref.alias_name is not None:
        request_facts["kms:requestalias"] = ref.alias_name
    decision = authorization.check(
        deps.policies,
        reader,
        ctx,
        key,
        operation,
        action=action,
        facts=request_facts,
        encryption_context=encryption_context,
        grant_operation=grant_operation,
        now=deps.clock(),
    )
    if decision.grant_id is not None:
        ctx.trace.grant_id = decision.grant_id
    if check_state:
        require_state(operation, storekeys.state_of(reader, key), key.arn)
    return key


def authorize_account(
    deps: Deps, ctx: RequestContext, operation: Operation, facts: Mapping[str, FactValue] | None = None
) -> None:
    """Authorization for operations on no key (CreateKey, ListKeys, ...): the caller's identity policy decides."""
    authorization.check(deps.policies, deps.store, ctx, None, operation, facts=facts, now=deps.clock())


def require_usage(key: Key, usage: KeyUsage, operation: Operation) -> None:
    if key.usage is not usage:
        raise InvalidKeyUsageException(f"{key.arn} key usage is {key.usage} which is not valid for {operation}.")


def require_algorithm(key: Key, algorithm: str, allowed: tuple[str, ...]) -> None:
    if algorithm not in allowed:
        raise InvalidKeyUsageException(f"Algorithm {algorithm} is incompatible with key spec {key.spec}.")
