"""Sign and Verify with asymmetric SIGN_VERIFY keys, for every signing algorithm AWS pairs with each spec."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature

from trent.crypto.signatures import SCHEMES, Scheme
from trent.kms.errors import (
    DryRunOperationException,
    KMSInvalidSignatureException,
    ValidationException,
)
from trent.kms.keys import Key
from trent.kms.operations import Operation
from trent.kms.results import SignResult, VerifyResult
from trent.kms.sensitive import Sensitive
from trent.kms.specs import Family, KeyUsage, MessageType, SigningAlgorithm
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.resolution import require_algorithm, require_usage, resolve_key


def _prepare(
    deps: Deps,
    ctx: RequestContext,
    key_id: str,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: bytes,
    operation: Operation,
) -> tuple[Key, Scheme]:
    facts = {"kms:signingalgorithm": algorithm.value, "kms:messagetype": message_type.value}
    key = resolve_key(deps, ctx, key_id, operation, facts=facts)
    require_usage(key, KeyUsage.SIGN_VERIFY, operation)
    require_algorithm(key, algorithm, key.info.signing)
    scheme = SCHEMES[algorithm]
    if message_type not in scheme.message_types:
        if message_type is MessageType.RAW or key.info.family is Family.ED25519:
            raise ValidationException(
                f"Message type {message_type} is incompatible with signing algorithm {algorithm}."
            )
        raise ValidationException(f"Message type {message_type} is incompatible with key spec {key.spec}.")
    if message_type is MessageType.DIGEST and len(message) != scheme.digest_size:
        raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
    if message_type is MessageType.EXTERNAL_MU and len(message) != scheme.digest_size:
        raise ValidationException(f"External mu must be {scheme.digest_size} bytes for algorithm {algorithm}.")
    return key, scheme


def sign(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    message: Sensitive,
    signing_algorithm: SigningAlgorithm,
    message_type: MessageType = MessageType.RAW,
    grant_tokens: tuple[str, ...] = (),
    dry_run: bool | None = None,
) -> SignResult:
    data = message.reveal()
    key, scheme = _prepare(deps, ctx, key_id, signing_algorithm, message_type, data, Operation.Sign)
    signature = scheme.sign(deps.keyring.load(deps.store, key).private_key, data, message_type)
    if dry_run:
        raise DryRunOperationException()
    return SignResult(key.arn, signature, signing_algorithm)


def verify(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    message: Sensitive,
    signature: bytes,
    signing_algorithm: SigningAlgorithm,
    message_type: MessageType = MessageType.RAW,
    grant_tokens: tuple[str, ...] = (),
    dry_run: bool | None = None,
) -> VerifyResult:
    data = message.reveal()
    key, scheme = _prepare(deps, ctx, key_id, signing_algorithm, message_type, data, Operation.Verify)
    public_key = deps.keyring.load(deps.store, key).private_key.public_key()
    try:
        scheme.verify(public_key, data, signature, message_type)
    except (InvalidSignature, ValueError):
        raise KMSInvalidSignatureException() from None  # AWS sends no message, and never SignatureValid=false
    if dry_run:
        raise DryRunOperationException()
    return VerifyResult(key.arn, True, signing_algorithm)
