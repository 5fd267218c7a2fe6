"""Encrypt and Decrypt (symmetric AES-GCM blobs and RSAES-OAEP), and the sealing the data-key ops share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag

from trent.authz.evaluate import CIPHERTEXT_RESOURCE, unseen_denial
from trent.crypto import ciphertext, context, rsa, symmetric
from trent.kms import operations
from trent.kms.errors import (
    AccessDeniedException,
    DryRunOperationException,
    IncorrectKeyException,
    InvalidCiphertextException,
    UnsupportedOperationException,
    ValidationException,
)
from trent.kms.ids import is_key_id, regional_key_id
from trent.kms.keys import Key
from trent.kms.operations import OPERATION_FACTS, Operation, Permission
from trent.kms.results import DecryptResult, EncryptResult, ReEncryptResult
from trent.kms.sensitive import Sensitive
from trent.kms.specs import EncryptionAlgorithm, Family, KeyUsage
from trent.kms.states import require_state
from trent.ops import extkeys, storekeys
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import MissingMaterial
from trent.ops.keys import key_material_id
from trent.ops.resolution import require_algorithm, require_usage, resolve_key

EMPTY: Mapping[str, str] = {}
INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."
NO_RECIPIENT = "Trent does not support Recipient: there is no AWS Nitro Enclaves attestation to check."
ASYMMETRIC_CONTEXT = "EncryptionContext is supported only with symmetric encryption KMS keys."
CIPHERTEXT_REQUIRED = (
    "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null"
)
IGNORE_CIPHERTEXT = "IGNORE_CIPHERTEXT"
_SYM = EncryptionAlgorithm.SYMMETRIC_DEFAULT


@dataclass(frozen=True, slots=True)
class Purpose:
    """Which use of a key a request makes: its operation, and the IAM action and grant operation when the
    operation has several (OPERATION_FACTS: ReEncrypt is ReEncryptFrom on the source key, ReEncryptTo on the
    other); None: the operation's one permission."""

    operation: Operation
    action: str | None = None
    grant_operation: str | None = None


ENCRYPT, DECRYPT = Purpose(Operation.Encrypt), Purpose(Operation.Decrypt)


def _re_encrypt(permission: Permission) -> Purpose:
    grant = permission.grant_operation
    return Purpose(Operation.ReEncrypt, permission.action, None if grant is None else grant.value)


REENCRYPT_FROM, REENCRYPT_TO = _re_encrypt(operations.REENCRYPT_FROM), _re_encrypt(operations.REENCRYPT_TO)


def use_key(
    deps: Deps,
    ctx: RequestContext,
    key_id: str,
    purpose: Purpose,
    algorithm: EncryptionAlgorithm,
    encryption_context: Mapping[str, str],
    *,
    check_state: bool = True,
    facts: Mapping[str, str] | None = None,
) -> Key:
    """resolve_key with what encryption operations tell authorization: the algorithm and the context."""
    return resolve_key(
        deps,
        ctx,
        key_id,
        purpose.operation,
        check_state=check_state,
        action=purpose.action,
        grant_operation=purpose.grant_operation,
        facts={"kms:encryptionalgorithm": algorithm.value, **(facts or {})},
        encryption_context=encryption_context,
    )


def _aad(encryption_context: Mapping[str, str]) -> bytes:
    try:
        return context.to_aad(encryption_context)
    except ValueError as exc:
        raise ValidationException(str(exc)) from None


def check_encryption_key(key: Key, algorithm: EncryptionAlgorithm, operation: Operation) -> None:
    require_usage(key, KeyUsage.ENCRYPT_DECRYPT, operation)
    require_algorithm(key, algorithm, key.info.encryption)


def seal(
    deps: Deps,
    key: Key,
    plaintext: bytes,
    encryption_context: Mapping[str, str],
    *,
    ctx: RequestContext | None = None,
    operation: str = "",
) -> bytes:
    """A symmetric ciphertext blob under the key's current material (inside its token, for a key in a custom
    key store: the same blob layout and AAD; then through its external key, for a key in an external key store:
    ops/extkeys.py, which needs the request `ctx` and `operation` for the proxy's requestMetadata)."""
    if extkeys.is_external(key):
        assert ctx is not None, "a key in an external key store needs the request"
        return extkeys.seal(deps, ctx, operation, key, plaintext, _aad(encryption_context))
    if key.custom_key_store_id is not None:
        return storekeys.seal(deps, key, plaintext, _aad(encryption_context))
    loaded = deps.keyring.load(deps.store, key)
    return symmetric.encrypt(loaded.secret, key.key_id, key.current_version, plaintext, _aad(encryption_context))


def rsa_encrypt(deps: Deps, key: Key, algorithm: EncryptionAlgorithm, plaintext: bytes) -> bytes:
    limit = rsa.max_plaintext(key.info.bits, algorithm)
    if len(plaintext) > limit:
        raise ValidationException(
            f"Algorithm {algorithm} and key spec {key.spec} cannot encrypt data larger than {limit} bytes."
        )
    return rsa.encrypt(deps.keyring.load(deps.store, key).private_key.public_key(), algorithm, plaintext)


def encrypt(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    plaintext: Sensitive,
    encryption_context: Mapping[str, str] = EMPTY,
    grant_tokens: tuple[str, ...] = (),
    encryption_algorithm: EncryptionAlgorithm = _SYM,
    dry_run: bool | None = None,
) -> EncryptResult:
    key = use_key(deps, ctx, key_id, ENCRYPT, encryption_algorithm, encryption_context)
    check_encryption_key(key, encryption_algorithm, Operation.Encrypt)
    if encryption_algorithm is _SYM:
        _aad(encryption_context)
        if dry_run:
            raise DryRunOperationException()
        blob = seal(deps, key, plaintext.reveal(), encryption_context, ctx=ctx, operation=Operation.Encrypt)
    else:
        _no_context_for_rsa(encryption_context)
        blob = rsa_encrypt(deps, key, encryption_algorithm, plaintext.reveal())
        if dry_run:
            raise DryRunOperationException()
    return EncryptResult(blob, key.arn, encryption_algorithm)


def _ciphertext_key(
    deps: Deps, ctx: RequestContext, blob_key_id: str, purpose: Purpose, encryption_context: Mapping[str, str]
) -> Key:
    """The key a symmetric ciphertext names, when the caller gave no KeyId: authorization is against that key.
    A key that does not exist here, or another account's that does not let the caller in, gets an opaque
    AccessDenied about "the resource associated with this ciphertext" (docs/aws-semantics.md A.8)."""
    action = purpose.action or OPERATION_FACTS[purpose.operation].permission.action
    key = deps.store.get_key(regional_key_id(blob_key_id, ctx.region)) if is_key_id(blob_key_id) else None
    if key is None or key.region != ctx.region:
        raise AccessDeniedException(unseen_denial(ctx.principal.arn, action, CIPHERTEXT_RESOURCE), unseen=True)
    try:
        return use_key(deps, ctx, key.arn, purpose, _SYM, encryption_context, check_state=False)
    except AccessDeniedException as denied:
        if not denied.unseen:
            raise
        raise AccessDeniedException(
            unseen_denial(ctx.principal.arn, action, CIPHERTEXT_RESOURCE), unseen=True
        ) from None


def open_blob(
    deps: Deps,
    ctx: RequestContext,
    data: bytes,
    key_id: str | None,
    encryption_context: Mapping[str, str],
    purpose: Purpose,
) -> tuple[Key, int, bytes]:
    """Decrypt a symmetric blob: (key, material version, plaintext), with AWS's checks in AWS's order."""
    operation = purpose.operation
    given = None if key_id is None else use_key(deps, ctx, key_id, purpose, _SYM, encryption_context, check_state=False)
    try:
        blob = ciphertext.unpack(data)
    except ciphertext.MalformedBlob:
        if given is not None:
            require_state(operation, storekeys.state_of(deps.store, given), given.arn)
            check_encryption_key(given, _SYM, operation)
        raise InvalidCiphertextException() from None
    if given is not None and given.key_id != blob.key_id:
        raise IncorrectKeyException(INCORRECT_KEY)
    key = given or _ciphertext_key(deps, ctx, blob.key_id, purpose, encryption_context)
    require_state(operation, storekeys.state_of(deps.store, key), key.arn)
    check_encryption_key(key, _SYM, operation)
    aad = _aad(encryption_context)
    if extkeys.is_external(key):
        return key, blob.material_version, extkeys.open_blob(deps, ctx, operation, key, blob, aad)
    if key.custom_key_store_id is not None:
        return key, blob.material_version, storekeys.open_blob(deps, key, blob, aad)
    try:
        loaded = deps.keyring.load(deps.store, key, blob.material_version)
        return key, blob.material_version, symmetric.decrypt(loaded.secret, blob, aad)
    except (MissingMaterial, InvalidTag):
        raise InvalidCiphertextException() from None


def rsa_decrypt(deps: Deps, key: Key, algorithm: EncryptionAlgorithm, data: bytes) -> bytes:
    if key.info.family is not Family.RSA or len(data) != key.info.bits // 8:
        raise InvalidCiphertextException()
    try:
        return rsa.decrypt(deps.keyring.load(deps.store, key).private_key, algorithm, data)
    except rsa.DecryptionFailed:
        raise InvalidCiphertextException() from None


def _no_context_for_rsa(encryption_context: Mapping[str, str]) -> None:
    # "An encryption context is supported only on operations with symmetric encryption KMS keys." Refusing it
    # (rather than ignoring it) keeps a caller from believing data is bound to a context when it is not.
    if encryption_context:
        raise ValidationException(ASYMMETRIC_CONTEXT)


def _open_any(
    deps: Deps,
    ctx: RequestContext,
    data: bytes,
    key_id: str | None,
    encryption_context: Mapping[str, str],
    algorithm: EncryptionAlgorithm,
    purpose: Purpose,
) -> tuple[Key, int | None, bytes]:
    """Decrypt a symmetric blob or an RSAES-OAEP ciphertext: (key, material version if symmetric, plaintext)."""
    if algorithm is _SYM:
        return open_blob(deps, ctx, data, key_id, encryption_context, purpose)
    if key_id is None:
        raise InvalidCiphertextException()  # as AWS answers an asymmetric ciphertext without its KeyId
    key = use_key(deps, ctx, key_id, purpose, algorithm, encryption_context)
    check_encryption_key(key, algorithm, purpose.operation)
    _no_context_for_rsa(encryption_context)
    return key, None, rsa_decrypt(deps, key, algorithm, data)


def _dry_run_without_ciphertext(
    deps: Deps,
    ctx: RequestContext,
    key_id: str | None,
    algorithm: EncryptionAlgorithm,
    encryption_context: Mapping[str, str],
    purpose: Purpose,
) -> Key:
    """DryRunModifiers IGNORE_CIPHERTEXT: check the key and the caller, not the ciphertext."""
    if key_id is None:
        raise ValidationException("KeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT.")
    key = use_key(deps, ctx, key_id, purpose, algorithm, encryption_context)
    check_encryption_key(key, algorithm, purpose.operation)
    return key


def decrypt(
    deps: Deps,
    ctx: RequestContext,
    *,
    ciphertext_blob: bytes | None = None,
    encryption_context: Mapping[str, str] = EMPTY,
    grant_tokens: tuple[str, ...] = (),
    key_id: str | None = None,
    encryption_algorithm: EncryptionAlgorithm = _SYM,
    recipient: object | None = None,
    dry_run: bool | None = None,
    dry_run_modifiers: tuple[str, ...] = (),
) -> DecryptResult:
    if recipient is not None:
        raise UnsupportedOperationException(NO_RECIPIENT)
    if dry_run and IGNORE_CIPHERTEXT in dry_run_modifiers:
        _dry_run_without_ciphertext(deps, ctx, key_id, encryption_algorithm, encryption_context, DECRYPT)
        raise DryRunOperationException()
    if ciphertext_blob is None:
        raise ValidationException(CIPHERTEXT_REQUIRED)
    key, version, plaintext = _open_any(
        deps, ctx, ciphertext_blob, key_id, encryption_context, encryption_algorithm, DECRYPT
    )
    if dry_run:
        raise DryRunOperationException()
    material_id = None if version is None else key_material_id(key, version)
    return DecryptResult(key.arn, Sensitive(plaintext), encryption_algorithm, material_id)


def re_encrypt(
    deps: Deps,
    ctx: RequestContext,
    *,
    destination_key_id: str,
    ciphertext_blob: bytes | None = None,
    source_encryption_context: Mapping[str, str] = EMPTY,
    source_key_id: str | None = None,
    destination_encryption_context: Mapping[str, str] = EMPTY,
    source_encryption_algorithm: EncryptionAlgorithm = _SYM,
    destination_encryption_algorithm: EncryptionAlgorithm = _SYM,
    grant_tokens: tuple[str, ...] = (),
    dry_run: bool | None = None,
    dry_run_modifiers: tuple[str, ...] = (),
) -> ReEncryptResult:
    """Decrypt under the source key and encrypt under the destination, inside the server: the plaintext is
    never returned. Re-encrypting under the same key moves the data to its newest material."""
    if dry_run and IGNORE_CIPHERTEXT in dry_run_modifiers:
        _dry_run_without_ciphertext(
            deps, ctx, source_key_id, source_encryption_algorithm, source_encryption_context, REENCRYPT_FROM
        )
        source = None
    elif ciphertext_blob is None:
        raise ValidationException(CIPHERTEXT_REQUIRED)
    else:
        source = _open_any(
            deps,
            ctx,
            ciphertext_blob,
            source_key_id,
            source_encryption_context,
            source_encryption_algorithm,
            REENCRYPT_FROM,
        )
    destination = use_key(
        deps, ctx, destination_key_id, REENCRYPT_TO, destination_encryption_algorithm, destination_encryption_context
    )
    check_encryption_key(destination, destination_encryption_algorithm, Operation.ReEncrypt)
    if destination_encryption_algorithm is not _SYM:
        _no_context_for_rsa(destination_encryption_context)
    if dry_run or source is None:
        raise DryRunOperationException()
    source_key, source_version, plaintext = source
    if destination_encryption_algorithm is _SYM:
        blob = seal(
            deps, destination, plaintext, destination_encryption_context, ctx=ctx, operation=Operation.ReEncrypt
        )
        destination_material: str | None = key_material_id(destination, destination.current_version)
    else:
        blob = rsa_encrypt(deps, destination, destination_encryption_algorithm, plaintext)
        destination_material = None
    return ReEncryptResult(
        ciphertext_blob=blob,
        source_key_id=source_key.arn,
        key_id=destination.arn,
        source_encryption_algorithm=source_encryption_algorithm,
        destination_encryption_algorithm=destination_encryption_algorithm,
        source_key_material_id=None if source_version is None else key_material_id(source_key, source_version),
        destination_key_material_id=destination_material,
    )
