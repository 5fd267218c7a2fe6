"""OPERATIONS: the table of contents of the KMS API, one function per AWS operation.

Every operation of the model has an entry (a test checks it against botocore). Operations Trent does not
offer answer UnsupportedOperationException with a reason, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from trent.kms.errors import UnsupportedOperationException
from trent.kms.operations import Operation
from trent.ops import (
    agreement,
    aliases,
    datakeys,
    encapsulation,
    encryption,
    grants,
    imports,
    keys,
    keystores,
    macs,
    policies,
    randomness,
    replication,
    rotation,
    signing,
    tags,
)
from trent.ops.context import RequestContext
from trent.ops.deps import Deps

OperationFunction = Callable[..., Any]

_NOT_YET = "{} is not supported by this version of Trent."


def unsupported(reason: str) -> OperationFunction:
    def operation(deps: Deps, ctx: RequestContext, **params: Any) -> Any:
        raise UnsupportedOperationException(reason)

    operation.unsupported = True  # type: ignore[attr-defined]
    return operation


_O = Operation
_IMPLEMENTED: dict[Operation, OperationFunction] = {
    _O.CreateKey: keys.create_key,
    _O.DescribeKey: keys.describe_key,
    _O.ListKeys: keys.list_keys,
    _O.EnableKey: keys.enable_key,
    _O.DisableKey: keys.disable_key,
    _O.ScheduleKeyDeletion: keys.schedule_key_deletion,
    _O.CancelKeyDeletion: keys.cancel_key_deletion,
    _O.ReplicateKey: replication.replicate_key,
    _O.UpdatePrimaryRegion: replication.update_primary_region,
    _O.UpdateKeyDescription: keys.update_key_description,
    _O.GetPublicKey: keys.get_public_key,
    _O.CreateAlias: aliases.create_alias,
    _O.UpdateAlias: aliases.update_alias,
    _O.DeleteAlias: aliases.delete_alias,
    _O.ListAliases: aliases.list_aliases,
    _O.TagResource: tags.tag_resource,
    _O.UntagResource: tags.untag_resource,
    _O.ListResourceTags: tags.list_resource_tags,
    _O.GetKeyPolicy: policies.get_key_policy,
    _O.PutKeyPolicy: policies.put_key_policy,
    _O.ListKeyPolicies: policies.list_key_policies,
    _O.Encrypt: encryption.encrypt,
    _O.Decrypt: encryption.decrypt,
    _O.DeriveSharedSecret: agreement.derive_shared_secret,
    _O.ReEncrypt: encryption.re_encrypt,
    _O.GenerateDataKey: datakeys.generate_data_key,
    _O.GenerateDataKeyWithoutPlaintext: datakeys.generate_data_key_without_plaintext,
    _O.GenerateDataKeyPair: datakeys.generate_data_key_pair,
    _O.GenerateDataKeyPairWithoutPlaintext: datakeys.generate_data_key_pair_without_plaintext,
    _O.Sign: signing.sign,
    _O.Verify: signing.verify,
    _O.GenerateMac: macs.generate_mac,
    _O.VerifyMac: macs.verify_mac,
    _O.Encapsulate: encapsulation.encapsulate,
    _O.Decapsulate: encapsulation.decapsulate,
    _O.GenerateRandom: randomness.generate_random,
    _O.EnableKeyRotation: rotation.enable_key_rotation,
    _O.DisableKeyRotation: rotation.disable_key_rotation,
    _O.GetKeyRotationStatus: rotation.get_key_rotation_status,
    _O.RotateKeyOnDemand: rotation.rotate_key_on_demand,
    _O.ListKeyRotations: rotation.list_key_rotations,
    _O.CreateGrant: grants.create_grant,
    _O.ListGrants: grants.list_grants,
    _O.ListRetirableGrants: grants.list_retirable_grants,
    _O.RetireGrant: grants.retire_grant,
    _O.RevokeGrant: grants.revoke_grant,
    _O.GetKeyLastUsage: keys.get_key_last_usage,
    _O.GetParametersForImport: imports.get_parameters_for_import,
    _O.ImportKeyMaterial: imports.import_key_material,
    _O.DeleteImportedKeyMaterial: imports.delete_imported_key_material,
    _O.CreateCustomKeyStore: keystores.create_custom_key_store,
    _O.ConnectCustomKeyStore: keystores.connect_custom_key_store,
    _O.DisconnectCustomKeyStore: keystores.disconnect_custom_key_store,
    _O.DescribeCustomKeyStores: keystores.describe_custom_key_stores,
    _O.UpdateCustomKeyStore: keystores.update_custom_key_store,
    _O.DeleteCustomKeyStore: keystores.delete_custom_key_store,
}
_PERMANENTLY_UNSUPPORTED: dict[Operation, str] = {}

OPERATIONS: Mapping[Operation, OperationFunction] = MappingProxyType(
    {op: _IMPLEMENTED.get(op) or unsupported(_PERMANENTLY_UNSUPPORTED.get(op, _NOT_YET.format(op))) for op in Operation}
)
