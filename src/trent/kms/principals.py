"""Who is calling: the principal an access key authenticates as."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trent.kms.ids import AccountId

DEFAULT_ACCOUNT = AccountId("111122223333")
# AWS's AccessKeyIdType: 16-128 word characters (IAM API Reference, "AccessKey"). A dev server (docs/dev-mode.md)
# also takes the short ids test suites use: moto's FOOBARKEY, LocalStack's test.
ACCESS_KEY_ID = re.compile(r"\w{16,128}", re.ASCII)
DEV_ACCESS_KEY_ID = re.compile(r"\w{1,128}", re.ASCII)
ACCESS_KEY_ID_RULE = "an access key id is 16-128 word characters (letters, digits, _), as AWS's are"
DEV_ACCESS_KEY_ID_RULE = "an access key id is 1-128 word characters (letters, digits, _)"


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
