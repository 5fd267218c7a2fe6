"""GenerateDataKey(WithoutPlaintext) and GenerateDataKeyPair(WithoutPlaintext).

A data key is fresh random bytes; a data key pair is a fresh asymmetric key pair whose private key (PKCS#8
DER) is returned encrypted under a symmetric KMS key, bound to the encryption context.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from trent.crypto import material as crypto_material
from trent.kms.errors import DryRunOperationException, UnsupportedOperationException, ValidationException
from trent.kms.keys import Key
from trent.kms.operations import Operation
from trent.kms.results import (
    GenerateDataKeyPairResult,
    GenerateDataKeyPairWithoutPlaintextResult,
    GenerateDataKeyResult,
    GenerateDataKeyWithoutPlaintextResult,
)
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KEY_SPECS, DataKeyPairSpec, DataKeySpec, EncryptionAlgorithm, KeySpec
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.encryption import EMPTY, NO_RECIPIENT, check_encryption_key, seal
from trent.ops.keys import key_material_id
from trent.ops.resolution import resolve_key

DATA_KEY_BYTES: Mapping[DataKeySpec, int] = {DataKeySpec.AES_256: 32, DataKeySpec.AES_128: 16}
ONE_OF = "Please specify either number of bytes or key spec."


def _symmetric_key(
    deps: Deps,
    ctx: RequestContext,
    key_id: str,
    operation: Operation,
    encryption_context: Mapping[str, str],
    facts: Mapping[str, str] | None = None,
) -> Key:
    key = resolve_key(deps, ctx, key_id, operation, facts=facts, encryption_context=encryption_context)
    check_encryption_key(key, EncryptionAlgorithm.SYMMETRIC_DEFAULT, operation)
    return key


def _data_key(
    deps: Deps,
    ctx: RequestContext,
    key_id: str,
    operation: Operation,
    key_spec: DataKeySpec | None,
    number_of_bytes: int | None,
    encryption_context: Mapping[str, str],
    dry_run: bool | None,
) -> tuple[Key, bytes, bytes]:
    if (key_spec is None) == (number_of_bytes is None):
        raise ValidationException(ONE_OF)
    key = _symmetric_key(deps, ctx, key_id, operation, encryption_context)
    plaintext = os.urandom(DATA_KEY_BYTES[key_spec] if key_spec is not None else number_of_bytes or 0)
    blob = seal(deps, key, plaintext, encryption_context, ctx=ctx, operation=operation)
    if dry_run:
        raise DryRunOperationException()
    return key, plaintext, blob


def generate_data_key(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    encryption_context: Mapping[str, str] = EMPTY,
    number_of_bytes: int | None = None,
    key_spec: DataKeySpec | None = None,
    grant_tokens: tuple[str, ...] = (),
    recipient: object | None = None,
    dry_run: bool | None = None,
) -> GenerateDataKeyResult:
    if recipient is not None:
        raise UnsupportedOperationException(NO_RECIPIENT)
    key, plaintext, blob = _data_key(
        deps, ctx, key_id, Operation.GenerateDataKey, key_spec, number_of_bytes, encryption_context, dry_run
    )
    return GenerateDataKeyResult(blob, Sensitive(plaintext), key.arn, key_material_id(key, key.current_version))


def generate_data_key_without_plaintext(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    encryption_context: Mapping[str, str] = EMPTY,
    key_spec: DataKeySpec | None = None,
    number_of_bytes: int | None = None,
    grant_tokens: tuple[str, ...] = (),
    dry_run: bool | None = None,
) -> GenerateDataKeyWithoutPlaintextResult:
    key, _, blob = _data_key(
        deps,
        ctx,
        key_id,
        Operation.GenerateDataKeyWithoutPlaintext,
        key_spec,
        number_of_bytes,
        encryption_context,
        dry_run,
    )
    return GenerateDataKeyWithoutPlaintextResult(blob, key.arn, key_material_id(key, key.current_version))


def _key_pair(
    deps: Deps,
    ctx: RequestContext,
    key_id: str,
    operation: Operation,
    key_pair_spec: DataKeyPairSpec,
    encryption_context: Mapping[str, str],
    dry_run: bool | None,
) -> tuple[Key, bytes, bytes, bytes]:
    info = KEY_SPECS[KeySpec(key_pair_spec.value)]
    key = _symmetric_key(deps, ctx, key_id, operation, encryption_context, {"kms:datakeypairspec": key_pair_spec.value})
    if key.custom_key_store_id is not None:
        # "you cannot use symmetric encryption KMS keys in a custom key store to generate asymmetric data key
        # pairs" (Developer Guide, "Create a KMS key in an AWS CloudHSM key store")
        raise UnsupportedOperationException(f"{key.arn} origin is {key.origin} which is not valid for this operation.")
    if info.unsupported:
        raise UnsupportedOperationException(info.unsupported.replace("KeySpec", "KeyPairSpec"))
    private_der = crypto_material.generate(info)
    public_der = crypto_material.public_key_der(crypto_material.load_private(private_der))
    blob = seal(deps, key, private_der, encryption_context)
    if dry_run:
        raise DryRunOperationException()
    return key, private_der, public_der, blob


def generate_data_key_pair(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    key_pair_spec: DataKeyPairSpec,
    encryption_context: Mapping[str, str] = EMPTY,
    grant_tokens: tuple[str, ...] = (),
    recipient: object | None = None,
    dry_run: bool | None = None,
) -> GenerateDataKeyPairResult:
    if recipient is not None:
        raise UnsupportedOperationException(NO_RECIPIENT)
    key, private_der, public_der, blob = _key_pair(
        deps, ctx, key_id, Operation.GenerateDataKeyPair, key_pair_spec, encryption_context, dry_run
    )
    return GenerateDataKeyPairResult(
        blob,
        Sensitive(private_der),
        public_der,
        key.arn,
        key_pair_spec,
        key_material_id(key, key.current_version),
    )


def generate_data_key_pair_without_plaintext(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    key_pair_spec: DataKeyPairSpec,
    encryption_context: Mapping[str, str] = EMPTY,
    grant_tokens: tuple[str, ...] = (),
    dry_run: bool | None = None,
) -> GenerateDataKeyPairWithoutPlaintextResult:
    key, _, public_der, blob = _key_pair(
        deps, ctx, key_id, Operation.GenerateDataKeyPairWithoutPlaintext, key_pair_spec, encryption_context, dry_run
    )
    return GenerateDataKeyPairWithoutPlaintextResult(
        blob, public_der, key.arn, key_pair_spec, key_material_id(key, key.current_version)
    )
