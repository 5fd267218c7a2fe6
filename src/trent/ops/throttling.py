"""Request quotas (`trent serve --throttle aws`, docs/throttling.md): a request draws one token from its quota's
bucket for its account and Region; an empty bucket answers ThrottlingException, as AWS KMS does.

The quota is a fact of the operation (OPERATION_FACTS' `quota`, kms/quotas.py): drawn by `charge` before the
operation runs, or, for a cryptographic operation, by `charge_key` once its key is resolved (resolution.py),
since its key's type chooses the quota. A request draws once, whatever number of keys it resolves (ReEncrypt).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from trent.kms.errors import ThrottlingException
from trent.kms.keys import Key
from trent.kms.operations import OPERATION_FACTS, Operation
from trent.kms.quotas import KEY_TYPE_QUOTAS, QUOTAS, QuotaBy, key_pair_quota
from trent.ops.context import RequestContext


class Buckets(Protocol):
    """Token buckets shared by every worker of the server (trent/buckets.py)."""

    def take(self, key: bytes, rate: float, burst: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class Throttle:
    """AWS's quotas over `buckets`; `rates` replaces the default of the quotas it names, in every Region."""

    buckets: Buckets
    rates: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def draw(self, ctx: RequestContext, quota: str) -> None:
        """One request of the caller's account in the request's Region against `quota`."""
        rate = self.rates.get(quota) or QUOTAS[quota].rate_in(ctx.region)
        # "Each quota applies to all requests ... in each one-second interval": a second's worth of burst (and
        # room for one request where the quota is below one a second: 0.1 is one in each 10-second interval).
        if not self.buckets.take(f"{ctx.account}\0{ctx.region}\0{quota}".encode(), rate, max(rate, 1.0)):
            raise ThrottlingException()


def charge(throttle: Throttle | None, ctx: RequestContext, operation: Operation, params: Mapping[str, Any]) -> None:
    """Draw the request's token before its operation runs, unless its key's type decides its quota."""
    if throttle is None:
        return
    quota = OPERATION_FACTS[operation].quota
    if quota is QuotaBy.KEY_TYPE or quota is None:
        return
    if quota is QuotaBy.KEY_PAIR_SPEC:
        quota = key_pair_quota(str(params.get("key_pair_spec", "")))
        if quota not in QUOTAS:
            return  # a spec AWS's table gives no quota (ML-KEM pairs), or none given (validation answers)
    ctx.trace.charged = True
    throttle.draw(ctx, quota)


def charge_key(throttle: Throttle | None, ctx: RequestContext, operation: Operation, key: Key) -> None:
    """Draw a cryptographic operation's token from the quota of the type of the key it resolved."""
    if throttle is None or ctx.trace.charged or OPERATION_FACTS[operation].quota is not QuotaBy.KEY_TYPE:
        return
    ctx.trace.charged = True
    quota = KEY_TYPE_QUOTAS[key.info.family]
    if quota is not None:
        throttle.draw(ctx, quota)
