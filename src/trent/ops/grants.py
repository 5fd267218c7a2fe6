"""Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and grant tokens.

The store is strongly consistent, so a grant is in force from the very next request; grant tokens, which
bridge AWS's eventual consistency, are accepted and checked for form, and identify a grant for RetireGrant.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence

from trent.authz.conditions import FactValue
from trent.kms.errors import (
    AccessDeniedException,
    DryRunOperationException,
    InvalidGrantIdException,
    InvalidGrantTokenException,
    LimitExceededException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from trent.kms.keys import Grant, GrantConstraints, Key
from trent.kms.operations import Operation
from trent.kms.principals import root_arn
from trent.kms.results import CreateGrantResult, Empty, GrantListEntry, ListGrantsResult
from trent.kms.specs import GrantOperation, KeySpec, KeyUsage
from trent.ops import paging
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.resolution import authorize_account, resolve_key
from trent.store.base import Reader

MAX_GRANTS_PER_KEY = 50_000  # AWS KMS quota "Grants per KMS key"
_TOKEN_MAGIC = b"TGT1"
_G = GrantOperation
_COMMON = frozenset({_G.CreateGrant, _G.RetireGrant, _G.DescribeKey})
# Which grant operations a key can take, by its usage ("You cannot ... grant permission for an operation that
# the KMS key does not support", CreateGrant). Symmetric keys add the data-key operations.
_BY_USAGE = {
    KeyUsage.ENCRYPT_DECRYPT: frozenset({_G.Encrypt, _G.Decrypt, _G.ReEncryptFrom, _G.ReEncryptTo, _G.GetPublicKey}),
    KeyUsage.SIGN_VERIFY: frozenset({_G.Sign, _G.Verify, _G.GetPublicKey}),
    KeyUsage.GENERATE_VERIFY_MAC: frozenset({_G.GenerateMac, _G.VerifyMac}),
    KeyUsage.KEY_AGREEMENT: frozenset({_G.DeriveSharedSecret, _G.GetPublicKey}),
    KeyUsage.ENCAPSULATE_DECAPSULATE: frozenset({_G.Encapsulate, _G.Decapsulate, _G.GetPublicKey}),
}
_SYMMETRIC = frozenset(
    {
        _G.Encrypt,
        _G.Decrypt,
        _G.ReEncryptFrom,
        _G.ReEncryptTo,
        _G.GenerateDataKey,
        _G.GenerateDataKeyWithoutPlaintext,
        _G.GenerateDataKeyPair,
        _G.GenerateDataKeyPairWithoutPlaintext,
    }
)


def allowed_operations(key: Key) -> frozenset[GrantOperation]:
    if key.spec is KeySpec.SYMMETRIC_DEFAULT:
        return _COMMON | _SYMMETRIC
    return _COMMON | _BY_USAGE[key.usage]


def new_grant_token(grant_id: str) -> str:
    return base64.urlsafe_b64encode(_TOKEN_MAGIC + bytes.fromhex(grant_id) + os.urandom(16)).decode().rstrip("=")


def grant_id_of_token(token: str) -> str:
    """The grant a token names; InvalidGrantTokenException for a token this server did not issue."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidGrantTokenException("Invalid grant token") from None
    if len(raw) != 52 or not raw.startswith(_TOKEN_MAGIC):
        raise InvalidGrantTokenException("Invalid grant token")
    return raw[4:36].hex()


def check_grant_tokens(tokens: Sequence[str]) -> None:
    for token in tokens:
        grant_id_of_token(token)


def _checked_grant_id(grant_id: str) -> str:
    if len(grant_id) != 64 or any(c not in "0123456789abcdef" for c in grant_id):
        raise InvalidGrantIdException(f"Invalid grant ID {grant_id}")
    return grant_id


def _entry(key: Key, grant: Grant) -> GrantListEntry:
    return GrantListEntry(
        key_id=key.arn,
        grant_id=grant.grant_id,
        creation_date=grant.created,
        grantee_principal=grant.grantee_principal,
        issuing_account=root_arn(grant.issuing_account),
        operations=grant.operations,
        name=grant.name,
        retiring_principal=grant.retiring_principal,
        constraints=grant.constraints,
    )


def _within_parent(
    reader: Reader, parent_id: str, operations: frozenset[str], constraints: GrantConstraints | None
) -> None:
    """A grant made on the authority of another grant may not give more than that grant has (CreateGrant)."""
    parent = reader.get_grant(parent_id)
    if parent is None or not operations <= frozenset(parent.operations):
        raise AccessDeniedException("The grant operations exceed those of the grant that allows CreateGrant.")
    if parent.constraints is not None and parent.constraints != constraints:
        raise AccessDeniedException("A grant created under a constrained grant must have the same constraints.")


def create_grant(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    operations: tuple[GrantOperation, ...],
    grantee_principal: str | None = None,
    retiring_principal: str | None = None,
    constraints: GrantConstraints | None = None,
    grant_tokens: tuple[str, ...] = (),
    name: str | None = None,
    dry_run: bool | None = None,
    grantee_service_principal: str | None = None,
    retiring_service_principal: str | None = None,
) -> CreateGrantResult:
    if grantee_service_principal is not None or retiring_service_principal is not None:
        raise UnsupportedOperationException("Trent has no AWS service principals to grant to.")
    if grantee_principal is None:
        raise ValidationException("GranteePrincipal is required.")
    wanted = frozenset(operations)
    if wanted == {GrantOperation.CreateGrant}:
        raise ValidationException("Grants must not contain only the CreateGrant operation.")
    facts: dict[str, FactValue] = {
        "kms:grantoperations": tuple(o.value for o in operations),
        "kms:granteeprincipal": grantee_principal,
        "kms:grantisforawsresource": False,
    }
    if retiring_principal is not None:
        facts["kms:retiringprincipal"] = retiring_principal
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, Operation.CreateGrant, aliases=False, reader=tx, facts=facts)
        invalid = sorted(wanted - allowed_operations(key))
        if invalid:
            raise ValidationException(
                f"Grant operations {', '.join(invalid)} are not valid for a KMS key with KeySpec {key.spec} "
                f"and KeyUsage {key.usage}."
            )
        if constraints is not None and key.spec is not KeySpec.SYMMETRIC_DEFAULT:
            raise ValidationException("Encryption context grant constraints are valid only for symmetric keys.")
        if ctx.trace.grant_id is not None:
            _within_parent(tx, ctx.trace.grant_id, frozenset(o.value for o in wanted), constraints)
        existing = tx.list_grants(key.store_id)
        ops = tuple(sorted(o.value for o in wanted))
        if name is not None:
            for grant in existing:
                same = (grant.name, grant.grantee_principal, grant.retiring_principal, grant.operations) == (
                    name,
                    grantee_principal,
                    retiring_principal,
                    ops,
                )
                if same and grant.constraints == constraints:
                    if dry_run:
                        raise DryRunOperationException()
                    return CreateGrantResult(new_grant_token(grant.grant_id), grant.grant_id)  # idempotent retry
        if len(existing) >= MAX_GRANTS_PER_KEY:
            raise LimitExceededException(f"Grants per KMS key limit exceeded for {key.arn}")
        if dry_run:
            raise DryRunOperationException()
        grant = Grant(
            grant_id=os.urandom(32).hex(),
            key_id=key.store_id,
            grantee_principal=grantee_principal,
            operations=ops,
            issuing_account=ctx.account,
            created=deps.clock(),
            name=name,
            retiring_principal=retiring_principal,
            constraints=constraints,
        )
        tx.insert_grant(grant)
    return CreateGrantResult(new_grant_token(grant.grant_id), grant.grant_id)


def list_grants(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    limit: int = 50,
    marker: str | None = None,
    grant_id: str | None = None,
    grantee_principal: str | None = None,
    grantee_service_principal: str | None = None,
) -> ListGrantsResult:
    key = resolve_key(deps, ctx, key_id, Operation.ListGrants, aliases=False)
    start = paging.after(marker) or ""
    matching = [
        g
        for g in deps.store.list_grants(key.store_id)
        if g.grant_id > start
        and (grant_id is None or g.grant_id == grant_id)
        and (grantee_principal is None or g.grantee_principal == grantee_principal)
        and grantee_service_principal is None
    ]
    page = matching[:limit]
    more = len(matching) > limit
    return ListGrantsResult(
        tuple(_entry(key, g) for g in page), more, paging.marker(page[-1].grant_id) if more else None
    )


def list_retirable_grants(
    deps: Deps,
    ctx: RequestContext,
    *,
    retiring_principal: str | None = None,
    limit: int = 50,
    marker: str | None = None,
    retiring_service_principal: str | None = None,
) -> ListGrantsResult:
    if retiring_principal is None:
        raise ValidationException("RetiringPrincipal is required.")
    # "You must specify a principal in your AWS account": another account's retiring grants are not listed.
    if retiring_principal.split(":")[4:5] != [ctx.account]:
        raise AccessDeniedException(
            f"User: {ctx.principal.arn} is not authorized to perform: kms:ListRetirableGrants on resource: "
            f"{retiring_principal} because no identity-based policy allows the kms:ListRetirableGrants action"
        )
    authorize_account(deps, ctx, Operation.ListRetirableGrants)
    page = deps.store.list_retirable_grants(retiring_principal, paging.after(marker), limit)
    entries = []
    for grant in page.items:
        key = deps.store.get_key(grant.key_id)
        if key is not None and key.region == ctx.region:
            entries.append(_entry(key, grant))
    return ListGrantsResult(tuple(entries), page.next_marker is not None, paging.marker(page.next_marker))


def _may_retire(ctx: RequestContext, grant: Grant) -> bool:
    """ "The retiring principal, the grantee if the grant includes RetireGrant, and the AWS account in which the
    grant was created" may retire a grant (AWS KMS Developer Guide, "Retiring and revoking grants")."""
    if ctx.principal.arn == grant.retiring_principal:
        return True
    if ctx.principal.arn == grant.grantee_principal and GrantOperation.RetireGrant.value in grant.operations:
        return True
    return ctx.principal.is_root and ctx.account == grant.issuing_account


def retire_grant(
    deps: Deps,
    ctx: RequestContext,
    *,
    grant_token: str | None = None,
    key_id: str | None = None,
    grant_id: str | None = None,
    dry_run: bool | None = None,
) -> Empty:
    if grant_token is not None:
        wanted = grant_id_of_token(grant_token)
    elif key_id is not None and grant_id is not None:
        wanted = _checked_grant_id(grant_id)
    else:
        raise ValidationException("Either GrantToken, or both KeyId and GrantId, must be specified.")
    with deps.store.transaction() as tx:
        grant = tx.get_grant(wanted)
        if grant is None:
            raise NotFoundException(f"Grant ID {wanted} not found")
        key = tx.get_key(grant.key_id)
        if key is not None:
            ctx.trace.keys.append(key.arn)
        if key_id is not None and (key is None or key_id not in (key.key_id, key.arn)):
            raise NotFoundException(f"Grant ID {wanted} not found")
        if not _may_retire(ctx, grant):
            resource = key.arn if key is not None else "*"
            raise AccessDeniedException(
                f"User: {ctx.principal.arn} is not authorized to perform: kms:RetireGrant on resource: {resource} "
                "because no resource-based policy allows the kms:RetireGrant action"
            )
        if dry_run:
            raise DryRunOperationException()
        tx.delete_grant(grant.grant_id)
    return Empty()


def revoke_grant(deps: Deps, ctx: RequestContext, *, key_id: str, grant_id: str, dry_run: bool | None = None) -> Empty:
    wanted = _checked_grant_id(grant_id)
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, Operation.RevokeGrant, aliases=False, reader=tx)
        grant = tx.get_grant(wanted)
        if grant is None or grant.key_id != key.store_id:
            raise NotFoundException(f"Grant ID {wanted} not found")
        if dry_run:
            raise DryRunOperationException()
        tx.delete_grant(wanted)
    return Empty()
