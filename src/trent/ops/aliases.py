"""CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

Aliases are unique per account and region, case-sensitive, and must start with "alias/"; "alias/aws/" is
reserved for AWS managed keys (AWS KMS Developer Guide, "Aliases in AWS KMS").
"""

from __future__ import annotations

from trent.kms.errors import (
    AlreadyExistsException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from trent.kms.ids import ALIAS_PREFIX, RESERVED_ALIAS_PREFIX, AliasName, alias_arn, public_key_id
from trent.kms.keys import Alias, Key
from trent.kms.operations import Operation
from trent.kms.results import AliasListEntry, Empty, ListAliasesResult
from trent.ops import paging
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.resolution import authorize_account, resolve_key
from trent.store.base import DuplicateError, Reader

PREFIX_REQUIRED = (
    'Alias must start with the prefix "alias/". Please see '
    "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
)


def _checked_name(ctx: RequestContext, alias_name: str) -> AliasName:
    if not alias_name.startswith(ALIAS_PREFIX):
        raise ValidationException(PREFIX_REQUIRED)
    if alias_name.startswith(RESERVED_ALIAS_PREFIX) or alias_name == ALIAS_PREFIX + "aws":
        raise NotAuthorizedException()
    if alias_name == ALIAS_PREFIX:
        raise ValidationException(PREFIX_REQUIRED)
    if ":" in alias_name:  # the model's pattern admits ':', AWS does not
        raise ValidationException(f"{alias_name} contains invalid characters for an alias")
    return AliasName(alias_name)


def _existing(reader: Reader, ctx: RequestContext, name: AliasName) -> Alias:
    alias = reader.get_alias(ctx.account, ctx.region, name)
    if alias is None:
        raise NotFoundException(f"Alias {alias_arn(ctx.region, ctx.account, name)} is not found.")
    return alias


def create_alias(deps: Deps, ctx: RequestContext, *, alias_name: str, target_key_id: str) -> Empty:
    name = _checked_name(ctx, alias_name)
    now = deps.clock()
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, target_key_id, Operation.CreateAlias, aliases=False, reader=tx)
        try:
            tx.insert_alias(Alias(ctx.account, ctx.region, name, key.store_id, now, now))
        except DuplicateError:
            raise AlreadyExistsException(
                f"An alias with the name {alias_arn(ctx.region, ctx.account, name)} already exists"
            ) from None
    return Empty()


def _same_kind(current: Key, new: Key) -> bool:
    """ "The current and new KMS key must be the same type ... and they must have the same key usage"."""
    return current.info.family is new.info.family and current.usage is new.usage


def update_alias(deps: Deps, ctx: RequestContext, *, alias_name: str, target_key_id: str) -> Empty:
    name = _checked_name(ctx, alias_name)
    with deps.store.transaction() as tx:
        alias = _existing(tx, ctx, name)
        key = resolve_key(deps, ctx, target_key_id, Operation.UpdateAlias, aliases=False, reader=tx)
        current = tx.get_key(alias.target_key_id)
        if current is not None and not _same_kind(current, key):
            raise ValidationException(
                f"Alias {alias.arn} cannot be changed from a key of type {current.spec}/{current.usage} "
                f"to one of type {key.spec}/{key.usage}: the key type and key usage must be the same."
            )
        tx.update_alias(Alias(alias.account, alias.region, name, key.store_id, alias.creation_date, deps.clock()))
    return Empty()


def delete_alias(deps: Deps, ctx: RequestContext, *, alias_name: str) -> Empty:
    name = _checked_name(ctx, alias_name)
    with deps.store.transaction() as tx:
        _existing(tx, ctx, name)
        tx.delete_alias(ctx.account, ctx.region, name)
    return Empty()


def list_aliases(
    deps: Deps, ctx: RequestContext, *, key_id: str | None = None, limit: int = 50, marker: str | None = None
) -> ListAliasesResult:
    authorize_account(deps, ctx, Operation.ListAliases)
    target = None if key_id is None else resolve_key(deps, ctx, key_id, Operation.ListAliases, aliases=False)
    page = deps.store.list_aliases(
        ctx.account, ctx.region, None if target is None else target.store_id, paging.after(marker), limit
    )
    entries = tuple(
        AliasListEntry(a.name, a.arn, public_key_id(a.target_key_id), a.creation_date, a.last_updated_date)
        for a in page.items
    )
    return ListAliasesResult(entries, page.next_marker is not None, paging.marker(page.next_marker))
