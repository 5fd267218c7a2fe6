"""The operations of the AWS KMS API (botocore's KMS model, 2014-11-01), as one enum, and OPERATION_FACTS: what
Trent needs to know of each operation, as one table with one row per operation.

Every per-operation set elsewhere (STATE_RULES, READ_ONLY, TRACKED_USES, CROSS_ACCOUNT_ACTIONS, CONTEXT_OPERATIONS,
the IAM action and grant operation of a request) is derived from this table, so an operation's facts are written
once. Tests assert the enum equals the model's operation list and check the facts against the model where it
states them (tests/unit/kms/test_operation_facts.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Flag, StrEnum, auto
from types import MappingProxyType

from trent.kms.quotas import QuotaBy
from trent.kms.specs import GrantOperation, KeyState


class Operation(StrEnum):
    CancelKeyDeletion = "CancelKeyDeletion"
    ConnectCustomKeyStore = "ConnectCustomKeyStore"
    CreateAlias = "CreateAlias"
    CreateCustomKeyStore = "CreateCustomKeyStore"
    CreateGrant = "CreateGrant"
    CreateKey = "CreateKey"
    Decapsulate = "Decapsulate"
    Decrypt = "Decrypt"
    DeleteAlias = "DeleteAlias"
    DeleteCustomKeyStore = "DeleteCustomKeyStore"
    DeleteImportedKeyMaterial = "DeleteImportedKeyMaterial"
    DeriveSharedSecret = "DeriveSharedSecret"
    DescribeCustomKeyStores = "DescribeCustomKeyStores"
    DescribeKey = "DescribeKey"
    DisableKey = "DisableKey"
    DisableKeyRotation = "DisableKeyRotation"
    DisconnectCustomKeyStore = "DisconnectCustomKeyStore"
    EnableKey = "EnableKey"
    EnableKeyRotation = "EnableKeyRotation"
    Encapsulate = "Encapsulate"
    Encrypt = "Encrypt"
    GenerateDataKey = "GenerateDataKey"
    GenerateDataKeyPair = "GenerateDataKeyPair"
    GenerateDataKeyPairWithoutPlaintext = "GenerateDataKeyPairWithoutPlaintext"
    GenerateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext"
    GenerateMac = "GenerateMac"
    GenerateRandom = "GenerateRandom"
    GetKeyLastUsage = "GetKeyLastUsage"
    GetKeyPolicy = "GetKeyPolicy"
    GetKeyRotationStatus = "GetKeyRotationStatus"
    GetParametersForImport = "GetParametersForImport"
    GetPublicKey = "GetPublicKey"
    ImportKeyMaterial = "ImportKeyMaterial"
    ListAliases = "ListAliases"
    ListGrants = "ListGrants"
    ListKeyPolicies = "ListKeyPolicies"
    ListKeyRotations = "ListKeyRotations"
    ListKeys = "ListKeys"
    ListResourceTags = "ListResourceTags"
    ListRetirableGrants = "ListRetirableGrants"
    PutKeyPolicy = "PutKeyPolicy"
    ReEncrypt = "ReEncrypt"
    ReplicateKey = "ReplicateKey"
    RetireGrant = "RetireGrant"
    RevokeGrant = "RevokeGrant"
    RotateKeyOnDemand = "RotateKeyOnDemand"
    ScheduleKeyDeletion = "ScheduleKeyDeletion"
    Sign = "Sign"
    TagResource = "TagResource"
    UntagResource = "UntagResource"
    UpdateAlias = "UpdateAlias"
    UpdateCustomKeyStore = "UpdateCustomKeyStore"
    UpdateKeyDescription = "UpdateKeyDescription"
    UpdatePrimaryRegion = "UpdatePrimaryRegion"
    Verify = "Verify"
    VerifyMac = "VerifyMac"


@dataclass(frozen=True, slots=True)
class Permission:
    """One IAM action an operation is authorized as ("kms:Encrypt"), and the grant operation that allows it
    (None: no grant can allow it; a grant then is not consulted)."""

    action: str
    grant_operation: GrantOperation | None = None


@dataclass(frozen=True, slots=True)
class OperationFacts:
    """What AWS says of one operation.

    `permissions`: the IAM actions it needs, each with its grant operation. AWS KMS Developer Guide, "AWS KMS
    permissions" (kms-api-permissions-reference.html), and each operation's "Required permissions" in the KMS API
    reference: the action is kms:<operation>, except ReEncrypt, which needs kms:ReEncryptFrom on the source key and
    kms:ReEncryptTo on the destination key, and ReplicateKey, which needs kms:ReplicateKey on the primary key and
    kms:CreateKey in the replica Region; the grant operations are the model's GrantOperation enum ("Grant
    operations" in the developer guide's "Grants in AWS KMS").
    `states`: the key states it accepts (developer guide, "Key states of AWS KMS keys", key-state.html, and
    docs/aws-semantics.md A.4); None: no key-state rule (every state passes), for operations that take no existing
    key (CreateKey, ListKeys, GenerateRandom, ...) and ListAliases (whose KeyId only filters).
    `read_only`: CloudTrail's readOnly: operations that change nothing (the cryptographic ones included, as
    CloudTrail has it). GetParametersForImport is one ("readOnly": true in the developer guide's CloudTrail
    example) although Trent stores the wrapping key set it hands out: no KMS resource changes (decision 0012).
    `tracked_use`: KeyLastUsageTrackingOperation in the KMS model: the cryptographic operations GetKeyLastUsage
    reports.
    `cross_account`: "Cross-account permission is effective only for the following operations ... If you give a
    user in a different account permission for other operations, those permissions have no effect." (developer
    guide, "Allowing users in other accounts to use a KMS key"; the "Cross-account use: Yes" operations of
    botocore's KMS model.)
    `encryption_context`: it takes an encryption context, so grant constraints apply to it. "AWS KMS applies the
    grant constraints only to cryptographic operations that support an encryption context ... Grant constraints
    are not applied to operations that do not support an encryption context, such as ... DescribeKey or
    RetireGrant." (KMS API, GrantConstraints)
    `quota`: the request quota it draws from (kms/quotas.py QUOTAS): its own, named after it (the per-API quotas),
    a shared one ("symmetric" for GenerateRandom), the one of its key's type (QuotaBy.KEY_TYPE: the cryptographic
    operations) or of its data key pair spec (QuotaBy.KEY_PAIR_SPEC: GenerateDataKeyPair*) (developer guide,
    "Request quotas").
    """

    operation: Operation
    permissions: tuple[Permission, ...]
    states: frozenset[KeyState] | None = None
    read_only: bool = False
    tracked_use: bool = False
    cross_account: bool = False
    encryption_context: bool = False
    quota: str | QuotaBy | None = None

    @property
    def permission(self) -> Permission:
        """The permission of an operation authorized as one action; ReEncrypt, authorized as two, has none."""
        if len(self.permissions) != 1:
            raise ValueError(f"{self.operation} is authorized as several actions: name the one to check")
        return self.permissions[0]


_S = KeyState
ALL_STATES = frozenset(KeyState)
_USABLE = frozenset({_S.ENABLED})
_NOT_PENDING_DELETION = ALL_STATES - {_S.PENDING_DELETION, _S.PENDING_REPLICA_DELETION}
_ON_OFF = frozenset({_S.ENABLED, _S.DISABLED, _S.UNAVAILABLE})  # EnableKey, DisableKey
_IMPORT = frozenset({_S.ENABLED, _S.DISABLED, _S.PENDING_IMPORT})
# "When the specified KMS key is in the PendingDeletion state, this operation does not change the KMS key's
# state. Otherwise, it changes the KMS key's state to PendingImport." (KMS API, DeleteImportedKeyMaterial)
_DELETE_IMPORTED = _IMPORT | {_S.PENDING_DELETION}

# ReplicateKey: a primary with imported material may be replicated before its import (KMS API, ReplicateKey:
# "This key state changes to Enabled (or PendingImport)").
_REPLICABLE = frozenset({_S.ENABLED, _S.PENDING_IMPORT})

REENCRYPT_FROM = Permission("kms:ReEncryptFrom", GrantOperation.ReEncryptFrom)
REENCRYPT_TO = Permission("kms:ReEncryptTo", GrantOperation.ReEncryptTo)


class _F(Flag):
    """The table's notation for the boolean facts; GRANT: a grant operation of the operation's own name allows it."""

    NONE = 0
    READ_ONLY = auto()
    TRACKED = auto()
    CROSS_ACCOUNT = auto()
    GRANT = auto()
    CONTEXT = auto()


_RO, _XA, _GR = _F.READ_ONLY, _F.CROSS_ACCOUNT, _F.GRANT
# The cryptographic operations: read-only in CloudTrail, tracked by GetKeyLastUsage, cross-account, grantable.
_CRYPTO = _F.READ_ONLY | _F.TRACKED | _F.CROSS_ACCOUNT | _F.GRANT


def _row(
    operation: Operation,
    states: frozenset[KeyState] | None = None,
    flags: _F = _F.NONE,
    permissions: tuple[Permission, ...] = (),
    quota: str | QuotaBy | None = "",
) -> OperationFacts:
    """One row. Its permission is kms:<operation>, with the grant operation of that name if GRANT, unless
    `permissions` names others (ReEncrypt's two); its quota is the one named after it unless `quota` says
    otherwise, and that of its key's type if it is a cryptographic operation (TRACKED)."""
    if quota == "":
        quota = QuotaBy.KEY_TYPE if _F.TRACKED in flags else operation.value
    if not permissions:
        grant = GrantOperation(operation.value) if _F.GRANT in flags else None
        permissions = (Permission(f"kms:{operation.value}", grant),)
    return OperationFacts(
        operation,
        permissions,
        states,
        read_only=_F.READ_ONLY in flags,
        tracked_use=_F.TRACKED in flags,
        cross_account=_F.CROSS_ACCOUNT in flags,
        encryption_context=_F.CONTEXT in flags,
        quota=quota,
    )


_O = Operation
ROWS: tuple[OperationFacts, ...] = (
    _row(_O.CancelKeyDeletion, frozenset({_S.PENDING_DELETION, _S.PENDING_REPLICA_DELETION})),
    _row(_O.ConnectCustomKeyStore),
    # Management of a key that is going away is refused; reading about it is not.
    _row(_O.CreateAlias, _NOT_PENDING_DELETION),
    _row(_O.CreateCustomKeyStore),
    _row(_O.CreateGrant, frozenset({_S.ENABLED, _S.UNAVAILABLE}), _XA | _GR),
    _row(_O.CreateKey),
    _row(_O.Decapsulate, _USABLE, _CRYPTO),
    _row(_O.Decrypt, _USABLE, _CRYPTO | _F.CONTEXT),
    _row(_O.DeleteAlias, ALL_STATES),
    _row(_O.DeleteCustomKeyStore),
    _row(_O.DeleteImportedKeyMaterial, _DELETE_IMPORTED),
    _row(_O.DeriveSharedSecret, _USABLE, _CRYPTO),
    _row(_O.DescribeCustomKeyStores, None, _RO),
    _row(_O.DescribeKey, ALL_STATES, _RO | _XA | _GR),
    _row(_O.DisableKey, _ON_OFF),
    _row(_O.DisableKeyRotation, _USABLE),
    _row(_O.DisconnectCustomKeyStore),
    _row(_O.EnableKey, _ON_OFF),
    _row(_O.EnableKeyRotation, _USABLE),
    _row(_O.Encapsulate, _USABLE, _CRYPTO),
    _row(_O.Encrypt, _USABLE, _CRYPTO | _F.CONTEXT),
    _row(_O.GenerateDataKey, _USABLE, _CRYPTO | _F.CONTEXT),
    _row(_O.GenerateDataKeyPair, _USABLE, _CRYPTO | _F.CONTEXT, quota=QuotaBy.KEY_PAIR_SPEC),
    _row(_O.GenerateDataKeyPairWithoutPlaintext, _USABLE, _CRYPTO | _F.CONTEXT, quota=QuotaBy.KEY_PAIR_SPEC),
    _row(_O.GenerateDataKeyWithoutPlaintext, _USABLE, _CRYPTO | _F.CONTEXT),
    _row(_O.GenerateMac, _USABLE, _CRYPTO),
    _row(_O.GenerateRandom, None, _RO, quota="symmetric"),
    _row(_O.GetKeyLastUsage, ALL_STATES, _RO),
    _row(_O.GetKeyPolicy, ALL_STATES, _RO),
    _row(_O.GetKeyRotationStatus, ALL_STATES, _RO | _XA),
    _row(_O.GetParametersForImport, _IMPORT, _RO),
    _row(_O.GetPublicKey, _USABLE, _RO | _XA | _GR),
    _row(_O.ImportKeyMaterial, _IMPORT),
    _row(_O.ListAliases, None, _RO),
    _row(_O.ListGrants, ALL_STATES, _RO | _XA),
    _row(_O.ListKeyPolicies, ALL_STATES, _RO),
    _row(_O.ListKeyRotations, ALL_STATES, _RO),
    _row(_O.ListKeys, None, _RO),
    _row(_O.ListResourceTags, ALL_STATES, _RO),
    _row(_O.ListRetirableGrants, None, _RO),
    _row(_O.PutKeyPolicy, ALL_STATES),
    _row(_O.ReEncrypt, _USABLE, _CRYPTO | _F.CONTEXT, (REENCRYPT_FROM, REENCRYPT_TO)),
    # On the primary key, and kms:CreateKey (IAM) in the replica Region; a disabled primary: DisabledException.
    _row(_O.ReplicateKey, _REPLICABLE, permissions=(Permission("kms:ReplicateKey"), Permission("kms:CreateKey"))),
    _row(_O.RetireGrant, ALL_STATES, _XA | _GR),
    _row(_O.RevokeGrant, ALL_STATES, _XA),
    _row(_O.RotateKeyOnDemand, _USABLE),
    _row(_O.ScheduleKeyDeletion, _NOT_PENDING_DELETION),
    _row(_O.Sign, _USABLE, _CRYPTO),
    _row(_O.TagResource, _NOT_PENDING_DELETION),
    _row(_O.UntagResource, _NOT_PENDING_DELETION),
    _row(_O.UpdateAlias, _NOT_PENDING_DELETION),
    _row(_O.UpdateCustomKeyStore),
    _row(_O.UpdateKeyDescription, _NOT_PENDING_DELETION),
    _row(_O.UpdatePrimaryRegion, _USABLE),
    _row(_O.Verify, _USABLE, _CRYPTO),
    _row(_O.VerifyMac, _USABLE, _CRYPTO),
)

OPERATION_FACTS: Mapping[Operation, OperationFacts] = MappingProxyType({row.operation: row for row in ROWS})
