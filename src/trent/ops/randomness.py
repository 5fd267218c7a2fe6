"""GenerateRandom: bytes from the operating system's CSPRNG (os.urandom, getrandom(2) on Linux)."""

from __future__ import annotations

import os

from trent.kms.errors import CustomKeyStoreNotFoundException, UnsupportedOperationException, ValidationException
from trent.kms.operations import Operation
from trent.kms.results import GenerateRandomResult
from trent.kms.sensitive import Sensitive
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.encryption import NO_RECIPIENT
from trent.ops.resolution import authorize_account


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
    if custom_key_store_id is not None:
        raise CustomKeyStoreNotFoundException("Trent has no custom key stores.")
    if recipient is not None:
        raise UnsupportedOperationException(NO_RECIPIENT)
    authorize_account(deps, ctx, Operation.GenerateRandom)
    return GenerateRandomResult(Sensitive(os.urandom(number_of_bytes)))
