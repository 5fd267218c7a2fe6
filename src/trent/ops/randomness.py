"""GenerateRandom: bytes from the operating system's CSPRNG (os.urandom, getrandom(2) on Linux)."""

from __future__ import annotations

import os

from trent.kms.errors import KMSInternalException, UnsupportedOperationException, ValidationException
from trent.kms.keystores import CustomKeyStoreType
from trent.kms.operations import Operation
from trent.kms.results import GenerateRandomResult
from trent.kms.sensitive import Sensitive
from trent.ops import storekeys
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.encryption import NO_RECIPIENT
from trent.ops.keystores import find_store
from trent.ops.resolution import authorize_account
from trent.rootoftrust.base import RootUnavailable
from trent.rootoftrust.tokenkeys import LoginRefused, TokenMissing


def generate_random(
    deps: Deps,
    ctx: RequestContext,
    *,
    number_of_bytes: int | None = None,
    custom_key_store_id: str | None = None,
    recipient: object | None = None,
) -> GenerateRandomResult:
    if number_of_bytes is None:
        raise ValidationException("NumberOfBytes is required.")  # recorded from AWS
    if recipient is not None:
        raise UnsupportedOperationException(NO_RECIPIENT)
    authorize_account(deps, ctx, Operation.GenerateRandom)
    if custom_key_store_id is not None:
        return GenerateRandomResult(Sensitive(_from_token(deps, ctx, custom_key_store_id, number_of_bytes)))
    return GenerateRandomResult(Sensitive(os.urandom(number_of_bytes)))


def _from_token(deps: Deps, ctx: RequestContext, custom_key_store_id: str, count: int) -> bytes:
    """Random bytes from the store's token (C_GenerateRandom): "generates the random byte string in the AWS
    CloudHSM cluster associated with the specified AWS CloudHSM key store" (GenerateRandom)."""
    store = find_store(deps.store, ctx, custom_key_store_id)
    if store.store_type is CustomKeyStoreType.EXTERNAL_KEY_STORE:
        # "External key store IDs are not valid for this parameter. If you specify the ID of an external key
        # store, GenerateRandom throws an UnsupportedOperationException." (GenerateRandom, CustomKeyStoreId)
        raise UnsupportedOperationException(f"Custom key store {custom_key_store_id} is an external key store.")
    storekeys.require_connected(store, "GenerateRandom")
    try:
        return deps.tokens.random(storekeys.token_ref(deps, deps.store, store), count)
    except (RootUnavailable, LoginRefused, TokenMissing):
        raise KMSInternalException() from None
