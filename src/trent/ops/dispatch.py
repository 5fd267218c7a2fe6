"""run(): the one way a front runs an operation, with exactly one audit event per request.

Every request yields one event: allowed, denied, failed, or refused before it reached an operation
(authentication, validation). A front must not send the response before the event is durable: run() returns
the outcome together with a future that completes when it is. If the event cannot be written, the request
fails with KMSInternalException and its result is withheld (fail closed).

An operation that may change something runs in a store unit: its changes and their audit record (in the
store's outbox) commit in one transaction, so no change is ever durable without its record; the record
then goes to the audit writer, which chains it once however often it arrives (decision 0009).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trent.audit.events import AuditEvent, UserIdentity
from trent.audit.port import AuditWriteError
from trent.kms.errors import KmsError, KMSInternalException
from trent.kms.ids import unique_id
from trent.kms.operations import Operation
from trent.metrics import OTHER
from trent.metrics import request as count_request
from trent.ops import grants, throttling
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.journal import READ_ONLY, event_for, journal
from trent.ops.registry import OPERATIONS

log = logging.getLogger("trent.request")
access = logging.getLogger("trent.access")  # one line per request, once its record is durable (trent/logs.py)


def _submit(deps: Deps, event: AuditEvent, started: float, *, journaled: bool = False) -> asyncio.Future[None]:
    """Submit the request's one event; once it settles, its access log line (if that logger is on)."""
    durable = _chained_or_journaled(deps.audit.submit(event, journaled=True)) if journaled else deps.audit.submit(event)
    durable.add_done_callback(lambda done: _settled(event, done, started))
    return durable


_KNOWN = frozenset(Operation)


def _settled(event: AuditEvent, durable: asyncio.Future[None], started: float) -> None:
    """Count the request (trent/metrics.py) and write its access log line (if that logger is on)."""
    unaudited = durable.cancelled() or durable.exception() is not None
    error = "KMSInternalException" if unaudited else event.error_code
    # The event name may be whatever an unauthenticated client put in X-Amz-Target: not a label value.
    count_request(event.event_name if event.event_name in _KNOWN else OTHER, error, time.perf_counter() - started)
    if access.isEnabledFor(logging.INFO):
        _log_request(event, error, started)


def _log_request(event: AuditEvent, error: str | None, started: float) -> None:
    """The fields come from the audit record (allow-listed: no secret, plaintext or body can be among them)."""
    fields = {
        "request_id": event.request_id,
        "operation": event.event_name,
        "principal": event.user_identity.arn,
        "access_key_id": event.user_identity.access_key_id,
        "key": ",".join(event.resources),
        "outcome": "error" if error else "ok",
        "error_code": error,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    access.info("%s %s", event.event_name, "ok" if error is None else error, extra={"fields": fields})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a request came to: a result or an error, and the future of its audit event's durability."""

    result: Any
    error: KmsError | None
    durable: asyncio.Future[None]


def run(deps: Deps, ctx: RequestContext, operation: Operation, params: Mapping[str, Any]) -> Outcome:
    """Run `operation` and submit its one audit event. Never raises: errors are part of the outcome."""
    started = time.perf_counter()
    if operation not in READ_ONLY:
        return _run_change(deps, ctx, operation, params, started)
    try:
        throttling.charge(deps.throttle, ctx, operation, params)
        grants.check_grant_tokens(params.get("grant_tokens", ()))
        result = OPERATIONS[operation](deps, ctx, **params)
        error: KmsError | None = None
    except KmsError as exc:
        result, error = None, exc
    except Exception:
        log.exception("internal error in %s, request %s", operation.value, ctx.request_id)
        result, error = None, KMSInternalException()
    event = event_for(deps, ctx, operation.value, params, result, error)
    return Outcome(result, error, _submit(deps, event, started))


def _run_change(
    deps: Deps, ctx: RequestContext, operation: Operation, params: Mapping[str, Any], started: float
) -> Outcome:
    """run() for an operation that may write: the writes and the record of their success commit together."""
    try:
        throttling.charge(deps.throttle, ctx, operation, params)
        with deps.store.unit() as unit:
            grants.check_grant_tokens(params.get("grant_tokens", ()))
            result = OPERATIONS[operation](deps, ctx, **params)
            event = event_for(deps, ctx, operation.value, params, result, None)
            journaled = journal(unit, event)
    except KmsError as exc:
        error: KmsError = exc
    except Exception:  # the operation, or the commit (disk full): nothing of it stayed
        log.exception("internal error in %s, request %s", operation.value, ctx.request_id)
        error = KMSInternalException()
    else:
        # Not journaled: it changed nothing after all (EnableKey of an enabled key).
        return Outcome(result, None, _submit(deps, event, started, journaled=journaled))
    event = event_for(deps, ctx, operation.value, params, None, error)
    return Outcome(None, error, _submit(deps, event, started))


def _chained_or_journaled(submitted: asyncio.Future[None]) -> asyncio.Future[None]:
    """The durability of a journaled record: it is durable already (committed in the outbox with the
    change), so the response waits for the writer only to find it chained, and succeeds even if the writer
    failed. Answering 500 for a change that stayed would invite a retry that makes it twice (CreateKey)."""
    done: asyncio.Future[None] = submitted.get_loop().create_future()

    def relay(future: asyncio.Future[None]) -> None:
        if not future.cancelled():
            future.exception()  # retrieved: the record waits in the outbox, for the writer's next drain
        if not done.done():
            done.set_result(None)

    submitted.add_done_callback(relay)
    return done


async def settled(outcome: Outcome) -> Any:
    """Wait for the event, then give the result or raise the error (KMSInternalException if unaudited)."""
    try:
        await outcome.durable
    except AuditWriteError:
        raise KMSInternalException() from None
    if outcome.error is not None:
        raise outcome.error
    return outcome.result


async def invoke(deps: Deps, ctx: RequestContext, operation: Operation, params: Mapping[str, Any]) -> Any:
    """run() and wait: the result once its audit event is durable."""
    return await settled(run(deps, ctx, operation, params))


def refuse(deps: Deps, ctx: RequestContext, event_name: str, error: KmsError) -> asyncio.Future[None]:
    """Submit the event of a request the front refused before any operation ran (unknown operation, bad
    JSON, validation)."""
    return _submit(deps, event_for(deps, ctx, event_name, None, None, error), time.perf_counter())


def reject(
    deps: Deps,
    *,
    event_name: str,
    access_key_id: str,
    region: str,
    request_id: str,
    source_ip: str,
    user_agent: str,
    error: KmsError,
) -> asyncio.Future[None]:
    """Submit the event of a request whose authentication failed: the caller is unknown, so is its account."""
    return _submit(
        deps,
        AuditEvent(
            event_name=event_name,
            event_time=deps.clock(),
            region=region,
            request_id=request_id,
            event_id=unique_id(),
            user_identity=UserIdentity("Unknown", access_key_id=access_key_id),
            source_ip=source_ip,
            user_agent=user_agent,
            read_only=event_name in READ_ONLY,
            recipient_account_id="",
            error_code=error.code,
            error_message=error.message,
        ),
        time.perf_counter(),
    )


def record(deps: Deps, event: AuditEvent, started: float) -> asyncio.Future[None]:
    """Submit the one event of a request whose front built it itself (the XKS proxy API's: ops/xks.py)."""
    return _submit(deps, event, started)
