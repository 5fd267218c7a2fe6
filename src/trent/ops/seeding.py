"""Planting a seed (ops/seeds.py) in the store: what it names and the store lacks is made, through the same
operations a request runs (their checks, authorization as the account's root, and audit records); what is there
already is left as it is, so planting the same seed twice changes nothing (docs/seeds.md).

A thing that exists but cannot be the seed's (a key id of another spec or account, other key material, an
access key of another principal or with another secret) is refused: SeedError, naming the entry.
"""

from __future__ import annotations

import contextlib
import hmac
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from trent.audit.events import AuditEvent
from trent.crypto import material as crypto_material
from trent.kms.errors import KmsError
from trent.kms.ids import AccountId, KeyId, Region
from trent.kms.keys import Key
from trent.kms.operations import Operation
from trent.kms.principals import Principal, root_arn, user_arn
from trent.kms.results import DescribeKeyResult
from trent.kms.specs import KeyState, Origin
from trent.ops import aliases, grants, keys, policies, principals, rotation
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.journal import chain_now, event_for, journal
from trent.ops.policies import default_policy
from trent.ops.resolution import authorize_account
from trent.ops.seeds import Seed, SeedAccessKey, SeedError, SeedGrant, SeedKey, SeedUser
from trent.ops.tags import request_tag_facts

SEED_AGENT = "trent-seed"  # the userAgent of the audit records of what a seed made


class _Exists(Exception):
    """The key was made meanwhile (another node planting the same seed at the same moment)."""


def _context(account: AccountId, region: str) -> RequestContext:
    principal = Principal(account, root_arn(account), "")
    return RequestContext(principal, Region(region), str(uuid.uuid4()), "localhost", SEED_AGENT)


class _Journal:
    """The operations of one planting step and their audit records, committed together (ops/dispatch.py)."""

    def __init__(self, deps: Deps, account: AccountId, region: str) -> None:
        self.deps, self.account, self.region = deps, account, region
        self.events: list[AuditEvent] = []

    def run(self, operation: Operation, call: Callable[..., Any], **params: Any) -> Any:
        shown = params.pop("recorded", None) or params  # the seed's own entry is not a request parameter
        ctx = _context(self.account, self.region)
        result = call(self.deps, ctx, **params)
        self.events.append(event_for(self.deps, ctx, operation.value, shown, result, None))
        return result


@contextlib.contextmanager
def _planting(deps: Deps, account: AccountId, region: str, chain: bool) -> Iterator[_Journal]:
    book = _Journal(deps, account, region)
    with deps.store.unit() as unit:
        yield book
        for event in book.events:
            journal(unit, event)
    for event in book.events if chain else ():
        chain_now(deps, event)


def apply_seed(deps: Deps, seed: Seed, default_account: AccountId, *, chain: bool = True) -> Counter[str]:
    """Make what the seed names and the store lacks; how many of each kind were made.

    The audit records commit with the changes, in the store's outbox; `chain` also hands them to the audit log
    at once (a process that writes the audit log itself: `trent serve` at start). A worker, whose audit writer
    is another process, passes False: the writer chains them from the outbox at its next drain (decision 0009).
    """
    made: Counter[str] = Counter()
    fallback = seed.account or default_account
    wanted = [fallback, *seed.accounts]
    wanted += [u.account for u in seed.users if u.account is not None]
    wanted += [a.account for a in seed.access_keys if a.account is not None]
    wanted += [k.account for k in seed.keys if k.account is not None]
    for account in dict.fromkeys(wanted):
        if deps.store.get_account(account) is None:
            principals.create_account(deps, account)
            made["account"] += 1
    for user in seed.users:
        made["user"] += _guarded(user.entry, _user, deps, user, user.account or fallback)
    for access in seed.access_keys:
        made["access key"] += _guarded(access.entry, _access_key, deps, access, access.account or fallback)
    for key in seed.keys:
        made.update(_guarded(key.entry, _key, deps, key, key.account or fallback, chain))
    return +made  # only the kinds of which something was made


def _guarded(entry: str, step: Callable[..., Any], *args: Any) -> Any:
    """The step's outcome; a refusal of the operations it ran as a SeedError naming the entry."""
    try:
        return step(*args)
    except SeedError:
        raise
    except KmsError as exc:
        raise SeedError(entry, f"{exc.code}: {exc.message}" if exc.message else exc.code) from None
    except principals.PrincipalError as exc:
        raise SeedError(entry, str(exc)) from None


def _user(deps: Deps, user: SeedUser, account: AccountId) -> int:
    if deps.store.get_user(user_arn(account, user.name)) is not None:
        return 0
    principals.create_user(deps, account, user.name)
    if user.policy is not None:
        principals.put_user_policy(deps, account, user.name, user.policy)
    return 1


def _access_key(deps: Deps, access: SeedAccessKey, account: AccountId) -> int:
    owner = root_arn(account) if access.user is None else user_arn(account, access.user)
    found = deps.store.get_access_key(access.access_key_id)
    if found is None:
        principals.create_access_key(deps, account, owner, access.access_key_id, access.secret)
        return 1
    if found.principal_arn != owner:
        raise SeedError(access.entry, f"access key {access.access_key_id} exists already, for {found.principal_arn}")
    if principals.secret_of(deps, found) != access.secret:
        raise SeedError(access.entry, f"access key {access.access_key_id} exists already, with another secret")
    return 0


def _key(deps: Deps, seed: SeedKey, account: AccountId, chain: bool) -> Counter[str]:
    existing = deps.store.get_key(seed.key_id)
    if existing is None:
        try:
            return _new_key(deps, seed, account, chain)
        except _Exists:
            existing = deps.store.get_key(seed.key_id)
            assert existing is not None
    _check_same(deps, seed, existing, account)
    return _missing_parts(deps, seed, existing, chain)


def _new_key(deps: Deps, seed: SeedKey, account: AccountId, chain: bool) -> Counter[str]:
    """The key and all of it, in one commit: a crash leaves the whole key, or none of it."""
    made: Counter[str] = Counter(key=1)
    with _planting(deps, account, seed.region, chain) as book:
        recorded = {"key_spec": seed.spec, "key_usage": seed.usage, "description": seed.description}
        book.run(Operation.CreateKey, _create_key, seed=seed, recorded=recorded | {"origin": Origin.AWS_KMS})
        key_id = seed.key_id
        if seed.rotation_period_days is not None:
            rotate = rotation.enable_key_rotation
            book.run(
                Operation.EnableKeyRotation, rotate, key_id=key_id, rotation_period_in_days=seed.rotation_period_days
            )
        for name in seed.aliases:
            book.run(Operation.CreateAlias, aliases.create_alias, alias_name=name, target_key_id=key_id)
            made["alias"] += 1
        for grant in seed.grants:
            _create_grant(book, key_id, grant)
            made["grant"] += 1
        if not seed.enabled:
            book.run(Operation.DisableKey, keys.disable_key, key_id=key_id)
        if seed.policy is not None:
            # Last, so the steps above ran under the default policy; a seed's policy is the operator's choice,
            # not a caller's, so the lockout check does not apply.
            put = policies.put_key_policy
            book.run(
                Operation.PutKeyPolicy, put, key_id=key_id, policy=seed.policy, bypass_policy_lockout_safety_check=True
            )
    return made


def _create_key(deps: Deps, ctx: RequestContext, *, seed: SeedKey) -> DescribeKeyResult:
    """CreateKey with the seed's key id, and its material if it gives some (else fresh material, made once).
    Origin AWS_KMS either way: the material is stored as generated material is, wrapped by the root of trust."""
    facts = {
        "kms:keyspec": seed.spec.value,
        "kms:keyusage": seed.usage.value,
        "kms:keyorigin": Origin.AWS_KMS.value,
        **request_tag_facts(seed.tags),
    }
    authorize_account(deps, ctx, Operation.CreateKey, facts)
    key = Key(
        key_id=seed.key_id,
        account=ctx.account,
        region=ctx.region,
        spec=seed.spec,
        usage=seed.usage,
        origin=Origin.AWS_KMS,
        state=KeyState.ENABLED,
        creation_date=deps.clock(),
        description=seed.description,
    )
    secret = seed.material.reveal() if seed.material is not None else crypto_material.generate(key.info)
    wrapped = deps.keyring.wrap(key.store_id, key.current_version, secret)
    with deps.store.transaction() as tx:
        if tx.get_key(key.store_id) is not None:
            raise _Exists()
        tx.insert_key(key, wrapped, default_policy(ctx.account), seed.tags)
    ctx.trace.keys.append(key.arn)
    return DescribeKeyResult(keys.metadata(key))


def _create_grant(book: _Journal, key_id: KeyId, grant: SeedGrant) -> None:
    book.run(
        Operation.CreateGrant,
        grants.create_grant,
        key_id=key_id,
        grantee_principal=grant.grantee_principal,
        operations=grant.operations,
        name=grant.name,
        retiring_principal=grant.retiring_principal,
        constraints=grant.constraints,
    )


def _check_same(deps: Deps, seed: SeedKey, key: Key, account: AccountId) -> None:
    """A key the store has under the seed's key id must be the seed's: same place, spec, usage and material."""
    facts = {"account": (key.account, account), "region": (key.region, seed.region), "key_spec": (key.spec, seed.spec)}
    facts["key_usage"] = (key.usage, seed.usage)
    for name, (found, given) in facts.items():
        if found != given:
            raise SeedError(seed.entry, f"key {seed.key_id} exists already with {name} {found}, not {given}")
    if seed.material is not None:
        stored = deps.keyring.load(deps.store, key, 1).secret
        if not hmac.compare_digest(stored, seed.material.reveal()):
            raise SeedError(seed.entry, f"key {seed.key_id} exists already with other key material")


def _missing_parts(deps: Deps, seed: SeedKey, key: Key, chain: bool) -> Counter[str]:
    """Aliases and grants the seed gives an existing key that it lacks (a seed that grew since the key was made);
    an alias that exists for another key is left there (someone moved it, UpdateAlias)."""
    made: Counter[str] = Counter()
    missing = [a for a in seed.aliases if deps.store.get_alias(key.account, key.region, a) is None]
    present = deps.store.list_grants(key.store_id)
    new_grants = [g for g in seed.grants if not any(_same_grant(g, p) for p in present)]
    if not missing and not new_grants:
        return made
    with _planting(deps, key.account, key.region, chain) as book:
        for name in missing:
            book.run(Operation.CreateAlias, aliases.create_alias, alias_name=name, target_key_id=key.key_id)
            made["alias"] += 1
        for grant in new_grants:
            _create_grant(book, key.key_id, grant)
            made["grant"] += 1
    return made


def _same_grant(seed: SeedGrant, grant: Any) -> bool:
    operations = tuple(sorted(o.value for o in set(seed.operations)))
    mine = (seed.grantee_principal, operations, seed.name, seed.retiring_principal, seed.constraints)
    return mine == (grant.grantee_principal, grant.operations, grant.name, grant.retiring_principal, grant.constraints)
