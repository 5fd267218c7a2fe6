"""OPERATION_FACTS, the one table of per-operation facts, against botocore's KMS model, against AWS's documentation,
and against the hand-kept sets it replaced (their literal values before the table, kept here once as the expected
values: the sets derived from the table must be exactly these)."""

from __future__ import annotations

import re
from typing import Any

import botocore.loaders
import botocore.model
import pytest

from trent.authz.evaluate import CROSS_ACCOUNT_ACTIONS
from trent.authz.grants import CONTEXT_OPERATIONS
from trent.kms.operations import ALL_STATES, OPERATION_FACTS, ROWS, Operation, Permission
from trent.kms.specs import GrantOperation, KeyState
from trent.kms.states import STATE_RULES
from trent.ops import authorization, encryption
from trent.ops.journal import READ_ONLY, TRACKED_USES

_MODEL: Any = botocore.model.ServiceModel(botocore.loaders.Loader().load_service_model("kms", "service-2"), "kms")
_O, _S = Operation, KeyState

# ---- The sets as they were written by hand before the table (kms/states.py, ops/journal.py, authz/evaluate.py,
# authz/grants.py, ops/authorization.py, ops/encryption.py at d406854).
_USABLE = frozenset({_S.ENABLED})
_NOT_PENDING_DELETION = ALL_STATES - {_S.PENDING_DELETION, _S.PENDING_REPLICA_DELETION}
_IMPORT = frozenset({_S.ENABLED, _S.DISABLED, _S.PENDING_IMPORT})
OLD_STATE_RULES: dict[Operation, frozenset[KeyState]] = {
    **dict.fromkeys(
        (
            _O.Encrypt,
            _O.Decrypt,
            _O.ReEncrypt,
            _O.GenerateDataKey,
            _O.GenerateDataKeyWithoutPlaintext,
            _O.GenerateDataKeyPair,
            _O.GenerateDataKeyPairWithoutPlaintext,
            _O.Sign,
            _O.Verify,
            _O.GenerateMac,
            _O.VerifyMac,
            _O.GetPublicKey,
            _O.DeriveSharedSecret,
            _O.Encapsulate,
            _O.Decapsulate,
            _O.EnableKeyRotation,
            _O.DisableKeyRotation,
            _O.RotateKeyOnDemand,
        ),
        _USABLE,
    ),
    _O.CreateGrant: frozenset({_S.ENABLED, _S.UNAVAILABLE}),
    _O.EnableKey: frozenset({_S.ENABLED, _S.DISABLED, _S.UNAVAILABLE}),
    _O.DisableKey: frozenset({_S.ENABLED, _S.DISABLED, _S.UNAVAILABLE}),
    _O.CancelKeyDeletion: frozenset({_S.PENDING_DELETION}),
    **dict.fromkeys(
        (
            _O.CreateAlias,
            _O.UpdateAlias,
            _O.ScheduleKeyDeletion,
            _O.TagResource,
            _O.UntagResource,
            _O.UpdateKeyDescription,
        ),
        _NOT_PENDING_DELETION,
    ),
    **dict.fromkeys(
        (
            _O.DescribeKey,
            _O.GetKeyPolicy,
            _O.PutKeyPolicy,
            _O.ListKeyPolicies,
            _O.ListGrants,
            _O.RetireGrant,
            _O.RevokeGrant,
            _O.DeleteAlias,
            _O.ListResourceTags,
            _O.GetKeyRotationStatus,
            _O.ListKeyRotations,
            _O.GetKeyLastUsage,
        ),
        ALL_STATES,
    ),
    **dict.fromkeys((_O.GetParametersForImport, _O.ImportKeyMaterial), _IMPORT),
    # Changed by issue 13: "When the specified KMS key is in the PendingDeletion state, this operation does not
    # change the KMS key's state" (KMS API, DeleteImportedKeyMaterial): it deletes material of such a key.
    _O.DeleteImportedKeyMaterial: _IMPORT | {_S.PENDING_DELETION},
}
OLD_READ_ONLY = frozenset(
    {
        _O.DescribeCustomKeyStores,
        _O.DescribeKey,
        _O.GetKeyLastUsage,
        _O.GetKeyPolicy,
        _O.GetKeyRotationStatus,
        _O.GetParametersForImport,
        _O.GetPublicKey,
        _O.ListAliases,
        _O.ListGrants,
        _O.ListKeyPolicies,
        _O.ListKeyRotations,
        _O.ListKeys,
        _O.ListResourceTags,
        _O.ListRetirableGrants,
        _O.Encrypt,
        _O.Decrypt,
        _O.ReEncrypt,
        _O.GenerateDataKey,
        _O.GenerateDataKeyWithoutPlaintext,
        _O.GenerateDataKeyPair,
        _O.GenerateDataKeyPairWithoutPlaintext,
        _O.GenerateRandom,
        _O.Sign,
        _O.Verify,
        _O.GenerateMac,
        _O.VerifyMac,
        _O.DeriveSharedSecret,
        _O.Encapsulate,
        _O.Decapsulate,
    }
)
OLD_TRACKED_USES = frozenset(
    {
        "Decrypt",
        "DeriveSharedSecret",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateMac",
        "ReEncrypt",
        "Sign",
        "Verify",
        "VerifyMac",
        "Encapsulate",
        "Decapsulate",
    }
)
OLD_CROSS_ACCOUNT_ACTIONS = frozenset(
    f"kms:{name}".lower()
    for name in (
        "CreateGrant",
        "Decapsulate",
        "Decrypt",
        "DeriveSharedSecret",
        "DescribeKey",
        "Encapsulate",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateMac",
        "GetKeyRotationStatus",
        "GetPublicKey",
        "ListGrants",
        "ReEncryptFrom",
        "ReEncryptTo",
        "RetireGrant",
        "RevokeGrant",
        "Sign",
        "Verify",
        "VerifyMac",
    )
)
OLD_CONTEXT_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    }
)
_SINGLE = [op for op in Operation if op not in (_O.ReEncrypt, _O.ReplicateKey)]  # the two authorized as two actions


# ---- One row per operation of the model.


def test_every_operation_of_the_model_has_exactly_one_row() -> None:
    rows = [row.operation.value for row in ROWS]
    assert sorted(rows) == sorted(_MODEL.operation_names)
    assert len(rows) == len(set(rows)) == len(Operation)
    assert all(OPERATION_FACTS[op].operation is op for op in Operation)


# ---- The derived sets equal the hand-kept ones they replaced.


# The rules multi-Region keys added to the hand-kept ones (docs/multi-region.md).
MULTI_REGION_STATE_RULES: dict[Operation, frozenset[KeyState]] = {
    _O.CancelKeyDeletion: frozenset({_S.PENDING_DELETION, _S.PENDING_REPLICA_DELETION}),
    _O.ReplicateKey: frozenset({_S.ENABLED, _S.PENDING_IMPORT}),
    _O.UpdatePrimaryRegion: _USABLE,
}


def test_state_rules_are_the_old_state_rules() -> None:
    assert dict(STATE_RULES) == OLD_STATE_RULES | MULTI_REGION_STATE_RULES


def test_read_only_is_the_old_read_only() -> None:
    assert READ_ONLY == OLD_READ_ONLY


def test_tracked_uses_are_the_old_tracked_uses() -> None:
    assert TRACKED_USES == OLD_TRACKED_USES
    assert all(type(name) is str for name in TRACKED_USES)


def test_cross_account_actions_are_the_old_ones() -> None:
    assert CROSS_ACCOUNT_ACTIONS == OLD_CROSS_ACCOUNT_ACTIONS


def test_context_operations_are_the_old_ones() -> None:
    assert CONTEXT_OPERATIONS == OLD_CONTEXT_OPERATIONS


@pytest.mark.parametrize("operation", _SINGLE)
def test_default_action_and_grant_operation_are_the_old_derivation(operation: Operation) -> None:
    # Before: the action was f"kms:{operation}"; the grant operation the operation's name if GrantOperation has it.
    old_grant = operation.value if operation.value in GrantOperation.__members__ else ""
    assert authorization._permission(operation, None, None) == (f"kms:{operation}", old_grant)
    assert authorization._permission(operation, "", None) == (f"kms:{operation}", old_grant)


def test_given_action_and_grant_operation_are_kept() -> None:
    assert authorization._permission(_O.Encrypt, "kms:Other", "") == ("kms:Other", "")
    assert authorization._permission(_O.Encrypt, "kms:Other", None) == ("kms:Other", "Encrypt")
    assert authorization._permission(_O.ReEncrypt, "kms:ReEncryptTo", "ReEncryptTo") == (
        "kms:ReEncryptTo",
        "ReEncryptTo",
    )


def test_re_encrypt_purposes_are_the_old_ones() -> None:
    assert encryption.Purpose(_O.ReEncrypt, "kms:ReEncryptFrom", "ReEncryptFrom") == encryption.REENCRYPT_FROM
    assert encryption.Purpose(_O.ReEncrypt, "kms:ReEncryptTo", "ReEncryptTo") == encryption.REENCRYPT_TO
    assert encryption.Purpose(_O.Encrypt) == encryption.ENCRYPT


def test_re_encrypt_has_no_single_permission() -> None:
    with pytest.raises(ValueError, match="ReEncrypt"):
        assert not OPERATION_FACTS[_O.ReEncrypt].permission
    with pytest.raises(ValueError):
        authorization._permission(_O.ReEncrypt, None, None)


# ---- The facts against botocore's KMS model, where it states them.


def _documentation(operation: Operation) -> str:
    return str(_MODEL.operation_model(operation.value).documentation)


def _input_members(operation: Operation) -> set[str]:
    shape = _MODEL.operation_model(operation.value).input_shape
    return set(shape.members) if shape is not None else set()


def test_tracked_uses_are_the_models_key_last_usage_tracking_operations() -> None:
    assert set(_MODEL.shape_for("KeyLastUsageTrackingOperation").enum) == TRACKED_USES


def test_cross_account_operations_are_the_models() -> None:
    documented = {
        op for op in Operation if re.search(r"<b>Cross-account use</b>\s*:\s*Yes", _documentation(op)) is not None
    }
    assert {op for op, facts in OPERATION_FACTS.items() if facts.cross_account} == documented


def test_grant_operations_are_the_models_grant_operation_enum_each_once() -> None:
    listed = [p.grant_operation for row in ROWS for p in row.permissions if p.grant_operation is not None]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(GrantOperation) == set(_MODEL.shape_for("GrantOperation").enum)


def test_encryption_context_operations_are_those_taking_one() -> None:
    taking = {op for op in Operation if any("EncryptionContext" in m for m in _input_members(op))}
    assert {op for op, facts in OPERATION_FACTS.items() if facts.encryption_context} == taking


@pytest.mark.parametrize("operation", list(Operation))
def test_actions_are_among_the_required_permissions_the_model_documents(operation: Operation) -> None:
    documentation = _documentation(operation)
    if operation is _O.RetireGrant:  # "Permission to retire a grant is determined primarily by the grant."
        assert OPERATION_FACTS[operation].permission == Permission("kms:RetireGrant", GrantOperation.RetireGrant)
        return
    section = documentation.split("<b>Required permissions</b>", 1)[1].split("<b>Related operations", 1)[0]
    documented = set(re.findall(r"kms:\w+", section))
    assert {p.action for p in OPERATION_FACTS[operation].permissions} <= documented


def test_operations_on_no_key_have_no_state_rule() -> None:
    key_members = {"KeyId", "TargetKeyId", "DestinationKeyId", "AliasName"}
    for op in Operation:
        if not key_members & _input_members(op):
            assert OPERATION_FACTS[op].states is None, op


def test_operations_on_a_required_key_have_a_state_rule() -> None:
    for op in Operation:
        shape = _MODEL.operation_model(op.value).input_shape
        required = set(shape.required_members) if shape is not None else set()
        if required & {"KeyId", "TargetKeyId", "DestinationKeyId"}:
            assert OPERATION_FACTS[op].states is not None, op


# ---- Spot checks against AWS's documentation.


def test_encrypt_is_read_only_in_cloudtrail_and_cross_account() -> None:
    facts = OPERATION_FACTS[_O.Encrypt]
    assert facts.read_only and facts.cross_account and facts.tracked_use and facts.encryption_context
    assert facts.permission == Permission("kms:Encrypt", GrantOperation.Encrypt)
    assert facts.states == frozenset({KeyState.ENABLED})


def test_create_key_has_no_key_state_rule_and_is_not_read_only() -> None:
    facts = OPERATION_FACTS[_O.CreateKey]
    assert facts.states is None
    assert not facts.read_only and not facts.cross_account
    assert facts.permission == Permission("kms:CreateKey")


def test_cancel_key_deletion_accepts_only_the_pending_deletion_states() -> None:
    assert OPERATION_FACTS[_O.CancelKeyDeletion].states == frozenset(
        {KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION}
    )


def test_replicate_key_needs_replicate_key_on_the_primary_and_create_key_in_the_replica_region() -> None:
    # "kms:ReplicateKey on the primary key ... kms:CreateKey in an IAM policy in the replica Region" (KMS API)
    actions = [p.action for p in OPERATION_FACTS[_O.ReplicateKey].permissions]
    assert actions == ["kms:ReplicateKey", "kms:CreateKey"]


def test_re_encrypt_is_re_encrypt_from_and_to() -> None:
    facts = OPERATION_FACTS[_O.ReEncrypt]
    assert facts.permissions == (
        Permission("kms:ReEncryptFrom", GrantOperation.ReEncryptFrom),
        Permission("kms:ReEncryptTo", GrantOperation.ReEncryptTo),
    )


def test_describe_list_and_get_operations_are_read_only() -> None:
    for op in Operation:
        if op.value.startswith(("Describe", "List", "Get")):
            assert OPERATION_FACTS[op].read_only, op


def test_operations_that_change_something_are_not_read_only() -> None:
    verbs = (
        "Cancel",
        "Connect",
        "Create",
        "Delete",
        "Disable",
        "Disconnect",
        "Enable",
        "Import",
        "Put",
        "Replicate",
        "Retire",
        "Revoke",
        "Rotate",
        "Schedule",
        "Tag",
        "Untag",
        "Update",
    )
    changing = [op for op in Operation if op.value.startswith(verbs)]
    assert len(changing) == 27
    assert not any(OPERATION_FACTS[op].read_only for op in changing)
    assert set(Operation) - set(changing) == READ_ONLY  # everything else reads, or computes without a change


def test_tracked_uses_are_read_only_operations_on_an_enabled_key() -> None:
    for facts in ROWS:
        if facts.tracked_use:
            assert facts.read_only and facts.states == frozenset({KeyState.ENABLED}), facts.operation
        if facts.encryption_context:
            assert facts.tracked_use, facts.operation
