"""What the PostgreSQL store adds to the store contract: many nodes on one database.

Each test has a database of its own (the `postgres_url` fixture); "another node" is another PostgresStore,
or a plain psycopg connection that sees only what was committed.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.postgres import fresh_database
from trent.kms.ids import AccountId, AliasName, KeyId, Region
from trent.kms.keys import Alias, Key
from trent.kms.specs import KeySpec, KeyState, KeyUsage, Origin
from trent.store.base import DuplicateError, SchemaTooNewError
from trent.store.postgres import PostgresStore
from trent.store.postgres_schema import SCHEMA

ACCOUNT, REGION = AccountId("111122223333"), Region("us-east-1")
NOW = datetime(2026, 1, 2, 3, 4, 5, 123457, tzinfo=UTC)


def _key(n: int, **changes: object) -> Key:
    base = Key(
        key_id=KeyId(f"00000000-0000-4000-8000-{n:012d}"),
        account=ACCOUNT,
        region=REGION,
        spec=KeySpec.SYMMETRIC_DEFAULT,
        usage=KeyUsage.ENCRYPT_DECRYPT,
        origin=Origin.AWS_KMS,
        state=KeyState.ENABLED,
        creation_date=NOW,
        revision=1,  # each call builds the same record
        policy_revision=1,
    )
    return base.evolve(**changes) if changes else base


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresStore]:
    adapter = PostgresStore(postgres_url)
    yield adapter
    adapter.close()


def _committed_key_ids(url: str) -> list[str]:
    """The keys another connection sees: only what was committed."""
    with psycopg.connect(url, autocommit=True) as other:
        return [row[0] for row in other.execute("SELECT key_id FROM keys ORDER BY key_id")]


def _in_threads(count: int, work: Callable[[int], None]) -> None:
    """Run work(0..count-1) in threads released at the same moment; re-raise the first error any of them had."""
    barrier, failures = threading.Barrier(count), []

    def run(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def test_nodes_starting_at_once_on_a_fresh_database_migrate_it_once(postgres_server: str) -> None:
    # Without the migration lock, racing CREATE TABLEs fail (duplicate relation or pg_type entry) in one node.
    def open_store(url: str, opened: list[PostgresStore], n: int) -> None:
        opened.append(PostgresStore(url))

    for _ in range(3):
        with fresh_database(postgres_server) as url:
            opened: list[PostgresStore] = []
            _in_threads(4, functools.partial(open_store, url, opened))
            for adapter in opened:
                adapter.close()
            with psycopg.connect(url, autocommit=True) as conn:
                assert conn.execute("SELECT version FROM trent_schema").fetchall() == [(len(SCHEMA),)]


def test_a_schema_newer_than_this_trent_is_refused_untouched(postgres_url: str) -> None:
    PostgresStore(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE trent_schema SET version = %s", (len(SCHEMA) + 1,))
    with pytest.raises(SchemaTooNewError) as refused:
        PostgresStore(postgres_url)
    message = str(refused.value)
    assert f"version {len(SCHEMA) + 1}" in message and f"({len(SCHEMA)})" in message and "\n" not in message
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM trent_schema").fetchone() == (len(SCHEMA) + 1,)


def test_an_acknowledged_commit_is_committed_even_after_a_read(store: PostgresStore, postgres_url: str) -> None:
    """The autocommit trap: without autocommit the first read opens a transaction that never ends, every
    `transaction()` after it is only a savepoint, and nothing the store "committed" reaches the database."""
    assert store.get_key(_key(1).key_id) is None
    with store.transaction() as tx:
        tx.insert_key(_key(1), b"w", "{}", [])
    assert _committed_key_ids(postgres_url) == [_key(1).key_id]
    assert store.get_key(_key(1).key_id) == _key(1)
    with store.unit() as unit:
        with store.transaction() as tx:
            tx.insert_key(_key(2), b"w", "{}", [])
        unit.journal("event-1", b"row")
    assert _committed_key_ids(postgres_url) == [_key(1).key_id, _key(2).key_id]
    assert store._c.info.transaction_status is psycopg.pq.TransactionStatus.IDLE


def test_a_transaction_that_raises_leaves_nothing_and_the_store_usable(store: PostgresStore, postgres_url: str) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_key(_key(3), b"w", "{}", [])
        raise RuntimeError("boom")
    with pytest.raises(psycopg.errors.UniqueViolation), store.transaction() as tx:
        tx.insert_key(_key(4), b"w", "{}", [])
        tx.insert_key(_key(4), b"w", "{}", [])  # the database aborts the transaction, which then rolls back
    assert _committed_key_ids(postgres_url) == []
    assert store._c.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
    with store.transaction() as tx:
        tx.insert_key(_key(5), b"w", "{}", [])
    assert _committed_key_ids(postgres_url) == [_key(5).key_id]


def test_a_duplicate_leaves_the_transaction_usable(store: PostgresStore) -> None:
    """As in SQLite, a DuplicateError undoes only its statement: the caller may go on in the same block."""
    alias = Alias(ACCOUNT, REGION, AliasName("alias/a"), _key(6).key_id, NOW, NOW)
    with store.transaction() as tx:
        tx.insert_key(_key(6), b"w", "{}", [])
        tx.insert_alias(alias)
        with pytest.raises(DuplicateError, match="alias/a"):
            tx.insert_alias(alias)
        tx.put_policy(_key(6).key_id, '{"after": true}')
    assert store.get_policy(_key(6).key_id) == '{"after": true}'
    assert store.get_alias(ACCOUNT, REGION, alias.name) == alias


def test_writers_are_serialized_for_read_modify_write(postgres_url: str) -> None:
    """Each transaction counts the keys and inserts the next number: only one writer at a time makes that
    safe (concurrent ones would read the same count and collide on the key id)."""
    stores = [PostgresStore(postgres_url) for _ in range(3)]

    def add_keys(n: int) -> None:
        for _ in range(10):
            with stores[n].transaction() as tx:
                tx.insert_key(_key(100 + tx.count_keys(ACCOUNT)), b"w", "{}", [])

    try:
        _in_threads(len(stores), add_keys)
        assert stores[0].count_keys(ACCOUNT) == 30
    finally:
        for adapter in stores:
            adapter.close()


def test_another_node_reads_each_commit_at_once(store: PostgresStore, postgres_url: str) -> None:
    other = PostgresStore(postgres_url)
    try:
        assert other.get_key(_key(7).key_id) is None
        with store.transaction() as tx:
            tx.insert_key(_key(7), b"w", "{}", [])
        assert other.get_key(_key(7).key_id) == _key(7)
        with store.unit():
            with other.transaction() as tx:  # the unit holds no lock before its first transaction
                tx.put_policy(_key(7).key_id, '{"other": 1}')
            with store.transaction() as tx:
                tx.update_key(_key(7).evolve(state=KeyState.DISABLED), 1)
            assert other.get_key(_key(7).key_id) == _key(7)  # not committed yet
        assert other.get_key(_key(7).key_id).state is KeyState.DISABLED  # type: ignore[union-attr]
        assert store.get_policy(_key(7).key_id) == '{"other": 1}'
    finally:
        other.close()


def test_timestamps_keep_their_microseconds_and_come_back_in_utc(store: PostgresStore) -> None:
    with store.transaction() as tx:
        tx.insert_key(_key(8, deletion_date=NOW.replace(microsecond=1)), b"w", "{}", [])
    got = store.get_key(_key(8).key_id)
    assert got is not None and got.creation_date == NOW and got.creation_date.microsecond == 123457
    assert got.deletion_date == NOW.replace(microsecond=1) and got.creation_date.utcoffset() is not None
    assert got.creation_date.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_every_session_bounds_idling_in_a_transaction(store: PostgresStore) -> None:
    """A frozen node's open transaction (and so the writer lock) is cut after a bound."""
    assert store._c.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("5s",)
    assert store._c.autocommit and store._c.prepare_threshold == 0


def _cut(store: PostgresStore, postgres_url: str) -> None:
    """What a server restart or failover does to the store's connection; the store learns of it at its next use."""
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (store._c.info.backend_pid,))


def test_a_broken_connection_is_replaced_between_transactions(store: PostgresStore, postgres_url: str) -> None:
    with store.transaction() as tx:
        tx.insert_key(_key(9), b"w", "{}", [])
    _cut(store, postgres_url)
    assert store.get_key(_key(9).key_id) == _key(9)  # a read outside a transaction: sent again, on a new one
    _cut(store, postgres_url)
    with pytest.raises(psycopg.OperationalError), store.transaction() as tx:  # a transaction is never resent
        tx.put_policy(_key(9).key_id, '{"v": 2}')
    assert store.get_policy(_key(9).key_id) == "{}"
    with store.transaction() as tx:
        tx.put_policy(_key(9).key_id, '{"v": 2}')
    assert store.get_policy(_key(9).key_id) == '{"v": 2}'


_WRITER = """
import sys
from datetime import UTC, datetime
from trent.kms.ids import AccountId, KeyId, Region
from trent.kms.keys import Key
from trent.kms.specs import KeySpec, KeyState, KeyUsage, Origin
from trent.store.postgres import PostgresStore

store = PostgresStore(sys.argv[1])
for n in range(1_000_000):
    key = Key(KeyId(f"00000000-0000-4000-8000-{n:012d}"), AccountId("111122223333"), Region("us-east-1"),
              KeySpec.SYMMETRIC_DEFAULT, KeyUsage.ENCRYPT_DECRYPT, Origin.AWS_KMS, KeyState.ENABLED,
              datetime.now(UTC))
    with store.unit() as unit:
        with store.transaction() as tx:
            tx.insert_key(key, b"w", "{}", [])
        unit.journal(f"event-{n}", b"row")
    print(n, flush=True)  # acknowledged: the commit returned
"""


def test_every_acknowledged_unit_survives_a_kill_9_of_its_writer(postgres_url: str) -> None:
    """POSTGRES.md's crash rule, kept in the suite: what a writer saw committed is there after it dies."""
    source = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source / "src"), str(source)])}
    acknowledged: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, postgres_url], stdout=subprocess.PIPE, text=True, env=env
    ) as writer:
        assert writer.stdout is not None
        deadline = time.monotonic() + 30
        while len(acknowledged) < 150 and time.monotonic() < deadline:
            line = writer.stdout.readline()
            if not line:
                break
            acknowledged.append(int(line))
        writer.send_signal(signal.SIGKILL)
    assert len(acknowledged) >= 150, "the writer did not get going"
    with psycopg.connect(postgres_url, autocommit=True) as other:
        keys = {int(r[0][-12:]) for r in other.execute("SELECT key_id FROM keys")}
        events = {int(r[0].removeprefix("event-")) for r in other.execute("SELECT event_id FROM audit_outbox")}
    assert set(acknowledged) <= keys and keys == events  # a key and its record: together or not at all
