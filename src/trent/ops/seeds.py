"""Seed files: the records a seed describes, and the pure parser that checks a seed document into them.

A seed (docs/seeds.md) is a document already read from TOML or YAML: accounts, users with identity policies,
access keys, and keys with given key ids, their aliases and grants, and optionally their key material. Every
refusal is a SeedError naming the entry (`keys[2]`, `keys[0].grants[1]`) and the reason, never a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trent.authz.policy import PolicyError, parse_policy
from trent.crypto import imported
from trent.kms.errors import TagException
from trent.kms.ids import ALIAS_PREFIX, RESERVED_ALIAS_PREFIX, AccountId, AliasName, KeyId, Region, is_key_id
from trent.kms.keys import GrantConstraints, Tag
from trent.kms.principals import ACCESS_KEY_ID, ACCESS_KEY_ID_RULE
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KEY_SPECS, GrantOperation, KeySpec, KeyUsage
from trent.ops.principals import ACCOUNT_ID, USER_NAME
from trent.ops.tags import checked_tags

DEFAULT_REGION = Region("us-east-1")
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")
# EnableKeyRotation's RotationPeriodInDays: "a number of days between 90 and 2560" (KMS API).
MIN_ROTATION_DAYS, MAX_ROTATION_DAYS = 90, 2560
_EXAMPLE_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


class SeedError(ValueError):
    """A seed that cannot be used: `entry` says where (empty for the whole document), `reason` why."""

    def __init__(self, entry: str, reason: str) -> None:
        super().__init__(f"{entry}: {reason}" if entry else reason)
        self.entry, self.reason = entry, reason


@dataclass(frozen=True, slots=True)
class SeedUser:
    entry: str
    account: AccountId | None  # None: the seed's (or the server's) default account
    name: str
    policy: str | None  # its identity policy document


@dataclass(frozen=True, slots=True)
class SeedAccessKey:
    entry: str
    account: AccountId | None
    user: str | None  # None: the account's root
    access_key_id: str
    secret: Sensitive = field(repr=False)


@dataclass(frozen=True, slots=True)
class SeedGrant:
    entry: str
    grantee_principal: str
    operations: tuple[GrantOperation, ...]
    name: str | None = None
    retiring_principal: str | None = None
    constraints: GrantConstraints | None = None


@dataclass(frozen=True, slots=True)
class SeedKey:
    entry: str
    key_id: KeyId
    account: AccountId | None
    region: Region
    spec: KeySpec
    usage: KeyUsage
    description: str = ""
    policy: str | None = None  # None: the default key policy
    tags: tuple[Tag, ...] = ()
    enabled: bool = True
    rotation_period_days: int | None = None  # None: automatic rotation off
    material: Sensitive | None = field(default=None, repr=False)  # as Trent keeps it (crypto/imported.py)
    aliases: tuple[AliasName, ...] = ()
    grants: tuple[SeedGrant, ...] = ()


@dataclass(frozen=True, slots=True)
class Seed:
    accounts: tuple[AccountId, ...] = ()
    users: tuple[SeedUser, ...] = ()
    access_keys: tuple[SeedAccessKey, ...] = ()
    keys: tuple[SeedKey, ...] = ()
    account: AccountId | None = None  # the default of every entry; None: the server's default account
    source: str = ""  # the file it was read from, for messages


_TOP = ("account", "region", "accounts", "users", "access_keys", "keys")
_USER = ("name", "account", "policy")
_ACCESS_KEY = ("access_key_id", "secret_access_key", "account", "user")
_KEY = (
    "key_id",
    "account",
    "region",
    "key_spec",
    "key_usage",
    "description",
    "policy",
    "tags",
    "enabled",
    "rotation_enabled",
    "rotation_period_days",
    "material",
    "aliases",
    "grants",
)
_GRANT = ("grantee_principal", "operations", "name", "retiring_principal", "constraints")
_CONSTRAINTS = ("encryption_context_equals", "encryption_context_subset")


class _Entry:
    """One table of the document, read field by field; unknown fields are refused before any is read."""

    def __init__(self, where: str, value: object, allowed: Sequence[str]) -> None:
        if not isinstance(value, Mapping):
            raise SeedError(where, f"must be a table (mapping) of {', '.join(allowed)}")
        unknown = [str(k) for k in value if k not in allowed]
        if unknown:
            raise SeedError(where, f"unknown field {unknown[0]!r} (the fields are: {', '.join(allowed)})")
        self.where, self.value = where, value

    def fail(self, reason: str) -> SeedError:
        return SeedError(self.where, reason)

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.value.get(name, default)
        if value is None and required:
            raise self.fail(f"{name} is required")
        if value is not None and not isinstance(value, str):
            raise self.fail(f"{name} must be a string")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.value.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(f"{name} must be true or false")
        return value

    def items(self, name: str) -> list[object]:
        value = self.value.get(name, [])
        if not isinstance(value, list):
            raise self.fail(f"{name} must be a list")
        return value

    def strings(self, name: str) -> dict[str, str]:
        value = self.value.get(name, {})
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise self.fail(f"{name} must be a table of strings")
        return {str(k): v for k, v in value.items()}


def _list(document: Mapping[str, Any], name: str) -> list[object]:
    value = document.get(name, [])
    if not isinstance(value, list):
        raise SeedError(name, "must be a list")
    return value


def _account_id(value: object) -> str | None:
    """An account id, also as YAML reads an unquoted one (an integer); None if it is none."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    return text if isinstance(text, str) and ACCOUNT_ID.fullmatch(text) is not None else None


def _account(entry: _Entry, default: AccountId | None = None) -> AccountId | None:
    value = entry.value.get("account")
    if value is None:
        return default
    account = _account_id(value)
    if account is None:
        raise entry.fail(f"account {value!r} is not an account id (12 digits, quoted in YAML)")
    return AccountId(account)


def _policy(entry: _Entry, kind: str) -> str | None:
    """A policy given as JSON text, or as a table the seed's own syntax writes (stored as compact JSON)."""
    value = entry.value.get("policy")
    if value is None:
        return None
    if isinstance(value, Mapping):
        text = json.dumps(value)
    elif isinstance(value, str):
        text = value
        try:
            json.loads(text)
        except ValueError as exc:
            raise entry.fail(f"policy is not valid JSON: {exc}") from None
    else:
        raise entry.fail("policy must be a JSON string or a table")
    try:
        parse_policy(text, kind="key" if kind == "key" else "identity")
    except PolicyError as exc:
        raise entry.fail(f"policy is not a valid {kind} policy: {exc}") from None
    return text


def _user(where: str, value: object, default: AccountId | None) -> SeedUser:
    entry = _Entry(where, value, _USER)
    name = entry.text("name", required=True)
    assert name is not None
    if USER_NAME.fullmatch(name) is None:
        raise entry.fail(f"name {name!r} is not a user name (1-64 of letters, digits and +=,.@_-)")
    return SeedUser(where, _account(entry, default), name, _policy(entry, "identity"))


def _access_key(where: str, value: object, default: AccountId | None) -> SeedAccessKey:
    entry = _Entry(where, value, _ACCESS_KEY)
    key_id = entry.text("access_key_id", required=True)
    secret = entry.text("secret_access_key", required=True)
    assert key_id is not None and secret is not None
    if ACCESS_KEY_ID.fullmatch(key_id) is None:
        raise entry.fail(f"access_key_id {key_id!r} is not an access key id ({ACCESS_KEY_ID_RULE})")
    if len(secret) < 16:
        raise entry.fail("secret_access_key must be at least 16 characters")
    user = entry.text("user")
    if user is not None and USER_NAME.fullmatch(user) is None:
        raise entry.fail(f"user {user!r} is not a user name")
    return SeedAccessKey(where, _account(entry, default), user, key_id, Sensitive(secret.encode()))


def _enum(entry: _Entry, name: str, kind: type[Any], value: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise entry.fail(f"{name} {value!r} is not one of {', '.join(m.value for m in kind)}") from None


def _spec_and_usage(entry: _Entry) -> tuple[KeySpec, KeyUsage]:
    spec = _enum(entry, "key_spec", KeySpec, entry.text("key_spec", KeySpec.SYMMETRIC_DEFAULT.value) or "")
    info = KEY_SPECS[spec]
    if info.unsupported:
        raise entry.fail(info.unsupported)
    usage_text = entry.text("key_usage")
    if usage_text is None:
        if len(info.usages) != 1:
            usages = ", ".join(sorted(u.value for u in info.usages))
            raise entry.fail(f"key_usage is required for key_spec {spec} (one of {usages})")
        return spec, next(iter(info.usages))
    usage = _enum(entry, "key_usage", KeyUsage, usage_text)
    if usage not in info.usages:
        raise entry.fail(f"key_usage {usage} is not compatible with key_spec {spec}")
    return spec, usage


def _rotation(entry: _Entry, spec: KeySpec) -> int | None:
    enabled = entry.flag("rotation_enabled", False)
    period = entry.value.get("rotation_period_days")
    if period is not None and (not isinstance(period, int) or isinstance(period, bool)):
        raise entry.fail("rotation_period_days must be a whole number of days")
    if period is not None and not enabled:
        raise entry.fail("rotation_period_days needs rotation_enabled = true")
    if not enabled:
        return None
    if spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise entry.fail(f"rotation_enabled: only SYMMETRIC_DEFAULT keys rotate automatically, not {spec}")
    period = 365 if period is None else period
    if not MIN_ROTATION_DAYS <= period <= MAX_ROTATION_DAYS:
        raise entry.fail(f"rotation_period_days must be between {MIN_ROTATION_DAYS} and {MAX_ROTATION_DAYS}")
    return period


def _aliases(entry: _Entry) -> tuple[AliasName, ...]:
    names = []
    for name in entry.items("aliases"):
        if not isinstance(name, str):
            raise entry.fail("aliases must be a list of strings")
        if not name.startswith(ALIAS_PREFIX) or name == ALIAS_PREFIX:
            raise entry.fail(f"alias {name!r} does not start with alias/ (followed by a name)")
        if name.startswith(RESERVED_ALIAS_PREFIX) or name == ALIAS_PREFIX + "aws":
            raise entry.fail(f"alias {name!r}: alias/aws/ is reserved for AWS managed keys")
        if re.fullmatch(r"alias/[a-zA-Z0-9/_-]{1,250}", name) is None:
            raise entry.fail(f"alias {name!r} may hold only letters, digits, /, _ and - after alias/ (1-250)")
        names.append(AliasName(name))
    return tuple(names)


def _grant(where: str, value: object) -> SeedGrant:
    entry = _Entry(where, value, _GRANT)
    grantee = entry.text("grantee_principal", required=True)
    assert grantee is not None
    operations = entry.items("operations")
    if not operations or not all(isinstance(o, str) for o in operations):
        raise entry.fail("operations must be a list of grant operations (Decrypt, Encrypt, ...)")
    ops = tuple(_enum(entry, "operation", GrantOperation, str(o)) for o in operations)
    constraints = None
    if "constraints" in entry.value:
        inner = _Entry(where + ".constraints", entry.value["constraints"], _CONSTRAINTS)
        if len(inner.value) != 1:
            raise inner.fail("give one of encryption_context_equals and encryption_context_subset")
        equals, subset = (inner.strings(n) if n in inner.value else None for n in _CONSTRAINTS)
        constraints = GrantConstraints(encryption_context_subset=subset, encryption_context_equals=equals)
    return SeedGrant(where, grantee, ops, entry.text("name"), entry.text("retiring_principal"), constraints)


def _material(entry: _Entry, spec: KeySpec) -> Sensitive | None:
    text = entry.text("material")
    if text is None:
        return None
    try:
        return Sensitive(imported.from_text(KEY_SPECS[spec], text))
    except imported.InvalidMaterial as exc:
        raise entry.fail(f"material does not fit key_spec {spec}: {exc}") from None


def _tags(entry: _Entry) -> tuple[Tag, ...]:
    tags = tuple(Tag(k, v) for k, v in entry.strings("tags").items())
    try:
        return checked_tags((), tags)
    except TagException as exc:
        raise entry.fail(f"tags: {exc.message}") from None


def _key(where: str, value: object, default: AccountId | None, region: Region) -> SeedKey:
    entry = _Entry(where, value, _KEY)
    key_id = entry.text("key_id", required=True)
    assert key_id is not None
    if not is_key_id(key_id) or key_id.startswith("mrk-"):
        raise entry.fail(f"key_id {key_id!r} is not a key id (a lowercase UUID such as {_EXAMPLE_KEY_ID})")
    spec, usage = _spec_and_usage(entry)
    return SeedKey(
        entry=where,
        key_id=KeyId(key_id),
        account=_account(entry, default),
        region=_region(entry, region),
        spec=spec,
        usage=usage,
        description=entry.text("description", "") or "",
        policy=_policy(entry, "key"),
        tags=_tags(entry),
        enabled=entry.flag("enabled", True),
        rotation_period_days=_rotation(entry, spec),
        material=_material(entry, spec),
        aliases=_aliases(entry),
        grants=tuple(_grant(f"{where}.grants[{i}]", g) for i, g in enumerate(entry.items("grants"))),
    )


def _region(entry: _Entry, default: Region) -> Region:
    value = entry.text("region")
    if value is None:
        return default
    if _REGION.fullmatch(value) is None:
        raise entry.fail(f"region {value!r} is not a region name (such as us-east-1)")
    return Region(value)


def _unique(entries: Sequence[Any], what: str, ident: Callable[[Any], object]) -> None:
    seen: dict[object, str] = {}
    for item in entries:
        key = ident(item)
        if key in seen:
            raise SeedError(item.entry, f"duplicate {what} {_shown(key)} (also {seen[key]})")
        seen[key] = item.entry


def _shown(key: object) -> str:
    return repr(key[-1]) if isinstance(key, tuple) else repr(key)


def parse_seed(document: Mapping[str, Any], source: str = "") -> Seed:
    """A seed from a document (a TOML or YAML file's content); SeedError for the first thing wrong in it."""
    top = _Entry("", document, _TOP)
    account = _account(top)
    region = _region(top, DEFAULT_REGION)
    accounts: list[str] = []
    for i, value in enumerate(_list(document, "accounts")):
        account_id = _account_id(value)
        if account_id is None:
            raise SeedError(f"accounts[{i}]", f"{value!r} is not an account id (12 digits, quoted in YAML)")
        if account_id in accounts:
            where = f"accounts[{accounts.index(account_id)}]"
            raise SeedError(f"accounts[{i}]", f"duplicate account {account_id!r} (also {where})")
        accounts.append(account_id)
    users = tuple(_user(f"users[{i}]", u, account) for i, u in enumerate(_list(document, "users")))
    keys = tuple(_key(f"keys[{i}]", k, account, region) for i, k in enumerate(_list(document, "keys")))
    access = tuple(_access_key(f"access_keys[{i}]", a, account) for i, a in enumerate(_list(document, "access_keys")))
    _unique(users, "user", lambda u: (u.account, u.name))
    _unique(access, "access key id", lambda a: a.access_key_id)
    _unique(keys, "key_id", lambda k: k.key_id)
    aliases = [(k.entry, (k.account, k.region, a)) for k in keys for a in k.aliases]
    seen: dict[object, str] = {}
    for where, ref in aliases:
        if ref in seen:
            raise SeedError(where, f"duplicate alias {ref[-1]!r} (also {seen[ref]})")
        seen[ref] = where
    known_users = {(u.account, u.name) for u in users}
    for a in access:
        if a.user is not None and (a.account, a.user) not in known_users:
            raise SeedError(a.entry, f"user {a.user!r} is not among the seed's users")
    return Seed(tuple(AccountId(a) for a in accounts), users, access, keys, account, source)
