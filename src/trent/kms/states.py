"""STATE_RULES: which key states each operation accepts, transcribed from AWS's key-state page.

Source: AWS KMS Developer Guide, "Key states of AWS KMS keys" (key-state.html), and docs/aws-semantics.md A.4.
Operations that take no existing key (CreateKey, ListKeys, GenerateRandom, ...) are absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from trent.kms.errors import DisabledException, KmsError, KMSInvalidStateException
from trent.kms.operations import Operation
from trent.kms.specs import KeyState

_S = KeyState
ALL_STATES = frozenset(KeyState)
_USABLE = frozenset({_S.ENABLED})
_NOT_PENDING_DELETION = ALL_STATES - {_S.PENDING_DELETION, _S.PENDING_REPLICA_DELETION}
_O = Operation

STATE_RULES: Mapping[Operation, frozenset[KeyState]] = MappingProxyType(
    {
        # Cryptographic operations need an enabled key.
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
        # Management of a key that is going away is refused; reading about it is not.
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
        **dict.fromkeys(
            (_O.GetParametersForImport, _O.ImportKeyMaterial, _O.DeleteImportedKeyMaterial),
            frozenset({_S.ENABLED, _S.DISABLED, _S.PENDING_IMPORT}),
        ),
    }
)

_STATE_WORDS: Mapping[KeyState, str] = MappingProxyType(
    {
        _S.PENDING_DELETION: "pending deletion",
        _S.PENDING_REPLICA_DELETION: "pending replica deletion",
        _S.PENDING_IMPORT: "pending import",
        _S.UNAVAILABLE: "unavailable",
        _S.CREATING: "creating",
        _S.UPDATING: "updating",
    }
)


def state_error(operation: Operation, state: KeyState, arn: str) -> KmsError:
    """The error AWS returns when `operation` meets a key in `state` (key-state page footnotes)."""
    if operation is Operation.CancelKeyDeletion:
        return KMSInvalidStateException(f"{arn} is not pending deletion.")
    if state is KeyState.DISABLED:
        return DisabledException(f"{arn} is disabled.")
    return KMSInvalidStateException(f"{arn} is {_STATE_WORDS.get(state, state.value)}.")


def require_state(operation: Operation, state: KeyState, arn: str) -> None:
    if state not in STATE_RULES.get(operation, ALL_STATES):
        raise state_error(operation, state, arn)
