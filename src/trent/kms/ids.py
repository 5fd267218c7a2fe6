"""Key and alias identifiers, and the one parser for "any key identifier" (key id, key ARN, alias, alias ARN)."""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from typing import NewType

from trent.kms.errors import NotFoundException

KeyId = NewType("KeyId", str)
KeyArn = NewType("KeyArn", str)
AliasName = NewType("AliasName", str)
AliasArn = NewType("AliasArn", str)
AccountId = NewType("AccountId", str)
Region = NewType("Region", str)

_KEY_ID = re.compile(r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})")
_ARN = re.compile(r"arn:(aws[a-z-]*):kms:([a-z0-9-]*):([0-9]*):(key|alias)/(.+)", re.DOTALL)
MULTI_REGION_PREFIX = "mrk-"  # "Multi-Region key IDs begin with mrk-" (developer guide, multi-region-keys-overview)
ALIAS_PREFIX = "alias/"
RESERVED_ALIAS_PREFIX = "alias/aws/"


def _uuid_head() -> str:
    prefix = os.urandom(8).hex()  # per process
    return f"{prefix[:8]}-{prefix[8:12]}-4{prefix[12:15]}-{'89ab'[int(prefix[15], 16) & 3]}{prefix[13:16]}-"


_ids = itertools.count(1)
_UUID_HEAD = _uuid_head()


def _after_fork_in_child() -> None:
    """A forked process (a dev server's workers) draws its own prefix: ids must differ across processes."""
    global _ids, _UUID_HEAD
    _ids, _UUID_HEAD = itertools.count(1), _uuid_head()


os.register_at_fork(after_in_child=_after_fork_in_child)


def unique_id() -> str:
    """A version-4-shaped UUID, unique and cheap: 62 random bits per process and a 48-bit counter.

    For request and event ids, which must be unique but need not be unpredictable (they are not secrets).
    """
    return f"{_UUID_HEAD}{next(_ids) & 0xFFFFFFFFFFFF:012x}"


def key_arn(region: str, account: str, key_id: str) -> KeyArn:
    return KeyArn(f"arn:aws:kms:{region}:{account}:key/{key_id}")


def alias_arn(region: str, account: str, alias_name: str) -> AliasArn:
    return AliasArn(f"arn:aws:kms:{region}:{account}:{alias_name}")


def regional_key_id(key_id: str, region: str) -> KeyId:
    """The id the store knows a key by in `region`: its key id, except for a multi-Region key, whose related keys
    share one key id across regions (docs/multi-region.md): `<mrk id>/<region>`."""
    if key_id.startswith(MULTI_REGION_PREFIX):
        return KeyId(f"{key_id}/{region}")
    return KeyId(key_id)


def public_key_id(stored: str) -> KeyId:
    """The key id of a key the store knows by `stored` (regional_key_id's inverse)."""
    return KeyId(stored.split("/", 1)[0])


def related_id_range(key_id: str) -> tuple[str, str]:
    """The store ids of every related key of a multi-Region key id lie in [low, high): `<id>/` to `<id>0`."""
    return f"{key_id}/", f"{key_id}0"


def is_key_id(value: str) -> bool:
    return _KEY_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A parsed key identifier. `key_id` or `alias_name` is set; `region`/`account` only for ARNs."""

    key_id: KeyId | None = None
    alias_name: AliasName | None = None
    region: Region | None = None
    account: AccountId | None = None

    @property
    def is_alias(self) -> bool:
        return self.alias_name is not None

    @property
    def is_arn(self) -> bool:
        return self.region is not None


def parse_key_identifier(value: str) -> KeyRef:
    """Parse a KeyId parameter as AWS does; NotFoundException for anything that cannot name a key."""
    if value.startswith("arn:"):
        m = _ARN.fullmatch(value)
        if m is None:
            raise NotFoundException(f"Invalid arn {value}")
        _, region, account, kind, rest = m.groups()
        if kind == "alias":
            return KeyRef(alias_name=AliasName(ALIAS_PREFIX + rest), region=Region(region), account=AccountId(account))
        if not is_key_id(rest):
            raise NotFoundException(f"Invalid keyId '{rest}'")
        return KeyRef(key_id=KeyId(rest), region=Region(region), account=AccountId(account))
    if value.startswith(ALIAS_PREFIX):
        return KeyRef(alias_name=AliasName(value))
    if is_key_id(value):
        return KeyRef(key_id=KeyId(value))
    raise NotFoundException(f"Invalid keyId '{value}'")
