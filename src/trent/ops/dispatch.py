"""invoke(): the one way a front runs an operation, with exactly one audit event per request.

Every request yields one event: allowed, denied, failed, or refused before it reached an operation
(authentication, validation). The event is durable before the caller sees any result; if it cannot be
written, the request fails with KMSInternalException and its result is withheld (fail closed).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from trent.audit.events import AuditEvent, UserIdentity
from trent.audit.sinks import AuditWriteError
from trent.kms.errors import KmsError, KMSInternalException
from trent.kms.operations import Operation
from trent.ops import grants
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.journal import READ_ONLY, event_for
from trent.ops.registry import OPERATIONS


async def _audit(deps: Deps, event: AuditEvent) -> None:
    try:
        await deps.audit.record(event)
    except AuditWriteError:
        raise KMSInternalException() from None


async def invoke(deps: Deps, ctx: RequestContext, operation: Operation, params: Mapping[str, Any]) -> Any:
    """Run `operation`, record its one audit event, and only then return its result (or raise its error)."""
    try:
        grants.check_grant_tokens(params.get("grant_tokens", ()))
        result = OPERATIONS[operation](deps, ctx, **params)
    except KmsError as error:
        await _audit(deps, event_for(deps, ctx, operation.value, params, None, error))
        raise
    except Exception:
        await _audit(deps, event_for(deps, ctx, operation.value, params, None, KMSInternalException()))
        raise
    await _audit(deps, event_for(deps, ctx, operation.value, params, result, None))
    return result


async def refuse(deps: Deps, ctx: RequestContext, event_name: str, error: KmsError) -> None:
    """Record a request the front refused before any operation ran (unknown operation, bad JSON, validation)."""
    await _audit(deps, event_for(deps, ctx, event_name, None, None, error))


async def reject(
    deps: Deps,
    *,
    event_name: str,
    access_key_id: str,
    region: str,
    request_id: str,
    source_ip: str,
    user_agent: str,
    error: KmsError,
) -> None:
    """Record a request whose authentication failed: the caller is unknown, so is its account."""
    await _audit(
        deps,
        AuditEvent(
            event_name=event_name,
            event_time=deps.clock(),
            region=region,
            request_id=request_id,
            event_id=str(uuid.uuid4()),
            user_identity=UserIdentity("Unknown", access_key_id=access_key_id),
            source_ip=source_ip,
            user_agent=user_agent,
            read_only=event_name in READ_ONLY,
            recipient_account_id="",
            error_code=error.code,
            error_message=error.message,
        ),
    )
