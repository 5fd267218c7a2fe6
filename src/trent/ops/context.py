"""RequestContext: who is calling, where, and the request's identity; built by a front, read by ops."""

from __future__ import annotations

from dataclasses import dataclass

from trent.kms.ids import AccountId, Region
from trent.kms.principals import Principal


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    region: Region
    request_id: str
    source_ip: str = ""
    user_agent: str = ""

    @property
    def account(self) -> AccountId:
        return self.principal.account
