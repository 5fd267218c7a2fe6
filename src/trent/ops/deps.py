"""Deps: everything an operation needs from outside, passed explicitly (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from trent.audit.port import AuditLog
from trent.ops.authorization import PolicyCache
from trent.ops.keyring import Keyring
from trent.ops.throttling import Throttle
from trent.rootoftrust.base import RootOfTrust
from trent.rootoftrust.tokenkeys import TokenKeys
from trent.store.base import Store
from trent.xksclient.http_client import HttpXksProxy
from trent.xksclient.port import XksProxy


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Deps:
    store: Store
    root_of_trust: RootOfTrust
    keyring: Keyring
    audit: AuditLog
    clock: Callable[[], datetime] = utc_now
    policies: PolicyCache = field(default_factory=PolicyCache)
    throttle: Throttle | None = None  # AWS's request quotas (--throttle aws); None: no request is throttled
    tokens: TokenKeys = field(default_factory=TokenKeys)  # the tokens of custom key stores, from this process
    xks_proxy: XksProxy = field(default_factory=HttpXksProxy)  # external key stores' proxies (xksclient/)
