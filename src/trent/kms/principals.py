"""Who is calling: the principal an access key authenticates as."""

from __future__ import annotations

from dataclasses import dataclass

from trent.kms.ids import AccountId

DEFAULT_ACCOUNT = AccountId("111122223333")


def root_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def user_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


@dataclass(frozen=True, slots=True)
class Principal:
    account: AccountId
    arn: str
    access_key_id: str

    @property
    def is_root(self) -> bool:
        return self.arn.endswith(":root")
