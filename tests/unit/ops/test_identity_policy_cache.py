"""The parsed identity policies a worker keeps are those of one user, not of whoever later has its name."""

from __future__ import annotations

import json
import os

import pytest

from trent.audit.sqlite import SqliteAuditLog
from trent.kms.errors import AccessDeniedException
from trent.kms.ids import AccountId, Region
from trent.kms.operations import Operation
from trent.kms.principals import Principal
from trent.ops import authorization, principals
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore

ACCOUNT = AccountId("111122223333")


def _allow(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})


def test_a_user_deleted_and_made_again_does_not_inherit_the_old_policy() -> None:
    """Its policy revisions start again from 0, so (name, revision) names the old user's policy too."""
    root = SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1")
    audit = SqliteAuditLog(":memory:", os.urandom(32))
    deps = Deps(store=SqliteStore(":memory:"), root_of_trust=root, keyring=Keyring(root), audit=audit)
    principals.create_account(deps, ACCOUNT)
    user = principals.create_user(deps, ACCOUNT, "bob")
    bob = RequestContext(Principal(ACCOUNT, user.arn, "AKIABOB"), Region("us-east-1"), "req-1")
    principals.put_user_policy(deps, ACCOUNT, "bob", _allow("kms:ListKeys"))
    authorization.check(deps.policies, deps.store, bob, None, Operation.ListKeys)  # cached: allowed
    principals.delete_user_policy(deps, ACCOUNT, "bob")
    principals.delete_user(deps, ACCOUNT, "bob")
    principals.create_user(deps, ACCOUNT, "bob")
    principals.put_user_policy(deps, ACCOUNT, "bob", _allow("kms:CreateKey"))
    again = deps.store.get_user(user.arn)
    assert again is not None and again.policy_revision == 1  # the revision the first policy had
    with pytest.raises(AccessDeniedException):
        authorization.check(deps.policies, deps.store, bob, None, Operation.ListKeys)
    authorization.check(deps.policies, deps.store, bob, None, Operation.CreateKey)
