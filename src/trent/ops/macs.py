"""GenerateMac and VerifyMac with HMAC keys."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature

from trent.crypto import mac as hmacs  # not `mac`: VerifyMac's parameter has that name
from trent.kms.errors import DryRunOperationException, KMSInvalidMacException
from trent.kms.keys import Key
from trent.kms.operations import Operation
from trent.kms.results import GenerateMacResult, VerifyMacResult
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KeyUsage, MacAlgorithm
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.resolution import require_algorithm, require_usage, resolve_key


def _mac_key(deps: Deps, ctx: RequestContext, key_id: str, algorithm: MacAlgorithm, operation: Operation) -> Key:
    key = resolve_key(deps, ctx, key_id, operation, facts={"kms:macalgorithm": algorithm.value})
    require_usage(key, KeyUsage.GENERATE_VERIFY_MAC, operation)
    require_algorithm(key, algorithm, key.info.mac)
    return key


def generate_mac(
    deps: Deps,
    ctx: RequestContext,
    *,
    message: Sensitive,
    key_id: str,
    mac_algorithm: MacAlgorithm,
    grant_tokens: tuple[str, ...] = (),
    dry_run: bool | None = None,
) -> GenerateMacResult:
    key = _mac_key(deps, ctx, key_id, mac_algorithm, Operation.GenerateMac)
    tag = hmacs.generate(deps.keyring.load(deps.store, key).secret, mac_algorithm, message.reveal())
    if dry_run:
        raise DryRunOperationException()
    return GenerateMacResult(tag, mac_algorithm, key.arn)


def verify_mac(
    deps: Deps,
    ctx: RequestContext,
    *,
    message: Sensitive,
    key_id: str,
    mac_algorithm: MacAlgorithm,
    mac: bytes,
    grant_tokens: tuple[str, ...] = (),
    dry_run: bool | None = None,
) -> VerifyMacResult:
    key = _mac_key(deps, ctx, key_id, mac_algorithm, Operation.VerifyMac)
    try:
        hmacs.verify(deps.keyring.load(deps.store, key).secret, mac_algorithm, message.reveal(), mac)
    except InvalidSignature:
        raise KMSInvalidMacException() from None
    if dry_run:
        raise DryRunOperationException()
    return VerifyMacResult(key.arn, True, mac_algorithm)
