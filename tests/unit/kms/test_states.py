"""STATE_RULES and require_state: which key states each operation accepts, and AWS's error for the rest."""

from __future__ import annotations

import pytest

from trent.kms.errors import DisabledException, KMSInvalidStateException
from trent.kms.operations import Operation
from trent.kms.specs import KeyState
from trent.kms.states import ALL_STATES, STATE_RULES, require_state, state_error

ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NOT_ENABLED = sorted(ALL_STATES - {KeyState.ENABLED})

CRYPTOGRAPHIC = [
    Operation.Encrypt,
    Operation.Decrypt,
    Operation.ReEncrypt,
    Operation.GenerateDataKey,
    Operation.GenerateDataKeyWithoutPlaintext,
    Operation.GenerateDataKeyPair,
    Operation.GenerateDataKeyPairWithoutPlaintext,
    Operation.Sign,
    Operation.Verify,
    Operation.GenerateMac,
    Operation.VerifyMac,
    Operation.GetPublicKey,
    Operation.DeriveSharedSecret,
]


def test_all_states_is_every_key_state() -> None:
    assert frozenset(KeyState) == ALL_STATES
    assert len(ALL_STATES) == 8


def test_encrypt_accepts_only_enabled() -> None:
    assert STATE_RULES[Operation.Encrypt] == frozenset({KeyState.ENABLED})


@pytest.mark.parametrize("operation", CRYPTOGRAPHIC)
def test_cryptographic_operations_accept_only_enabled(operation: Operation) -> None:
    assert STATE_RULES[operation] == frozenset({KeyState.ENABLED})


def test_describe_key_accepts_every_state() -> None:
    assert STATE_RULES[Operation.DescribeKey] == ALL_STATES
    for state in KeyState:
        require_state(Operation.DescribeKey, state, ARN)


def test_cancel_key_deletion_accepts_only_the_pending_deletion_states() -> None:
    # A multi-Region primary key scheduled for deletion while it has replicas is PendingReplicaDeletion
    # (KMS API, ScheduleKeyDeletion); its deletion can be cancelled too.
    assert STATE_RULES[Operation.CancelKeyDeletion] == frozenset(
        {KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION}
    )


def test_the_multi_region_operations_have_their_state_rules() -> None:
    # ReplicateKey: a disabled primary gets DisabledException (KMS API, ReplicateKey errors); UpdatePrimaryRegion:
    # "Both the primary key and the replica key must be in the Enabled key state" (developer guide).
    assert STATE_RULES[Operation.ReplicateKey] == frozenset({KeyState.ENABLED, KeyState.PENDING_IMPORT})
    assert STATE_RULES[Operation.UpdatePrimaryRegion] == frozenset({KeyState.ENABLED})
    assert isinstance(state_error(Operation.ReplicateKey, KeyState.DISABLED, "arn"), DisabledException)
    creating = state_error(Operation.Encrypt, KeyState.CREATING, "arn")
    assert isinstance(creating, KMSInvalidStateException) and creating.message == "arn is creating."
    replica_deletion = state_error(Operation.Encrypt, KeyState.PENDING_REPLICA_DELETION, "arn")
    assert replica_deletion.message == "arn is pending replica deletion."


@pytest.mark.parametrize("operation", [Operation.EnableKey, Operation.DisableKey])
def test_enable_and_disable_refuse_pending_deletion(operation: Operation) -> None:
    assert KeyState.ENABLED in STATE_RULES[operation]
    assert KeyState.DISABLED in STATE_RULES[operation]
    assert KeyState.PENDING_DELETION not in STATE_RULES[operation]


def test_rules_name_only_existing_states() -> None:
    assert all(states and states <= ALL_STATES for states in STATE_RULES.values())


def test_operations_without_a_key_are_absent() -> None:
    for operation in (Operation.CreateKey, Operation.ListKeys, Operation.GenerateRandom, Operation.ListAliases):
        assert operation not in STATE_RULES
        for state in KeyState:
            require_state(operation, state, ARN)


@pytest.mark.parametrize("state", NOT_ENABLED)
def test_encrypt_refuses_every_other_state(state: KeyState) -> None:
    with pytest.raises((DisabledException, KMSInvalidStateException)):
        require_state(Operation.Encrypt, state, ARN)


def test_encrypt_on_enabled_key_passes() -> None:
    require_state(Operation.Encrypt, KeyState.ENABLED, ARN)


def test_disabled_key() -> None:
    with pytest.raises(DisabledException) as raised:
        require_state(Operation.Encrypt, KeyState.DISABLED, ARN)
    assert raised.value.message == f"{ARN} is disabled."
    assert raised.value.code == "DisabledException"


def test_pending_deletion_key() -> None:
    with pytest.raises(KMSInvalidStateException) as raised:
        require_state(Operation.Encrypt, KeyState.PENDING_DELETION, ARN)
    assert raised.value.message == f"{ARN} is pending deletion."
    assert raised.value.code == "KMSInvalidStateException"


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (KeyState.PENDING_IMPORT, "pending import"),
        (KeyState.PENDING_REPLICA_DELETION, "pending replica deletion"),
        (KeyState.UNAVAILABLE, "unavailable"),
        (KeyState.CREATING, "creating"),
        (KeyState.UPDATING, "updating"),
    ],
)
def test_other_states_are_invalid_state(state: KeyState, words: str) -> None:
    with pytest.raises(KMSInvalidStateException) as raised:
        require_state(Operation.Sign, state, ARN)
    assert raised.value.message == f"{ARN} is {words}."


@pytest.mark.parametrize("state", sorted(ALL_STATES - {KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION}))
def test_cancel_key_deletion_of_a_key_not_pending_deletion(state: KeyState) -> None:
    with pytest.raises(KMSInvalidStateException) as raised:
        require_state(Operation.CancelKeyDeletion, state, ARN)
    assert raised.value.message == f"{ARN} is not pending deletion."


def test_cancel_key_deletion_of_a_key_pending_deletion_passes() -> None:
    require_state(Operation.CancelKeyDeletion, KeyState.PENDING_DELETION, ARN)


def test_state_error_is_built_not_raised() -> None:
    error = state_error(Operation.Encrypt, KeyState.DISABLED, ARN)
    assert isinstance(error, DisabledException)
    assert error.message == f"{ARN} is disabled."
