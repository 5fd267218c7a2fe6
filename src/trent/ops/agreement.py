"""DeriveSharedSecret: ECDH between a KEY_AGREEMENT key and the caller's public key."""

from __future__ import annotations

from trent.crypto import ec
from trent.kms.errors import DryRunOperationException, UnsupportedOperationException, ValidationException
from trent.kms.operations import Operation
from trent.kms.results import DeriveSharedSecretResult
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KeyAgreementAlgorithm, KeyUsage
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.encryption import NO_RECIPIENT
from trent.ops.resolution import require_algorithm, require_usage, resolve_key


def derive_shared_secret(
    deps: Deps,
    ctx: RequestContext,
    *,
    key_id: str,
    key_agreement_algorithm: KeyAgreementAlgorithm,
    public_key: bytes,
    grant_tokens: tuple[str, ...] = (),
    dry_run: bool | None = None,
    recipient: object | None = None,
) -> DeriveSharedSecretResult:
    if recipient is not None:
        raise UnsupportedOperationException(NO_RECIPIENT)
    facts = {"kms:keyagreementalgorithm": key_agreement_algorithm.value}
    key = resolve_key(deps, ctx, key_id, Operation.DeriveSharedSecret, facts=facts)
    require_usage(key, KeyUsage.KEY_AGREEMENT, Operation.DeriveSharedSecret)
    require_algorithm(key, key_agreement_algorithm, key.info.agreement)
    private_key = deps.keyring.load(deps.store, key).private_key
    try:
        secret = ec.derive_shared_secret(private_key, public_key)
    except ec.InvalidPeerKey:
        raise ValidationException() from None  # AWS answers a bad PublicKey with no message (A.6)
    if dry_run:
        raise DryRunOperationException()
    return DeriveSharedSecretResult(key.arn, Sensitive(secret), key_agreement_algorithm, key.origin)
