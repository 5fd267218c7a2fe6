"""Audit events for what happens in ops: one per request (dispatch), and one per background action; and
the outbox entry that commits a change's event with the change (decision 0009)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from trent.audit.events import REQUEST_PARAMETERS, RESPONSE_ELEMENTS, AuditEvent, UserIdentity, allow_listed
from trent.audit.port import AuditWriteError
from trent.audit.rows import pack_row, row_of
from trent.kms.errors import KmsError
from trent.kms.ids import unique_id
from trent.kms.keys import Key
from trent.kms.operations import OPERATION_FACTS, Operation
from trent.kms.principals import Principal
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.store.base import Unit

log = logging.getLogger("trent.jobs")
# CloudTrail's readOnly: operations that change nothing (the cryptographic ones included, as CloudTrail has it).
# Operations not in it run in a store unit (ops/dispatch.py).
READ_ONLY: frozenset[Operation] = frozenset(op for op, facts in OPERATION_FACTS.items() if facts.read_only)

# KeyLastUsageTrackingOperation in the KMS model: the cryptographic operations GetKeyLastUsage reports.
TRACKED_USES: frozenset[str] = frozenset(op.value for op, facts in OPERATION_FACTS.items() if facts.tracked_use)


@lru_cache(maxsize=4096)
def identity_of(principal: Principal) -> UserIdentity:
    kind = "Root" if principal.is_root else "IAMUser"
    name = "" if principal.is_root else principal.arn.rsplit("/", 1)[-1]
    return UserIdentity(kind, principal.account, principal.arn, principal.access_key_id, name)


def event_for(
    deps: Deps,
    ctx: RequestContext,
    event_name: str,
    params: Mapping[str, Any] | None,
    result: Any,
    error: KmsError | None,
) -> AuditEvent:
    keys = tuple(dict.fromkeys(ctx.trace.keys))  # each key once, in the order touched
    read_only = event_name in READ_ONLY
    return AuditEvent(
        event_name=event_name,
        event_time=deps.clock(),
        region=ctx.region,
        request_id=ctx.request_id,
        event_id=unique_id(),
        user_identity=identity_of(ctx.principal),
        source_ip=ctx.source_ip,
        user_agent=ctx.user_agent,
        read_only=read_only,
        recipient_account_id=keys[0].split(":")[4] if keys else ctx.account,
        resources=keys,
        request_parameters=None if params is None else allow_listed(params, REQUEST_PARAMETERS),
        # CloudTrail records response elements only for calls that change something (CreateKey's keyMetadata,
        # ScheduleKeyDeletion's deletionDate, CreateGrant's grantId); reads and cryptographic calls have none.
        response_elements=None if result is None or read_only else allow_listed(result, RESPONSE_ELEMENTS),
        error_code=None if error is None else error.code,
        error_message=None if error is None else error.message,
        key_use=error is None and event_name in TRACKED_USES and bool(keys),
    )


def service_event(deps: Deps, event_name: str, key: Key) -> AuditEvent:
    """An event for what Trent itself did to a key (deletion at the end of its window, scheduled rotation)."""
    return AuditEvent(
        event_name=event_name,
        event_time=deps.clock(),
        region=key.region,
        request_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        user_identity=UserIdentity("AWSService", arn="kms.amazonaws.com"),
        source_ip="kms.amazonaws.com",
        user_agent="kms.amazonaws.com",
        read_only=False,
        recipient_account_id=key.account,
        resources=(key.arn,),
        request_parameters={"keyId": key.key_id},
    )


def journal(unit: Unit, event: AuditEvent) -> bool:
    """Put the event in the unit's outbox, to commit with its changes, if it changed anything; whether it did."""
    if not unit.wrote():
        return False
    unit.journal(event.event_id, pack_row(row_of(event, journaled=True)))
    return True


def chain_now(deps: Deps, event: AuditEvent) -> None:
    """Chain a journaled event at once (background jobs). If that fails, it waits in the outbox, committed
    with its change, and the audit writer chains it at its next drain."""
    try:
        deps.audit.record_now([event], journaled=True)
    except AuditWriteError as exc:
        log.warning("%s of %s: its audit record waits in the outbox (%s)", event.event_name, event.key_arn, exc)
