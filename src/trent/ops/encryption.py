"""Encrypt and Decrypt (symmetric AES-GCM blobs and RSAES-OAEP), and the sealing the data-key ops share."""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.exceptions import InvalidTag

from trent.crypto import ciphertext, context, rsa, symmetric
from trent.kms.errors import (
    AccessDeniedException,
    DryRunOperationException,
    IncorrectKeyException,
    InvalidCiphertextException,
    UnsupportedOperationException,
    ValidationException,
)
from trent.kms.ids import KeyId, is_key_id
from trent.kms.keys import Key
from trent.kms.operations import Operation
from trent.kms.results import DecryptResult, EncryptResult
from trent.kms.sensitive import Sensitive
from trent.kms.specs import EncryptionAlgorithm, Family, KeyUsage
from trent.kms.states import require_state
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import MissingMaterial
from trent.ops.keys import key_material_id
from trent.ops.resolution import not_authorized, require_algorithm, require_usage, resolve_key

EMPTY: Mapping[str, str] = {}
INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."
UNKNOWN_CIPHERTEXT_KEY = (
    "The ciphertext refers to a customer master key that does not exist, does not exist in this region, "
    "or you are not allowed to access."
)
NO_RECIPIENT = "Trent does not support Recipient: there is no AWS Nitro Enclaves attestation to check."
_SYM = EncryptionAlgorithm.SYMMETRIC_DEFAULT


def _aad(encryption_context: Mapping[str, str]) -> bytes:
    try:
        return context.to_aad(encryption_context)
    except ValueError as exc:
        raise ValidationException(str(exc)) from None


def check_encryption_key(key: Key, algorithm: EncryptionAlgorithm, operation: Operation) -> None:
    require_usage(key, KeyUsage.ENCRYPT_DECRYPT, operation)
    require_algorithm(key, algorithm, key.info.encryption)


def seal(deps: Deps, key: Key, plaintext: bytes, encryption_context: Mapping[str, str]) -> bytes:
    """A symmetric ciphertext blob under the key's current material."""
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
    key = resolve_key(deps.store, ctx, key_id, Operation.Encrypt)
    check_encryption_key(key, encryption_algorithm, Operation.Encrypt)
    if encryption_algorithm is _SYM:
        aad = _aad(encryption_context)
        if dry_run:
            raise DryRunOperationException()
        loaded = deps.keyring.load(deps.store, key)
        blob = symmetric.encrypt(loaded.secret, key.key_id, key.current_version, plaintext.reveal(), aad)
    else:
        if dry_run:
            raise DryRunOperationException()
        blob = rsa_encrypt(deps, key, encryption_algorithm, plaintext.reveal())
    return EncryptResult(blob, key.arn, encryption_algorithm)


def _ciphertext_key(deps: Deps, ctx: RequestContext, blob_key_id: str) -> Key:
    """The key a symmetric ciphertext names, when the caller gave no KeyId (A.3: an opaque AccessDenied)."""
    key = deps.store.get_key(KeyId(blob_key_id)) if is_key_id(blob_key_id) else None
    if key is None or key.region != ctx.region:
        raise AccessDeniedException(UNKNOWN_CIPHERTEXT_KEY)
    if key.account != ctx.account:
        raise not_authorized(ctx, Operation.Decrypt, key.arn)
    return key


def open_blob(
    deps: Deps,
    ctx: RequestContext,
    data: bytes,
    key_id: str | None,
    encryption_context: Mapping[str, str],
    operation: Operation,
) -> tuple[Key, int, bytes]:
    """Decrypt a symmetric blob: (key, material version, plaintext), with AWS's checks in AWS's order."""
    given = None if key_id is None else resolve_key(deps.store, ctx, key_id, operation, check_state=False)
    try:
        blob = ciphertext.unpack(data)
    except ciphertext.MalformedBlob:
        if given is not None:
            require_state(operation, given.state, given.arn)
            check_encryption_key(given, _SYM, operation)
        raise InvalidCiphertextException() from None
    if given is not None and given.key_id != blob.key_id:
        raise IncorrectKeyException(INCORRECT_KEY)
    key = given or _ciphertext_key(deps, ctx, blob.key_id)
    require_state(operation, key.state, key.arn)
    check_encryption_key(key, _SYM, operation)
    aad = _aad(encryption_context)
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
    if ciphertext_blob is None:
        raise ValidationException(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: "
            "Member must not be null"
        )
    if encryption_algorithm is _SYM:
        key, version, plaintext = open_blob(deps, ctx, ciphertext_blob, key_id, encryption_context, Operation.Decrypt)
        if dry_run:
            raise DryRunOperationException()
        return DecryptResult(key.arn, Sensitive(plaintext), _SYM, key_material_id(key.key_id, version))
    if key_id is None:
        raise InvalidCiphertextException()  # as AWS answers an asymmetric ciphertext without its KeyId
    key = resolve_key(deps.store, ctx, key_id, Operation.Decrypt)
    check_encryption_key(key, encryption_algorithm, Operation.Decrypt)
    if dry_run:
        raise DryRunOperationException()
    return DecryptResult(
        key.arn,
        Sensitive(rsa_decrypt(deps, key, encryption_algorithm, ciphertext_blob)),
        encryption_algorithm,
    )
