"""Encapsulate and Decapsulate with ML-KEM keys (KeyUsage ENCAPSULATE_DECAPSULATE)."""

from __future__ import annotations

from trent.crypto import mlkem
from trent.kms.errors import DryRunOperationException, InvalidCiphertextException
from trent.kms.keys import Key
from trent.kms.operations import Operation
from trent.kms.results import DecapsulateResult, EncapsulateResult
from trent.kms.sensitive import Sensitive
from trent.kms.specs import EncapsulationAlgorithm, KeyUsage
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.resolution import require_algorithm, require_usage, resolve_key


def _kem_key(
    deps: Deps, ctx: RequestContext, key_id: str, algorithm: EncapsulationAlgorithm, operation: Operation
) -> Key:
    key = resolve_key(deps, ctx, key_id, operation)
    require_usage(key, KeyUsage.ENCAPSULATE_DECAPSULATE, operation)
    require_algorithm(key, algorithm, key.info.encapsulation)
    return key


def encapsulate(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    encapsulation_algorithm: EncapsulationAlgorithm,
    grant_tokens: tuple[str, ...] = (),
    dry_run: bool | None = None,
) -> EncapsulateResult:
    key = _kem_key(deps, ctx, key_id, encapsulation_algorithm, Operation.Encapsulate)
    shared, ciphertext = mlkem.encapsulate(deps.keyring.load(deps.store, key).private_key.public_key())
    if dry_run:
        raise DryRunOperationException()
    return EncapsulateResult(key.arn, Sensitive(shared), ciphertext, encapsulation_algorithm)


def decapsulate(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    shared_secret_ciphertext_blob: bytes,
    encapsulation_algorithm: EncapsulationAlgorithm,
    grant_tokens: tuple[str, ...] = (),
    dry_run: bool | None = None,
) -> DecapsulateResult:
    key = _kem_key(deps, ctx, key_id, encapsulation_algorithm, Operation.Decapsulate)
    try:
        shared = mlkem.decapsulate(deps.keyring.load(deps.store, key).private_key, shared_secret_ciphertext_blob)
    except mlkem.InvalidEncapsulation:
        raise InvalidCiphertextException() from None
    if dry_run:
        raise DryRunOperationException()
    return DecapsulateResult(key.arn, Sensitive(shared), encapsulation_algorithm)
