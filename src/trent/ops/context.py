"""RequestContext: who is calling, where, and the request's identity; built by a front, read by ops."""

from __future__ import annotations

from dataclasses import dataclass, field

from trent.kms.ids import AccountId, Region
from trent.kms.principals import Principal


@dataclass(slots=True)
class Trace:
    """What a request touched: for its audit event, the ARNs of the keys it resolved, in order (and the grant
    that allowed it); for its request quota, whether it drew from it already."""

    keys: list[str] = field(default_factory=list)
    grant_id: str | None = None  # set when a grant, not a policy, allowed the request
    charged: bool = False  # it drew from its request quota (ops/throttling.py): once, however many keys it resolves


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    region: Region
    request_id: str
    source_ip: str = ""
    user_agent: str = ""
    trace: Trace = field(default_factory=Trace)

    @property
    def account(self) -> AccountId:
        return self.principal.account
