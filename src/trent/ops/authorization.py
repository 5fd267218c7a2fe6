"""Authorization in ops: load what authz needs (key policy, the caller's identity policy, grants, request facts),
let authz decide, and turn a denial into AWS's AccessDeniedException.

Parsed policies are cached by (key, policy revision) and (user and its creation time, policy revision):
revisions change with every write, and each request reads them fresh, so a new policy applies from the very
next request, on every worker and node.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from trent.authz.conditions import FactValue, encryption_context_facts
from trent.authz.evaluate import AccessRequest, Caller, Decision, GrantView, authorize, denial_message, unseen
from trent.authz.policy import Policy, PolicyError, parse_policy
from trent.kms.errors import AccessDeniedException
from trent.kms.keys import Grant, Key
from trent.kms.operations import OPERATION_FACTS, Operation
from trent.ops.context import RequestContext
from trent.store.base import Reader

log = logging.getLogger("trent.authz")
_NEEDS_ALIASES = "kms:resourcealiases"
_NEEDS_TAGS = "aws:resourcetag/"


@dataclass(frozen=True, slots=True)
class CachedPolicy:
    policy: Policy | None
    needs_aliases: bool
    needs_tags: bool
    conditional: bool = False  # some statement has a Condition: the decision depends on request facts
    ident: tuple[str, int] = ("", 0)  # (whose policy, revision): immutable, so it can stand for the policy


def _compile(text: str | None, kind: str) -> CachedPolicy:
    if text is None:
        return CachedPolicy(None, False, False)
    try:
        policy = parse_policy(text, kind="key" if kind == "key" else "identity")
    except PolicyError:
        log.error("a stored %s policy does not parse; it allows nothing", kind)
        policy = Policy("2012-10-17", ())
    lowered = text.lower()
    conditional = any(s.conditions for s in policy.statements)
    return CachedPolicy(policy, _NEEDS_ALIASES in lowered, _NEEDS_TAGS in lowered, conditional)


@dataclass
class PolicyCache:
    """Parsed policies by immutable (id, revision). Bounded: it is cleared when it grows past `capacity`."""

    capacity: int = 10_000
    _entries: dict[tuple[str, int], CachedPolicy] = field(default_factory=dict)
    # Allow decisions of condition-free policies: a pure function of who, what, which policies (by revision).
    decisions: dict[tuple[object, ...], Decision] = field(default_factory=dict)

    def clear(self) -> None:
        """Forget everything: after a dev server's reset, an (id, revision) may name another policy."""
        self._entries.clear()
        self.decisions.clear()

    def get(self, identity: str, revision: int, load: Any, kind: str) -> CachedPolicy:
        entry = self._entries.get((identity, revision))
        if entry is None:
            if len(self._entries) >= self.capacity:
                self._entries.clear()
            entry = self._entries[(identity, revision)] = replace(_compile(load(), kind), ident=(identity, revision))
        return entry


def grant_view(grant: Grant) -> GrantView:
    constraints = grant.constraints
    return GrantView(
        grant.grant_id,
        grant.grantee_principal,
        frozenset(grant.operations),
        None if constraints is None else constraints.encryption_context_equals,
        None if constraints is None else constraints.encryption_context_subset,
    )


class _LazyGrants(Sequence[GrantView]):
    """The key's grants, read from the store only if the policies alone did not allow the request."""

    def __init__(self, reader: Reader, key: Key | None) -> None:
        self._reader, self._key = reader, key
        self._grants: tuple[GrantView, ...] | None = None

    def _load(self) -> tuple[GrantView, ...]:
        if self._grants is None:
            self._grants = (
                () if self._key is None else tuple(map(grant_view, self._reader.list_grants(self._key.store_id)))
            )
        return self._grants

    def __iter__(self) -> Iterator[GrantView]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __getitem__(self, index: Any) -> Any:
        return self._load()[index]


def identity_policies(cache: PolicyCache, reader: Reader, ctx: RequestContext) -> list[Policy]:
    return [c.policy for c in _identity(cache, reader, ctx) if c.policy is not None]


def _identity(cache: PolicyCache, reader: Reader, ctx: RequestContext) -> list[CachedPolicy]:
    if ctx.principal.is_root:
        return []  # the account's root holds every permission of its account
    user = reader.get_user(ctx.principal.arn)
    if user is None or user.policy is None:
        return []
    # A user deleted and made again starts its revisions from 0 again: its creation time tells the two apart.
    whose = f"{user.arn}@{user.created.timestamp()!r}"
    return [cache.get(whose, user.policy_revision, lambda: user.policy, "identity")]


def _permission(operation: Operation, action: str | None, grant_operation: str | None) -> tuple[str, str]:
    """The IAM action and the grant operation ("" when no grant can allow it: EnableKey, PutKeyPolicy...) to check:
    the ones given, else the operation's permission in OPERATION_FACTS. ReEncrypt, authorized as two actions,
    names each (ops/encryption.py)."""
    if action and grant_operation is not None:
        return action, grant_operation
    default = OPERATION_FACTS[operation].permission
    if grant_operation is None:
        grant_operation = "" if default.grant_operation is None else default.grant_operation.value
    return action or default.action, grant_operation


def check(
    cache: PolicyCache,
    reader: Reader,
    ctx: RequestContext,
    key: Key | None,
    operation: Operation,
    *,
    action: str | None = None,
    facts: Mapping[str, FactValue] | None = None,
    encryption_context: Mapping[str, str] | None = None,
    grant_operation: str | None = None,
    now: Any = None,
) -> Decision:
    """Decide whether the caller may do `operation` (IAM action `action`) on `key` (None: on no key); raise
    AccessDeniedException with AWS's text if not. `grant_operation` names what a grant must list ("" for
    operations no grant can allow)."""
    action, grant_operation = _permission(operation, action, grant_operation)
    resource = key.arn if key is not None else "*"
    identity = _identity(cache, reader, ctx)
    key_policy = (
        cache.get(f"key:{key.store_id}", key.policy_revision, lambda: reader.get_policy(key.store_id), "key")
        if key is not None
        else None
    )
    compiled = [c for c in (key_policy, *identity) if c is not None]
    memo: tuple[object, ...] | None = None
    if not any(c.conditional for c in compiled):
        # Without conditions, facts cannot matter; grants are consulted only when policies do not allow, and
        # only allow decisions are remembered, so a new grant or policy (a new revision) is never missed.
        memo = (ctx.principal.arn, ctx.principal.is_root, action, resource, *(c.ident for c in compiled))
        remembered = cache.decisions.get(memo)
        if remembered is not None:
            return remembered
    all_facts: dict[str, FactValue] = {"aws:sourceip": ctx.source_ip} if ctx.source_ip else {}
    if now is not None:
        all_facts["aws:currenttime"] = now
    if key is not None:
        all_facts.update(
            {"kms:keyspec": key.spec.value, "kms:keyusage": key.usage.value, "kms:keyorigin": key.origin.value}
        )
        if any(c.needs_aliases for c in compiled):
            aliases = reader.list_aliases(key.account, key.region, key.store_id, None, 1000).items
            all_facts["kms:resourcealiases"] = tuple(a.name for a in aliases)
        if any(c.needs_tags for c in compiled):
            for tag in reader.get_tags(key.store_id):
                all_facts[f"aws:resourcetag/{tag.tag_key.lower()}"] = tag.tag_value
    if encryption_context is not None:
        all_facts.update(encryption_context_facts(encryption_context))
    all_facts.update({k.lower(): v for k, v in (facts or {}).items()})
    request = AccessRequest(action, resource, key.account if key is not None else None, all_facts)
    decision = authorize(
        Caller(ctx.principal.arn, ctx.account, ctx.principal.is_root),
        request,
        None if key_policy is None else key_policy.policy,
        [c.policy for c in identity if c.policy is not None],
        _LazyGrants(reader, key),
        operation=grant_operation,
        encryption_context=encryption_context,
    )
    if not decision.allowed:
        foreign = key is not None and key.account != ctx.account
        message = denial_message(decision, ctx.principal.arn, action, resource, foreign=foreign)
        raise AccessDeniedException(message, unseen=unseen(decision, foreign=foreign))
    if memo is not None and decision.grant_id is None:
        if len(cache.decisions) >= cache.capacity:
            cache.decisions.clear()
        cache.decisions[memo] = decision
    return decision
