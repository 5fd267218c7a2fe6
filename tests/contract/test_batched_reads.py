"""The per-node batcher over PostgreSQL (protocol/awsjson/batch.py, store/prefetch.py), in process: the requests
of one loop iteration read their state in a few statements, and still see every change that returned before
they arrived, on this node or another."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.unit.protocol.test_front import NOW, Harness
from trent.audit.sqlite import SqliteAuditLog
from trent.auth.principals import Authenticator
from trent.kms.principals import DEFAULT_ACCOUNT, root_arn
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.ops.principals import create_access_key
from trent.protocol.awsjson.front import AwsJsonFront, WireRequest
from trent.rootoftrust.software import SoftwareRoot
from trent.store.postgres import PostgresStore

ROOT = SoftwareRoot({"rk-test": os.urandom(32)}, "rk-test")


def _node(url: str) -> tuple[PostgresStore, AwsJsonFront]:
    store = PostgresStore(url)
    deps = Deps(
        store=store,
        root_of_trust=ROOT,
        keyring=Keyring(ROOT),
        audit=SqliteAuditLog(":memory:", os.urandom(32)),
        clock=lambda: NOW,
    )
    return store, AwsJsonFront(deps, Authenticator(store, ROOT), clock=lambda: NOW)


@pytest.fixture
def nodes(postgres_url: str) -> Iterator[tuple[Harness, PostgresStore, Harness]]:
    """Two nodes on one database: (harness of A, A's store, harness of B)."""
    store_a, front_a = _node(postgres_url)
    store_b, front_b = _node(postgres_url)
    deps = Deps(
        store=store_a, root_of_trust=ROOT, keyring=Keyring(ROOT), audit=SqliteAuditLog(":memory:", os.urandom(32))
    )
    record, secret = create_access_key(deps, DEFAULT_ACCOUNT, root_arn(DEFAULT_ACCOUNT))
    yield (
        Harness(front_a, record.access_key_id, secret.reveal().decode()),
        store_a,
        Harness(front_b, record.access_key_id, secret.reveal().decode()),
    )
    store_a.close()
    store_b.close()


def _together(harness: Harness, requests: list[WireRequest]) -> list[tuple[int, dict[str, Any]]]:
    """Send the requests in one event-loop iteration, as concurrent clients would; (status, document) each."""

    async def send() -> list[Any]:
        return await asyncio.gather(*(harness.front.handle(r) for r in requests))

    return [(r.status, orjson.loads(r.body)) for r in asyncio.run(send())]


def _encrypt(harness: Harness, key: str) -> WireRequest:
    return harness.request("TrentService.Encrypt", {"KeyId": key, "Plaintext": base64.b64encode(b"x").decode()})


def test_a_batch_reads_its_state_in_a_few_statements(nodes: tuple[Harness, PostgresStore, Harness]) -> None:
    a, store, _ = nodes
    status, created = a.call("CreateKey", {})
    key_id = created["KeyMetadata"]["KeyId"]
    assert a.call("CreateAlias", {"AliasName": "alias/batched", "TargetKeyId": key_id})[0] == 200
    requests = [_encrypt(a, key_id if n % 2 else "alias/batched") for n in range(64)]
    before = store.round_trips
    answers = _together(a, requests)
    assert [s for s, _ in answers] == [200] * 64
    # One pipelined round trip for access keys, aliases and keys, and the key policy's first load (then cached
    # by revision); unbatched: 161, 2.5 per request.
    assert store.round_trips - before <= 2
    blob = answers[0][1]["CiphertextBlob"]
    before = store.round_trips
    decrypts = _together(a, [a.request("TrentService.Decrypt", {"CiphertextBlob": blob}) for _ in range(32)])
    assert [s for s, _ in decrypts] == [200] * 32
    assert store.round_trips - before == 1  # the key came from inside the ciphertext, prefetched


def test_a_change_on_another_node_is_seen_by_the_next_batch(nodes: tuple[Harness, PostgresStore, Harness]) -> None:
    a, _, b = nodes
    key_id = a.call("CreateKey", {})[1]["KeyMetadata"]["KeyId"]
    assert [s for s, _ in _together(b, [_encrypt(b, key_id)] * 4)] == [200] * 4
    assert a.call("DisableKey", {"KeyId": key_id})[0] == 200  # returned on node A
    answers = _together(b, [_encrypt(b, key_id) for _ in range(8)])  # arrive on node B after it returned
    assert {(s, d.get("__type")) for s, d in answers} == {(400, "DisabledException")}


def test_a_write_in_the_batch_is_seen_by_the_requests_after_it(nodes: tuple[Harness, PostgresStore, Harness]) -> None:
    a, _, _ = nodes
    key_id = a.call("CreateKey", {})[1]["KeyMetadata"]["KeyId"]
    disable = a.request("TrentService.DisableKey", {"KeyId": key_id})
    answers = _together(a, [disable, _encrypt(a, key_id), _encrypt(a, key_id)])
    assert answers[0][0] == 200
    assert [d.get("__type") for _, d in answers[1:]] == ["DisabledException", "DisabledException"]


def test_a_revoked_access_key_is_refused_by_the_next_batch(nodes: tuple[Harness, PostgresStore, Harness]) -> None:
    a, store, b = nodes
    key_id = a.call("CreateKey", {})[1]["KeyMetadata"]["KeyId"]
    with store.transaction() as tx:
        tx.set_access_key_active(a.access_key_id, False)
    answers = _together(b, [_encrypt(b, key_id) for _ in range(4)])
    assert {d.get("__type") for _, d in answers} == {"UnrecognizedClientException"}
