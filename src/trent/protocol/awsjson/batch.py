"""The per-node batcher of state reads, for a store whose every read is a round trip (PostgreSQL).

Requests that arrive while the event loop is busy are not served one by one as they are parsed: the front
queues them and serves the whole queue once the loop has read everything runnable. First it names what the
queued requests will read (the access key of each signature, its user, the keys and aliases they name,
the key inside a Decrypt's ciphertext) and has the store read each kind in one statement
(store/prefetch.py); then it runs them in arrival order against that snapshot. Every read of a request still
comes from a statement that started after the request arrived, which is what makes a change that returned
on any node visible to every later request (docs/decisions/0010-postgresql-store.md): the batch costs a few
round trips instead of a few per request. What a request reads that was not foreseen is read as before.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from trent import metrics
from trent.crypto.ciphertext import MalformedBlob, unpack
from trent.kms.errors import KmsError
from trent.kms.ids import AliasName, Region, parse_key_identifier, regional_key_id
from trent.store.prefetch import Prefetching, ReadNeeds

log = logging.getLogger("trent.request")
# The request fields that name a key (KMS API reference: KeyId, DestinationKeyId, TargetKeyId).
_KEY_FIELDS = ("KeyId", "DestinationKeyId", "TargetKeyId")


class Served(Protocol):
    """What the front made of a request: its reply once `durable` is done (front.Pending)."""

    @property
    def durable(self) -> asyncio.Future[None] | None: ...

    def final(self) -> Any: ...


class Queued:
    """A request's answer while it waits in the batch: the edge waits for `durable`, then sends final()."""

    __slots__ = ("durable", "_served")

    def __init__(self, durable: asyncio.Future[None]) -> None:
        self.durable = durable
        self._served: Served | None = None

    def settle(self, served: Served) -> None:
        self._served = served
        inner = served.durable
        if inner is None or inner.done():
            self.durable.set_result(None)
        else:
            inner.add_done_callback(self._release)

    def _release(self, _: object) -> None:
        if not self.durable.done():
            self.durable.set_result(None)  # final() tells success from failure (front.Pending)

    def final(self) -> Any:
        assert self._served is not None
        return self._served.final()


class Batcher:
    """Queue requests; serve each loop iteration's queue after one prefetch of what it reads."""

    def __init__(
        self, store: Prefetching, serve: Callable[[Any, str], Served], credential: Callable[[str], tuple[str, str, str]]
    ) -> None:
        self._store = store
        self._serve = serve
        self._credential = credential
        self._queue: list[tuple[Any, str, Queued]] = []
        self._tasks: set[asyncio.Future[None]] = set()
        self._reading = False

    def submit(self, request: Any, request_id: str) -> Queued:
        loop = asyncio.get_running_loop()
        if not self._queue:
            loop.call_soon(self._run)  # once the loop has read everything already there
        queued = Queued(loop.create_future())
        self._queue.append((request, request_id, queued))
        return queued

    def _run(self) -> None:
        if self._reading or not self._queue:
            return  # one read at a time: the batch that is reading takes up the queue when it is done
        self._reading = True
        batch, self._queue = self._queue, []
        task = asyncio.ensure_future(self._serve_batch(batch))
        self._tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._tasks.discard)

    async def _serve_batch(self, batch: list[tuple[Any, str, Queued]]) -> None:
        """Read the batch's state without blocking the loop (requests arriving meanwhile form the next batch),
        then serve the batch at once, against that state: nothing else runs between the two."""
        sent = self._store.round_trips
        try:
            needs = ReadNeeds()
            for request, _, _ in batch:
                self._note(request, needs)
            snapshot = await self._store.read(needs)
        except Exception as exc:  # the store is down: each request meets it on its own, and fails closed
            log.warning("batched read of %d request(s) failed: %s", len(batch), type(exc).__name__)
        else:
            self._store.install(snapshot)
        try:
            for request, request_id, queued in batch:
                queued.settle(self._serve(request, request_id))  # never raises
        finally:
            self._store.end_batch()
            metrics.read_batch(len(batch), self._store.round_trips - sent)
            self._reading = False
            self._run()  # the requests that arrived while this batch read

    def _note(self, request: Any, needs: ReadNeeds) -> None:
        """What this request will read, as far as its bytes tell; anything unreadable is simply not foreseen."""
        headers: Mapping[str, str] = request.headers
        access_key_id, _, region = self._credential(headers.get("authorization") or "")
        if not access_key_id:
            return
        needs.access_key_ids.add(access_key_id)
        try:
            document = orjson.loads(request.body) if request.body else {}
        except orjson.JSONDecodeError:
            return
        if not isinstance(document, dict):
            return
        for name in _KEY_FIELDS:
            value = document.get(name)
            if isinstance(value, str):
                _note_key(value, access_key_id, region, needs)
        blob = document.get("CiphertextBlob")
        if isinstance(blob, str) and "KeyId" not in document:
            with contextlib.suppress(binascii.Error, ValueError, MalformedBlob):
                needs.key_ids.add(regional_key_id(unpack(base64.b64decode(blob, validate=True)).key_id, region))


def _note_key(value: str, access_key_id: str, region: str, needs: ReadNeeds) -> None:
    try:
        ref = parse_key_identifier(value)
    except KmsError:
        return
    if ref.alias_name is None:
        if ref.key_id is not None:
            needs.key_ids.add(regional_key_id(ref.key_id, ref.region or region))
    elif ref.account is not None and ref.region is not None:
        needs.alias_refs.add((ref.account, ref.region, ref.alias_name))
    else:
        needs.aliases.add((access_key_id, Region(region), AliasName(ref.alias_name)))
