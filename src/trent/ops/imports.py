"""Bring your own key: GetParametersForImport, ImportKeyMaterial and DeleteImportedKeyMaterial.

AWS KMS Developer Guide, "Importing key material" (and its steps: "Download the wrapping public key and import
token", "Encrypt the key material", "Import key material"), and the KMS API reference of the three operations.
How the import token and its wrapping key are kept, and the choices AWS leaves open, are in
docs/decisions/0012-import-key-material.md.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from trent.crypto import imported, wrapping
from trent.crypto import material as crypto_material
from trent.kms.errors import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    InvalidImportTokenException,
    KMSInternalException,
    KMSInvalidStateException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from trent.kms.ids import MULTI_REGION_PREFIX
from trent.kms.keys import ImportParameters, Key, MaterialVersion
from trent.kms.operations import Operation
from trent.kms.results import (
    DeleteImportedKeyMaterialResult,
    GetParametersForImportResult,
    ImportKeyMaterialResult,
)
from trent.kms.sensitive import Sensitive
from trent.kms.specs import (
    ExpirationModel,
    Family,
    ImportType,
    KeySpec,
    Origin,
    WrappingAlgorithm,
    WrappingKeySpec,
)
from trent.ops import materials, relations
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.resolution import resolve_key
from trent.rootoftrust.base import UnwrapError, WrappedMaterial, wrapping_key_aad
from trent.store.base import Reader, Transaction

# "Each public key and import token set is valid for 24 hours." (KMS API, GetParametersForImport)
PARAMETERS_LIFETIME = timedelta(hours=24)
# ValidTo: "The value of this parameter must be a future date and time. The maximum value is 365 days from the
# request date." (KMS API, ImportKeyMaterial)
MAX_VALIDITY = timedelta(days=365)
_TOKEN_FORMAT = 1  # token: format byte, the key's UUID (16 bytes), 32 random bytes
_TOKEN_LENGTH = 1 + 16 + 32
_INVALID_TOKEN = "The import token is invalid or is associated with a different KMS key."
_EXPIRED_TOKEN = (
    "The import token is expired. Use GetParametersForImport to get a new import token and public key, "
    "use the new public key to encrypt the key material, and then try the request again."
)
_CHINA_ONLY = "The SM2 wrapping key spec and the SM2PKE wrapping algorithm are available only in AWS China Regions."
_NO_PKCS1 = (
    "As of October 10, 2023, KMS does not support the RSAES_PKCS1_V1_5 wrapping algorithm. Use RSAES_OAEP_SHA_256, "
    "RSAES_OAEP_SHA_1, RSA_AES_KEY_WRAP_SHA_256 or RSA_AES_KEY_WRAP_SHA_1."
)
_SYMMETRIC_ONLY = "{} is valid only for symmetric encryption KMS keys."


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def require_external(key: Key) -> None:
    """Key-state table footnote 9: a key that cannot have imported material (recorded from AWS)."""
    if key.origin is not Origin.EXTERNAL:
        raise UnsupportedOperationException(f"{key.arn} origin is {key.origin} which is not valid for this operation.")


def _check_wrapping(key: Key, algorithm: WrappingAlgorithm, spec: WrappingKeySpec) -> None:
    """AWS's rules of which wrapping algorithm may wrap which material ("Select a wrapping algorithm"): RSA
    private keys only with RSA_AES_KEY_WRAP_*, and RSAES_OAEP_* only for material that fits under the wrapping
    key (so not ECC_NIST_P521 under RSA_2048)."""
    if spec is WrappingKeySpec.SM2 or algorithm is WrappingAlgorithm.SM2PKE:
        raise UnsupportedOperationException(_CHINA_ONLY)
    if algorithm is WrappingAlgorithm.RSAES_PKCS1_V1_5:
        raise UnsupportedOperationException(_NO_PKCS1)
    if algorithm in wrapping.HYBRID:
        return
    if key.info.family is Family.RSA:
        raise ValidationException(
            f"The {algorithm} wrapping algorithm cannot wrap RSA key material. "
            "Use RSA_AES_KEY_WRAP_SHA_256 or RSA_AES_KEY_WRAP_SHA_1."
        )
    if imported.largest(key.info) > wrapping.max_direct_bytes(spec, algorithm):
        raise ValidationException(
            f"The {algorithm} wrapping algorithm with the {spec} wrapping key spec cannot wrap {key.spec} key "
            "material. Use a larger wrapping key spec or an RSA_AES_KEY_WRAP_SHA_* wrapping algorithm."
        )


def get_parameters_for_import(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    wrapping_algorithm: WrappingAlgorithm,
    wrapping_key_spec: WrappingKeySpec,
) -> GetParametersForImportResult:
    key = resolve_key(deps, ctx, key_id, Operation.GetParametersForImport, aliases=False)
    require_external(key)
    _check_wrapping(key, wrapping_algorithm, wrapping_key_spec)
    private = wrapping.generate_wrapping_key(wrapping_key_spec)
    token = bytes([_TOKEN_FORMAT]) + _id_bytes(key.key_id) + os.urandom(32)
    digest = _digest(token)
    der = Sensitive(wrapping.private_der(private))
    wrapped = deps.root_of_trust.wrap(der, wrapping_key_aad(key.store_id, digest)).to_bytes()
    now = deps.clock()
    parameters = ImportParameters(
        key.store_id, digest, wrapping_algorithm, wrapping_key_spec, wrapped, now, now + PARAMETERS_LIFETIME
    )
    with deps.store.transaction() as tx:
        # Under the write lock: the key is still there and in a state that takes an import.
        resolve_key(deps, ctx, key.key_id, Operation.GetParametersForImport, aliases=False, reader=tx)
        tx.put_import_parameters(parameters)  # the key's previous set, if any, is gone
    return GetParametersForImportResult(key.arn, token, crypto_material.public_key_der(private), parameters.valid_to)


def _id_bytes(key_id: str) -> bytes:
    """The 16 bytes of a key id in an import token: a UUID's, or the 32 hex digits of a multi-Region key id."""
    if key_id.startswith(MULTI_REGION_PREFIX):
        return bytes.fromhex(key_id.removeprefix(MULTI_REGION_PREFIX))
    return uuid.UUID(key_id).bytes


def _check_expiry(model: ExpirationModel, valid_to: datetime | None, now: datetime) -> None:
    if model is ExpirationModel.KEY_MATERIAL_EXPIRES and valid_to is None:
        raise ValidationException("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
    if model is ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE and valid_to is not None:
        raise ValidationException(
            "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
        )
    if valid_to is not None and valid_to <= now:
        raise ValidationException("The validTo date must be in the future.")
    if valid_to is not None and valid_to > now + MAX_VALIDITY:
        raise ValidationException("The validTo date must be at most 365 days from now.")


def _usable_parameters(reader: Reader, key: Key, token: bytes, now: datetime) -> ImportParameters:
    """The key's set the token names: InvalidImportToken if it names none (garbage, another key's, replaced by
    a newer GetParametersForImport, used up by an import), ExpiredImportToken once its 24 hours are over."""
    if len(token) != _TOKEN_LENGTH or token[0] != _TOKEN_FORMAT or token[1:17] != _id_bytes(key.key_id):
        raise InvalidImportTokenException(_INVALID_TOKEN)
    parameters = reader.get_import_parameters(key.store_id)
    if parameters is None or not hmac.compare_digest(parameters.token_digest, _digest(token)):
        raise InvalidImportTokenException(_INVALID_TOKEN)
    if parameters.valid_to <= now:
        raise ExpiredImportTokenException(_EXPIRED_TOKEN)
    return parameters


def _unwrapped(deps: Deps, key: Key, parameters: ImportParameters, encrypted: bytes) -> bytes:
    """The material as Trent keeps it: InvalidCiphertext if the set's private key does not open it,
    IncorrectKeyMaterial if it does not fit the key spec."""
    aad = wrapping_key_aad(key.store_id, parameters.token_digest)
    try:
        der = deps.root_of_trust.unwrap(WrappedMaterial.from_bytes(parameters.wrapped_private_key), aad).reveal()
    except UnwrapError as exc:
        raise KMSInternalException() from exc
    private = crypto_material.load_private(der)
    try:
        plain = wrapping.unwrap(private, parameters.wrapping_algorithm, encrypted)
    except wrapping.UnwrapFailed:
        raise InvalidCiphertextException() from None
    try:
        return imported.canonical(key.info, plain)
    except imported.InvalidMaterial as exc:
        raise IncorrectKeyMaterialException(f"The key material is invalid for key spec {key.spec}: {exc}.") from None


def _target_version(
    key: Key,
    stored: tuple[MaterialVersion, ...],
    new_id: str,
    import_type: ImportType | None,
    key_material_id: str | None,
) -> int:
    """Which version the material goes to. ImportType defaults to NEW_KEY_MATERIAL before the first import and
    to EXISTING_KEY_MATERIAL after it (KMS API, ImportKeyMaterial)."""
    kind = import_type or (ImportType.EXISTING_KEY_MATERIAL if stored else ImportType.NEW_KEY_MATERIAL)
    if kind is ImportType.EXISTING_KEY_MATERIAL:
        if key_material_id is not None and key_material_id != new_id:
            raise IncorrectKeyMaterialException(f"The key material is not key material {key_material_id}.")
        if new_id not in key.material_ids:
            raise IncorrectKeyMaterialException(
                "The key material is not the key material previously imported into this KMS key."
            )
        return key.material_ids.index(new_id) + 1
    if new_id in key.material_ids:
        # "KMS expected new key material but the key material being imported is already associated with the
        # KMS key" (KMS API, IncorrectKeyMaterialException)
        raise IncorrectKeyMaterialException("The key material is already associated with this KMS key.")
    if not stored:
        return key.current_version
    if key.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise IncorrectKeyMaterialException(
            "For asymmetric and HMAC keys, you cannot change the key material after the initial import."
        )
    if any(m.version > key.current_version for m in stored):
        raise KMSInvalidStateException(
            f"{key.arn} has key material pending rotation. Rotate to it (RotateKeyOnDemand) or delete it "
            "(DeleteImportedKeyMaterial) before you import new key material."
        )
    return key.current_version + 1


def _store(
    deps: Deps, tx: Transaction, key: Key, material: bytes, new_id: str, version: int, record: MaterialVersion
) -> Key:
    tx.put_material(record, deps.keyring.wrap(key.store_id, version, material))
    ids = list(key.material_ids)
    if version > len(ids):
        ids.append(new_id)
    changed = materials.settle(key, tx.list_materials(key.store_id), material_ids=tuple(ids))
    tx.update_key(changed, key.revision)
    tx.delete_import_parameters(key.store_id)  # a set imports once
    return changed


def import_key_material(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    import_token: bytes,
    encrypted_key_material: bytes,
    valid_to: datetime | None = None,
    expiration_model: ExpirationModel | None = None,
    import_type: ImportType | None = None,
    key_material_description: str | None = None,
    key_material_id: str | None = None,
) -> ImportKeyMaterialResult:
    key = resolve_key(deps, ctx, key_id, Operation.ImportKeyMaterial, aliases=False)
    require_external(key)
    model = expiration_model or ExpirationModel.KEY_MATERIAL_EXPIRES  # the model's documented default
    _check_expiry(model, valid_to, deps.clock())
    if key.spec is not KeySpec.SYMMETRIC_DEFAULT:
        for name, value in (("KeyMaterialId", key_material_id), ("KeyMaterialDescription", key_material_description)):
            if value is not None:
                raise ValidationException(_SYMMETRIC_ONLY.format(name))
    if import_type is ImportType.NEW_KEY_MATERIAL and key_material_id is not None:
        raise ValidationException("You cannot specify a key material ID with ImportType set to NEW_KEY_MATERIAL.")
    parameters = _usable_parameters(deps.store, key, import_token, deps.clock())
    material = _unwrapped(deps, key, parameters, encrypted_key_material)  # the slow part: before the lock
    new_id = imported.material_id(key.key_id, material)
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key.key_id, Operation.ImportKeyMaterial, aliases=False, reader=tx)
        again = tx.get_import_parameters(key.store_id)
        if again is None or again.token_digest != parameters.token_digest:
            raise InvalidImportTokenException(_INVALID_TOKEN)  # used up or replaced meanwhile
        stored = tx.list_materials(key.store_id)
        new_material = import_type is ImportType.NEW_KEY_MATERIAL
        version = relations.replica_version(tx, key, new_id, new_material)
        if version is None:
            version = _target_version(key, stored, new_id, import_type, key_material_id)
            relations.require_shared_material(tx, key, version, new_id)
        elif key_material_id is not None and key_material_id != new_id:
            raise IncorrectKeyMaterialException(f"The key material is not key material {key_material_id}.")
        before = next((m for m in stored if m.version == version), None)
        record = MaterialVersion(key.store_id, version, deps.clock(), None, key_material_description, model, valid_to)
        if before is not None:
            # "If you do not specify a key material description, KMS retains the value you specified when you
            # last imported the same key material into this KMS key."
            description = before.description if key_material_description is None else key_material_description
            record = replace(
                record, created=before.created, rotation_type=before.rotation_type, description=description
            )
        _store(deps, tx, key, material, new_id, version, record)
    return ImportKeyMaterialResult(key.arn, new_id)


def delete_imported_key_material(
    deps: Deps, ctx: RequestContext, *, key_id: str, key_material_id: str | None = None
) -> DeleteImportedKeyMaterialResult:
    """Deletes the current material, or the one KeyMaterialId names; the key goes to PendingImport (unless it is
    PendingDeletion, or the material was pending rotation). Deleting material already gone changes nothing."""
    with deps.store.transaction() as tx:
        key = resolve_key(deps, ctx, key_id, Operation.DeleteImportedKeyMaterial, aliases=False, reader=tx)
        require_external(key)
        if key_material_id is None:
            version = key.current_version
        elif key_material_id in key.material_ids:
            version = key.material_ids.index(key_material_id) + 1
        else:
            raise NotFoundException(f"Key material {key_material_id} is not associated with {key.arn}.")
        target = next((m for m in tx.list_materials(key.store_id) if m.version == version), None)
        if target is None:
            return DeleteImportedKeyMaterialResult(key.arn)  # nothing was ever imported
        deleted_id = key.material_ids[version - 1]
        if target.imported:
            materials.remove(tx, key, target)
    return DeleteImportedKeyMaterialResult(key.arn, deleted_id)
