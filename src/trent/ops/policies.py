"""GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, and the default key policy AWS writes.

Policies are validated (MalformedPolicyDocumentException), checked against locking the caller out, and then
stored and returned verbatim.
"""

from __future__ import annotations

from trent.authz.evaluate import AccessRequest, Caller, authorize
from trent.authz.policy import PolicyError, parse_policy
from trent.kms.errors import LimitExceededException, MalformedPolicyDocumentException, NotFoundException
from trent.kms.operations import Operation
from trent.kms.principals import root_arn
from trent.kms.results import Empty, GetKeyPolicyResult, ListKeyPoliciesResult
from trent.ops import authorization
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.resolution import resolve_key

POLICY_NAME = "default"
MAX_POLICY_BYTES = 32 * 1024  # "Key policy document size: 32 KB (32,768 bytes)" (AWS KMS quotas)


def default_policy(account: str) -> str:
    """The default key policy, byte for byte as AWS's GetKeyPolicy returns it for a CreateKey without Policy."""
    return (
        "{\n"
        '  "Version" : "2012-10-17",\n'
        '  "Id" : "key-default-1",\n'
        '  "Statement" : [ {\n'
        '    "Sid" : "Enable IAM User Permissions",\n'
        '    "Effect" : "Allow",\n'
        '    "Principal" : {\n'
        f'      "AWS" : "{root_arn(account)}"\n'
        "    },\n"
        '    "Action" : "kms:*",\n'
        '    "Resource" : "*"\n'
        "  } ]\n"
        "}"
    )


LOCKOUT = "The new key policy will not allow you to update the key policy in the future."


def checked_policy(deps: Deps, ctx: RequestContext, policy: str, key_arn: str, bypass_lockout_check: bool) -> str:
    """A key policy that parses, fits, and (unless the caller bypasses the check) still lets the caller change
    it later: "the principal making the request must be allowed to make a subsequent PutKeyPolicy request"."""
    if len(policy.encode("utf-8")) > MAX_POLICY_BYTES:
        raise LimitExceededException("Policy exceeds the maximum size of 32768 bytes.")
    try:
        parsed = parse_policy(policy, kind="key")
    except PolicyError as exc:
        raise MalformedPolicyDocumentException(str(exc)) from None
    if not bypass_lockout_check:
        decision = authorize(
            Caller(ctx.principal.arn, ctx.account, ctx.principal.is_root),
            AccessRequest("kms:PutKeyPolicy", key_arn, ctx.account, {"kms:bypasspolicylockoutsafetycheck": False}),
            parsed,
            authorization.identity_policies(deps.policies, deps.store, ctx),
        )
        if not decision.allowed:
            raise MalformedPolicyDocumentException(LOCKOUT)
    return policy


def _check_name(policy_name: str) -> None:
    if policy_name != POLICY_NAME:
        raise NotFoundException(f"No such policy exists: {policy_name}")


def get_key_policy(
    deps: Deps, ctx: RequestContext, *, key_id: str, policy_name: str = POLICY_NAME
) -> GetKeyPolicyResult:
    _check_name(policy_name)
    key = resolve_key(deps, ctx, key_id, Operation.GetKeyPolicy, aliases=False)
    policy = deps.store.get_policy(key.store_id)
    return GetKeyPolicyResult(policy or default_policy(key.account), POLICY_NAME)


def put_key_policy(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    policy: str,
    policy_name: str = POLICY_NAME,
    bypass_policy_lockout_safety_check: bool = False,
) -> Empty:
    _check_name(policy_name)
    facts = {"kms:bypasspolicylockoutsafetycheck": bypass_policy_lockout_safety_check}
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, Operation.PutKeyPolicy, aliases=False, reader=tx, facts=facts)
        text = checked_policy(deps, ctx, policy, key.arn, bypass_policy_lockout_safety_check)
        tx.put_policy(key.store_id, text)
        tx.update_key(key.evolve(policy_revision=key.policy_revision + 1), key.revision)
    return Empty()


def list_key_policies(
    deps: Deps, ctx: RequestContext, *, key_id: str, limit: int = 100, marker: str | None = None
) -> ListKeyPoliciesResult:
    resolve_key(deps, ctx, key_id, Operation.ListKeyPolicies, aliases=False)
    return ListKeyPoliciesResult((POLICY_NAME,), False)
