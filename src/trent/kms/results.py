"""What operations return: typed, neutral results that any front can render.

Field names are the snake_case of AWS's member names (botocore.xform_name), so the AWS JSON front renders
them by name. None means "absent from the response"; an empty tuple is an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from trent.kms.keys import GrantConstraints, Tag
from trent.kms.keystores import ConnectionErrorCode, ConnectionState, CustomKeyStoreType
from trent.kms.sensitive import Sensitive
from trent.kms.specs import (
    DataKeyPairSpec,
    EncapsulationAlgorithm,
    EncryptionAlgorithm,
    ExpirationModel,
    ImportState,
    KeyAgreementAlgorithm,
    KeyManager,
    KeyMaterialState,
    KeySpec,
    KeyState,
    KeyUsage,
    MacAlgorithm,
    Origin,
    SigningAlgorithm,
)


@dataclass(frozen=True, slots=True)
class Empty:
    """Operations whose response has no members."""


class MultiRegionKeyType(StrEnum):
    PRIMARY = "PRIMARY"
    REPLICA = "REPLICA"


@dataclass(frozen=True, slots=True)
class MultiRegionKey:
    arn: str
    region: str


@dataclass(frozen=True, slots=True)
class MultiRegionConfiguration:
    """KeyMetadata's MultiRegionConfiguration: "PrimaryKey ... includes the current KMS key if it is the primary
    key"; "ReplicaKeys ... includes the current KMS key if it is a replica key" (KMS API)."""

    multi_region_key_type: MultiRegionKeyType
    primary_key: MultiRegionKey
    replica_keys: tuple[MultiRegionKey, ...]


@dataclass(frozen=True, slots=True)
class XksKeyConfiguration:
    """XksKeyConfigurationType: the external key of a key in an external key store."""

    id: str


@dataclass(frozen=True, slots=True)
class KeyMetadata:
    aws_account_id: str
    key_id: str
    arn: str
    creation_date: datetime
    enabled: bool
    description: str
    key_usage: KeyUsage
    key_state: KeyState
    origin: Origin
    key_manager: KeyManager
    customer_master_key_spec: KeySpec | None
    key_spec: KeySpec
    multi_region: bool
    deletion_date: datetime | None = None
    pending_deletion_window_in_days: int | None = None
    valid_to: datetime | None = None
    expiration_model: ExpirationModel | None = None
    encryption_algorithms: tuple[EncryptionAlgorithm, ...] | None = None
    signing_algorithms: tuple[SigningAlgorithm, ...] | None = None
    key_agreement_algorithms: tuple[KeyAgreementAlgorithm, ...] | None = None
    encapsulation_algorithms: tuple[EncapsulationAlgorithm, ...] | None = None
    mac_algorithms: tuple[MacAlgorithm, ...] | None = None
    current_key_material_id: str | None = None
    custom_key_store_id: str | None = None
    cloud_hsm_cluster_id: str | None = None
    multi_region_configuration: MultiRegionConfiguration | None = None
    xks_key_configuration: XksKeyConfiguration | None = None


@dataclass(frozen=True, slots=True)
class DescribeKeyResult:
    key_metadata: KeyMetadata


@dataclass(frozen=True, slots=True)
class KeyListEntry:
    key_id: str
    key_arn: str


@dataclass(frozen=True, slots=True)
class ListKeysResult:
    keys: tuple[KeyListEntry, ...]
    truncated: bool
    next_marker: str | None = None


@dataclass(frozen=True, slots=True)
class AliasListEntry:
    alias_name: str
    alias_arn: str
    target_key_id: str | None = None
    creation_date: datetime | None = None
    last_updated_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class ListAliasesResult:
    aliases: tuple[AliasListEntry, ...]
    truncated: bool
    next_marker: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduleKeyDeletionResult:
    key_id: str
    deletion_date: datetime | None  # None for a primary key with replicas (PendingReplicaDeletion)
    key_state: KeyState
    pending_window_in_days: int


@dataclass(frozen=True, slots=True)
class ReplicateKeyResult:
    replica_key_metadata: KeyMetadata
    replica_policy: str
    replica_tags: tuple[Tag, ...]


@dataclass(frozen=True, slots=True)
class CancelKeyDeletionResult:
    key_id: str


@dataclass(frozen=True, slots=True)
class ListResourceTagsResult:
    tags: tuple[Tag, ...]
    truncated: bool
    next_marker: str | None = None


@dataclass(frozen=True, slots=True)
class GetKeyPolicyResult:
    policy: str
    policy_name: str


@dataclass(frozen=True, slots=True)
class ListKeyPoliciesResult:
    policy_names: tuple[str, ...]
    truncated: bool
    next_marker: str | None = None


@dataclass(frozen=True, slots=True)
class GetPublicKeyResult:
    key_id: str
    public_key: bytes
    customer_master_key_spec: KeySpec | None
    key_spec: KeySpec
    key_usage: KeyUsage
    encryption_algorithms: tuple[EncryptionAlgorithm, ...] | None = None
    signing_algorithms: tuple[SigningAlgorithm, ...] | None = None
    key_agreement_algorithms: tuple[KeyAgreementAlgorithm, ...] | None = None
    encapsulation_algorithms: tuple[EncapsulationAlgorithm, ...] | None = None


@dataclass(frozen=True, slots=True)
class DeriveSharedSecretResult:
    key_id: str
    shared_secret: Sensitive = field(repr=False)
    key_agreement_algorithm: KeyAgreementAlgorithm
    key_origin: Origin


@dataclass(frozen=True, slots=True)
class EncryptResult:
    ciphertext_blob: bytes
    key_id: str
    encryption_algorithm: EncryptionAlgorithm


@dataclass(frozen=True, slots=True)
class DecryptResult:
    key_id: str
    plaintext: Sensitive = field(repr=False)
    encryption_algorithm: EncryptionAlgorithm
    key_material_id: str | None = None


@dataclass(frozen=True, slots=True)
class GenerateDataKeyResult:
    ciphertext_blob: bytes
    plaintext: Sensitive = field(repr=False)
    key_id: str
    key_material_id: str | None = None


@dataclass(frozen=True, slots=True)
class GenerateDataKeyWithoutPlaintextResult:
    ciphertext_blob: bytes
    key_id: str
    key_material_id: str | None = None


@dataclass(frozen=True, slots=True)
class GenerateDataKeyPairResult:
    private_key_ciphertext_blob: bytes
    private_key_plaintext: Sensitive = field(repr=False)
    public_key: bytes
    key_id: str
    key_pair_spec: DataKeyPairSpec
    key_material_id: str | None = None


@dataclass(frozen=True, slots=True)
class GenerateDataKeyPairWithoutPlaintextResult:
    private_key_ciphertext_blob: bytes
    public_key: bytes
    key_id: str
    key_pair_spec: DataKeyPairSpec
    key_material_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReEncryptResult:
    ciphertext_blob: bytes
    source_key_id: str
    key_id: str
    source_encryption_algorithm: EncryptionAlgorithm
    destination_encryption_algorithm: EncryptionAlgorithm
    source_key_material_id: str | None = None
    destination_key_material_id: str | None = None


@dataclass(frozen=True, slots=True)
class SignResult:
    key_id: str
    signature: bytes
    signing_algorithm: SigningAlgorithm


@dataclass(frozen=True, slots=True)
class VerifyResult:
    key_id: str
    signature_valid: bool
    signing_algorithm: SigningAlgorithm


@dataclass(frozen=True, slots=True)
class GenerateMacResult:
    mac: bytes
    mac_algorithm: MacAlgorithm
    key_id: str


@dataclass(frozen=True, slots=True)
class VerifyMacResult:
    key_id: str
    mac_valid: bool
    mac_algorithm: MacAlgorithm


@dataclass(frozen=True, slots=True)
class GenerateRandomResult:
    plaintext: Sensitive = field(repr=False)


@dataclass(frozen=True, slots=True)
class EncapsulateResult:
    key_id: str
    shared_secret: Sensitive = field(repr=False)
    shared_secret_ciphertext_blob: bytes
    encapsulation_algorithm: EncapsulationAlgorithm


@dataclass(frozen=True, slots=True)
class DecapsulateResult:
    key_id: str
    shared_secret: Sensitive = field(repr=False)
    encapsulation_algorithm: EncapsulationAlgorithm


@dataclass(frozen=True, slots=True)
class GetKeyRotationStatusResult:
    key_rotation_enabled: bool
    key_id: str
    rotation_period_in_days: int | None = None
    next_rotation_date: datetime | None = None
    on_demand_rotation_start_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class RotateKeyOnDemandResult:
    key_id: str


@dataclass(frozen=True, slots=True)
class RotationsListEntry:
    """One key material. RotationDate and RotationType are absent for the first material and for imported
    material pending rotation; the import fields only for symmetric keys of Origin EXTERNAL (KMS API,
    RotationsListEntry)."""

    key_id: str
    key_material_id: str
    rotation_date: datetime | None = None
    rotation_type: str | None = None
    key_material_state: KeyMaterialState | None = None
    key_material_description: str | None = None
    import_state: ImportState | None = None
    expiration_model: ExpirationModel | None = None
    valid_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class ListKeyRotationsResult:
    rotations: tuple[RotationsListEntry, ...]
    truncated: bool
    next_marker: str | None = None


@dataclass(frozen=True, slots=True)
class GetParametersForImportResult:
    key_id: str
    import_token: bytes
    public_key: bytes
    parameters_valid_to: datetime


@dataclass(frozen=True, slots=True)
class ImportKeyMaterialResult:
    key_id: str
    key_material_id: str


@dataclass(frozen=True, slots=True)
class DeleteImportedKeyMaterialResult:
    key_id: str
    key_material_id: str | None = None


@dataclass(frozen=True, slots=True)
class CreateGrantResult:
    grant_token: str
    grant_id: str


@dataclass(frozen=True, slots=True)
class GrantListEntry:
    key_id: str
    grant_id: str
    creation_date: datetime
    grantee_principal: str
    issuing_account: str
    operations: tuple[str, ...]
    name: str | None = None
    retiring_principal: str | None = None
    constraints: GrantConstraints | None = None


@dataclass(frozen=True, slots=True)
class ListGrantsResult:
    grants: tuple[GrantListEntry, ...]
    truncated: bool
    next_marker: str | None = None


@dataclass(frozen=True, slots=True)
class KeyLastUsage:
    timestamp: datetime | None = None
    operation: str | None = None
    cloud_trail_event_id: str | None = None
    kms_request_id: str | None = None


@dataclass(frozen=True, slots=True)
class GetKeyLastUsageResult:
    key_id: str
    key_creation_date: datetime
    key_last_usage: KeyLastUsage | None = None
    tracking_start_date: datetime | None = None


@dataclass(frozen=True, slots=True)
class CreateCustomKeyStoreResult:
    custom_key_store_id: str


@dataclass(frozen=True, slots=True)
class XksProxyConfiguration:
    """XksProxyConfigurationType: an external key store's proxy settings (never its secret)."""

    connectivity: str
    access_key_id: str
    uri_endpoint: str
    uri_path: str


@dataclass(frozen=True, slots=True)
class CustomKeyStoresListEntry:
    custom_key_store_id: str
    custom_key_store_name: str
    custom_key_store_type: CustomKeyStoreType
    connection_state: ConnectionState
    creation_date: datetime
    cloud_hsm_cluster_id: str | None = None
    trust_anchor_certificate: str | None = None
    connection_error_code: ConnectionErrorCode | None = None
    xks_proxy_configuration: XksProxyConfiguration | None = None


@dataclass(frozen=True, slots=True)
class DescribeCustomKeyStoresResult:
    custom_key_stores: tuple[CustomKeyStoresListEntry, ...]
    truncated: bool
    next_marker: str | None = None
