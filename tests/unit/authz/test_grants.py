"""authz/grants.py: grantee, operations and the EncryptionContextEquals/Subset constraints (KMS API reference,
GrantConstraints: "the key in each key-value pair is not case sensitive, but the value is case sensitive")."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from trent.authz.grants import GrantView, grant_allows

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def grant(
    grantee: str = ALICE,
    operations: tuple[str, ...] = ("Encrypt", "Decrypt", "DescribeKey"),
    equals: Mapping[str, str] | None = None,
    subset: Mapping[str, str] | None = None,
) -> GrantView:
    return GrantView("g-1", grantee, frozenset(operations), equals, subset)


# (grant, caller ARN, operation, request encryption context, allowed)
CASES = [
    pytest.param(grant(), ALICE, "Encrypt", {}, True, id="grantee and operation listed"),
    pytest.param(grant(), ALICE, "GenerateDataKey", {}, False, id="operation not listed"),
    pytest.param(grant(), BOB, "Encrypt", {}, False, id="another grantee"),
    pytest.param(grant(grantee=ROOT), ALICE, "Encrypt", {}, True, id="grant to the caller's account"),
    pytest.param(grant(grantee=ROOT), ROOT, "Encrypt", {}, True, id="grant to the account, used by its root"),
    pytest.param(grant(grantee="arn:aws:iam::444455556666:root"), ALICE, "Encrypt", {}, False, id="another account"),
    pytest.param(grant(), ALICE, "", {}, False, id="no operation"),
    # EncryptionContextEquals: the request's context is exactly the grant's.
    pytest.param(grant(equals={"Dept": "IT"}), ALICE, "Encrypt", {"Dept": "IT"}, True, id="equals: same"),
    pytest.param(grant(equals={"Dept": "IT"}), ALICE, "Encrypt", {"dept": "IT"}, True, id="equals: key case ignored"),
    pytest.param(grant(equals={"Dept": "IT"}), ALICE, "Encrypt", {"Dept": "it"}, False, id="equals: value case kept"),
    pytest.param(
        grant(equals={"Dept": "IT"}), ALICE, "Encrypt", {"Dept": "IT", "Project": "X"}, False, id="equals: extra pair"
    ),
    pytest.param(grant(equals={"Dept": "IT"}), ALICE, "Encrypt", {}, False, id="equals: no context"),
    pytest.param(grant(equals={"Dept": "IT"}), ALICE, "Decrypt", None, False, id="equals: context omitted"),
    pytest.param(grant(equals={}), ALICE, "Encrypt", {}, True, id="equals: empty matches empty"),
    pytest.param(grant(equals={}), ALICE, "Encrypt", {"Dept": "IT"}, False, id="equals: empty refuses pairs"),
    # EncryptionContextSubset: the grant's pairs are among the request's.
    pytest.param(
        grant(subset={"Dept": "IT"}), ALICE, "Encrypt", {"Dept": "IT", "Project": "X"}, True, id="subset: superset"
    ),
    pytest.param(grant(subset={"Dept": "IT"}), ALICE, "Encrypt", {"Dept": "IT"}, True, id="subset: same"),
    pytest.param(grant(subset={"Dept": "IT"}), ALICE, "Encrypt", {"DEPT": "IT"}, True, id="subset: key case ignored"),
    pytest.param(grant(subset={"Dept": "IT"}), ALICE, "Encrypt", {"Dept": "HR"}, False, id="subset: other value"),
    pytest.param(grant(subset={"Dept": "IT"}), ALICE, "Encrypt", {"Project": "X"}, False, id="subset: missing pair"),
    pytest.param(grant(subset={}), ALICE, "Encrypt", {"Project": "X"}, True, id="subset: empty is always included"),
    # Constraints apply only to operations that take an encryption context.
    pytest.param(grant(equals={"Dept": "IT"}), ALICE, "DescribeKey", None, True, id="constraints skip DescribeKey"),
    pytest.param(
        grant(operations=("RetireGrant",), subset={"Dept": "IT"}),
        ALICE,
        "RetireGrant",
        None,
        True,
        id="skip RetireGrant",
    ),
]


@pytest.mark.parametrize(("view", "caller", "operation", "context", "allowed"), CASES)
def test_grant_allows(
    view: GrantView, caller: str, operation: str, context: Mapping[str, str] | None, allowed: bool
) -> None:
    assert grant_allows(view, caller, ACCOUNT, operation, context) is allowed
