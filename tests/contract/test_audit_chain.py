"""The audit Chain and Archive ports (audit/port.py) on every backend, then what PostgreSQL adds: one chain per
writer, fenced, anchored.

"A writer" is a Chain adapter object: on SQLite every writer appends to the one chain of audit.db; on
PostgreSQL each PostgresChain starts a chain of its own. Each PostgreSQL test has a database of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import pytest

from tests.unit.audit.helpers import event
from trent.audit import cloudtrail as ct
from trent.audit.anchor import CHECKPOINT, seal
from trent.audit.export import export, prune
from trent.audit.exported import ExportTally, verify_export
from trent.audit.port import Archive, AuditQuery, Chain, ChainFacts
from trent.audit.postgres import AnchorJob, ChainFencedError, PostgresChain, anchor
from trent.audit.postgres_archive import PostgresArchive
from trent.audit.postgres_schema import connect
from trent.audit.rows import Row, row_of
from trent.audit.sqlite import ChainWriter, SqliteArchive
from trent.audit.verify import Problem, Tally

KEY = os.urandom(32)
T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def _row(n: int, *, journaled: bool = False, at: float | None = None) -> Row:
    when = datetime.fromtimestamp(T0 + (n if at is None else at), UTC)
    return row_of(event(n, when), journaled=journaled)


def _rows(first: int, count: int) -> list[Row]:
    return [_row(n) for n in range(first, first + count)]


@dataclass
class Backend:
    name: str
    writer: Callable[[], Chain]  # a new writer
    archive: Archive


def _sqlite(tmp_path: Path) -> Backend:
    path = tmp_path / "audit.db"
    return Backend("sqlite", lambda: ChainWriter(path, KEY), SqliteArchive(path))


def _postgres(url: str) -> Backend:
    names = iter(range(1000))
    return Backend("postgresql", lambda: PostgresChain(url, KEY, f"test/{next(names)}"), PostgresArchive(url))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield _sqlite(tmp_path)
    else:
        yield _postgres(request.getfixturevalue("postgres_url"))


def _verify(archive: Archive, key: bytes = KEY) -> tuple[Tally, list[Problem]]:
    tally = Tally()
    return tally, list(archive.verify(key, None, None, tally))


def _ids(bodies: Iterator[bytes]) -> list[str]:
    return [orjson.loads(b)["requestID"] for b in bodies]


# -- the contract, on every backend ------------------------------------------------------------------------


def test_appended_records_verify_and_come_back_byte_for_byte(backend: Backend) -> None:
    writer = backend.writer()
    rows = _rows(1, 10)
    assert writer.append(rows[:3]) == 3 and writer.append(rows[3:]) == 7
    writer.close()
    tally, problems = _verify(backend.archive)
    assert problems == [] and tally.records == 10
    assert list(backend.archive.query(AuditQuery())) == [row[3] for row in rows]


def test_an_empty_append_is_a_probe_that_commits_nothing(backend: Backend) -> None:
    writer = backend.writer()
    writer.append(_rows(1, 2))
    assert writer.append([]) == 0
    assert writer.append(_rows(3, 1)) == 1  # the probe left the writer's head where it was
    writer.close()
    tally, problems = _verify(backend.archive)
    assert problems == [] and tally.records == 3


def test_a_journaled_record_is_chained_once_whoever_brings_it(backend: Backend) -> None:
    first, second = backend.writer(), backend.writer()
    change = _row(7, journaled=True)
    assert first.append([_row(1), change, change]) == 2  # twice in one batch: once
    assert second.append([change, _row(2)]) == 1  # the outbox drain, on another writer: skipped
    first.close()
    second.close()
    assert sorted(_ids(backend.archive.query(AuditQuery()))) == ["req-1", "req-2", "req-7"]
    tally, problems = _verify(backend.archive)
    assert problems == [] and tally.records == 3


def test_query_filters_by_time_key_and_limit(backend: Backend) -> None:
    writer = backend.writer()
    writer.append(_rows(1, 6))
    writer.close()
    since = datetime.fromtimestamp(T0 + 3, UTC)
    assert _ids(backend.archive.query(AuditQuery(since=since))) == ["req-3", "req-4", "req-5", "req-6"]
    assert _ids(backend.archive.query(AuditQuery(since=since, limit=2))) == ["req-3", "req-4"]
    assert len(list(backend.archive.query(AuditQuery(key="00000000-0000-4000-8000-000000000001")))) == 6
    assert list(backend.archive.query(AuditQuery(key="00000000-0000-4000-8000-000000000002"))) == []


def test_verify_with_another_key_finds_the_head_forged(backend: Backend) -> None:
    writer = backend.writer()
    writer.append(_rows(1, 3))
    writer.close()
    _, problems = _verify(backend.archive, os.urandom(32))
    assert [p.kind for p in problems if p.kind == "head"] == ["head"]


def test_a_snapshot_of_a_chain_ignores_what_is_committed_after_it_began(backend: Backend) -> None:
    writer = backend.writer()
    writer.append(_rows(1, 3))
    with backend.archive.snapshot() as view:
        assert [r[0] for r in view.records_after(1)] == [2, 3]
        writer.append(_rows(4, 2))
        assert [r[0] for r in view.records_after(0)] == [1, 2, 3] and view.hash_at(5) is None
    writer.close()


# -- PostgreSQL: a chain per writer, fenced, anchored --------------------------------------------------------


def _sql(url: str, statement: str, *args: object) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement, args).rowcount


def _pg_problems(url: str, checkpoint: bytes | None = None) -> list[Problem]:
    tally = Tally()
    return list(PostgresArchive(url).verify(KEY, None, checkpoint, tally))


def _found(problems: list[Problem]) -> list[tuple[str | None, int | None, str]]:
    return [(p.chain, p.seq, p.kind) for p in problems]


@pytest.fixture
def two_chains(postgres_url: str) -> Iterator[tuple[PostgresChain, PostgresChain]]:
    """Two writers, five records each, anchored."""
    a, b = PostgresChain(postgres_url, KEY, "node-a/1"), PostgresChain(postgres_url, KEY, "node-b/1")
    a.append(_rows(1, 5))
    b.append(_rows(101, 5))
    assert anchor(postgres_url, KEY) is not None
    yield a, b
    a.close()
    b.close()


def test_two_writers_appending_at_once_each_keep_a_chain_that_verifies(postgres_url: str) -> None:
    writers = [PostgresChain(postgres_url, KEY, f"node/{n}") for n in range(2)]
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            for batch in range(40):
                writers[n].append(_rows(n * 10_000 + batch * 8, 8))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert anchor(postgres_url, KEY) is not None
    tally = Tally()
    assert list(PostgresArchive(postgres_url).verify(KEY, None, None, tally)) == [] and tally.records == 640
    assert [w.head.seq for w in writers] == [320, 320]
    merged = [orjson.loads(b)["eventTime"] for b in PostgresArchive(postgres_url).query(AuditQuery())]
    assert len(merged) == 640 and merged == sorted(merged)
    for writer in writers:
        writer.close()


def test_a_zombie_writer_on_the_same_chain_cannot_fork_it(postgres_url: str) -> None:
    live = PostgresChain(postgres_url, KEY, "node-a/1")
    live.append(_rows(1, 2))
    zombie = PostgresChain(postgres_url, KEY, "node-a/1 (copy)", chain_id=live.chain_id)
    live.append(_rows(3, 2))
    with pytest.raises(ChainFencedError):
        zombie.append(_rows(50, 3))
    with pytest.raises(ChainFencedError):
        zombie.append([])  # nor is it ready
    assert live.append(_rows(5, 1)) == 1  # the chain's writer goes on
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM audit_records").fetchone() or (0,)
    assert count == 5 and _pg_problems(postgres_url) == []
    live.close()
    zombie.close()


def test_a_journaled_record_claimed_by_one_writer_is_skipped_by_every_other(postgres_url: str) -> None:
    a, b = PostgresChain(postgres_url, KEY, "a"), PostgresChain(postgres_url, KEY, "b")
    change = _row(9, journaled=True)
    claims = [0, 0]
    barrier = threading.Barrier(2)

    def run(n: int, writer: PostgresChain) -> None:
        barrier.wait()
        claims[n] = writer.append([change])

    threads = [threading.Thread(target=run, args=(n, w)) for n, w in enumerate((a, b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claims) == [0, 1]
    assert len(list(PostgresArchive(postgres_url).query(AuditQuery()))) == 1
    assert _pg_problems(postgres_url) == []
    a.close()
    b.close()


def test_a_modified_body_is_reported(postgres_url: str, two_chains: tuple[PostgresChain, PostgresChain]) -> None:
    a, _ = two_chains
    _sql(postgres_url, "UPDATE audit_records SET body = body || ' ' WHERE chain_id = %s AND seq = 3", a.chain_id)
    assert _found(_pg_problems(postgres_url)) == [(a.chain_id.hex(), 3, "modified")]


def test_a_deleted_middle_record_is_reported(
    postgres_url: str, two_chains: tuple[PostgresChain, PostgresChain]
) -> None:
    _, b = two_chains
    _sql(postgres_url, "DELETE FROM audit_records WHERE chain_id = %s AND seq = 3", b.chain_id)
    problems = _pg_problems(postgres_url)
    assert (b.chain_id.hex(), 3, "missing") in _found(problems)
    assert {p.chain for p in problems} == {b.chain_id.hex()}


def test_swapped_records_are_reported_reordered(
    postgres_url: str, two_chains: tuple[PostgresChain, PostgresChain]
) -> None:
    a, _ = two_chains
    with psycopg.connect(postgres_url, autocommit=True) as conn, conn.transaction():
        for old, new in ((3, -1), (4, 3), (-1, 4)):
            conn.execute("UPDATE audit_records SET seq = %s WHERE chain_id = %s AND seq = %s", (new, a.chain_id, old))
    kinds = {kind for _, _, kind in _found(_pg_problems(postgres_url))}
    assert "reordered" in kinds


def test_a_deleted_tail_is_reported_by_the_head(
    postgres_url: str, two_chains: tuple[PostgresChain, PostgresChain]
) -> None:
    a, _ = two_chains
    _sql(postgres_url, "DELETE FROM audit_records WHERE chain_id = %s AND seq > 3", a.chain_id)
    assert (a.chain_id.hex(), 4, "truncated") in _found(_pg_problems(postgres_url))


def test_a_tail_cut_back_to_an_older_genuine_head_is_caught_by_the_anchor(
    postgres_url: str, two_chains: tuple[PostgresChain, PostgresChain]
) -> None:
    a, _ = two_chains
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        old = conn.execute(
            "SELECT head_seq, head_hash, head_mac FROM audit_chains WHERE chain_id = %s", (a.chain_id,)
        ).fetchone()
    a.append(_rows(6, 4))
    assert anchor(postgres_url, KEY) is not None
    assert old is not None
    # What a DBA can do without the audit key: drop records 6-9 and put back the head genuinely MACed at 5.
    with psycopg.connect(postgres_url, autocommit=True) as conn, conn.transaction():
        conn.execute("DELETE FROM audit_records WHERE chain_id = %s AND seq > 5", (a.chain_id,))
        conn.execute(
            "UPDATE audit_chains SET head_seq = %s, head_hash = %s, head_mac = %s WHERE chain_id = %s",
            (*old, a.chain_id),
        )
    problems = _pg_problems(postgres_url)
    assert _found(problems) == [(a.chain_id.hex(), 6, "truncated")]
    assert "anchor 2 vouches" in str(problems[0])


def test_a_corrupt_head_mac_is_reported(postgres_url: str, two_chains: tuple[PostgresChain, PostgresChain]) -> None:
    _, b = two_chains
    _sql(postgres_url, "UPDATE audit_chains SET head_mac = %s WHERE chain_id = %s", bytes(32), b.chain_id)
    assert _found(_pg_problems(postgres_url)) == [(b.chain_id.hex(), 5, "head")]


def test_a_chain_deleted_whole_is_reported_missing(
    postgres_url: str, two_chains: tuple[PostgresChain, PostgresChain]
) -> None:
    a, _ = two_chains
    _sql(postgres_url, "DELETE FROM audit_chains WHERE chain_id = %s", a.chain_id)
    assert _found(_pg_problems(postgres_url)) == [(a.chain_id.hex(), None, "missing"), (a.chain_id.hex(), None, "head")]
    _sql(postgres_url, "DELETE FROM audit_records WHERE chain_id = %s", a.chain_id)
    assert _found(_pg_problems(postgres_url)) == [(a.chain_id.hex(), None, "missing")]


def test_an_edited_anchor_is_reported(postgres_url: str, two_chains: tuple[PostgresChain, PostgresChain]) -> None:
    _sql(postgres_url, "UPDATE audit_anchors SET heads = substring(heads from 57) WHERE seq = 1")
    problems = _pg_problems(postgres_url)
    assert [(p.kind, str(p)) for p in problems] == [
        ("modified", "modified: anchor 1: its hash does not match its contents")
    ]


def test_verify_reports_dropped_tables_and_never_raises(
    postgres_url: str, two_chains: tuple[PostgresChain, PostgresChain]
) -> None:
    _sql(postgres_url, "ALTER TABLE audit_records DROP COLUMN hash")
    assert [p.kind for p in _pg_problems(postgres_url)] == ["database"]
    _sql(postgres_url, "DROP TABLE audit_records, audit_schema")
    assert [p.kind for p in _pg_problems(postgres_url)] == ["database"]


def test_an_anchor_with_nothing_moved_adds_nothing(postgres_url: str) -> None:
    writer = PostgresChain(postgres_url, KEY, "a")
    assert anchor(postgres_url, KEY) is None  # no chain has a record
    writer.append(_rows(1, 2))
    first = anchor(postgres_url, KEY)
    assert first is not None and first.seq == 1
    assert anchor(postgres_url, KEY) is None
    writer.append(_rows(3, 1))
    second = anchor(postgres_url, KEY)
    assert second is not None and second.seq == 2
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM audit_anchors").fetchone() == (2,)
    writer.close()


def test_a_second_leader_anchors_nothing_while_the_first_holds_the_lock(postgres_url: str) -> None:
    writer = PostgresChain(postgres_url, KEY, "a")
    writer.append(_rows(1, 2))
    with psycopg.connect(postgres_url, autocommit=True) as leader, leader.transaction():
        leader.execute("SELECT pg_advisory_xact_lock(%s)", (0x7472_656E_0012,))
        assert anchor(postgres_url, KEY) is None  # did not wait
    assert anchor(postgres_url, KEY) is not None
    writer.close()


def test_several_chains_need_one_named_for_a_snapshot(
    postgres_url: str, two_chains: tuple[PostgresChain, PostgresChain]
) -> None:
    a, b = two_chains
    archive = PostgresArchive(postgres_url)
    with pytest.raises(ValueError, match="several chains"), archive.snapshot():
        pass
    assert archive.chains() == [a.chain_id, b.chain_id]
    with archive.snapshot(b.chain_id) as view:
        assert [r[0] for r in view.records_after(3)] == [4, 5]


_WRITER = """
import sys
from datetime import UTC, datetime
from tests.unit.audit.helpers import event
from trent.audit import cloudtrail as ct
from trent.audit.postgres import PostgresChain
from trent.audit.rows import row_of

chain = PostgresChain(sys.argv[1], bytes.fromhex(sys.argv[2]), "crash")
print(chain.chain_id.hex(), flush=True)
n = 0
while True:
    rows = [row_of(event(n + i, datetime.fromtimestamp(n + i, UTC))) for i in range(8)]
    chain.append(rows)
    n += 8
    print(chain.head.seq, flush=True)  # acknowledged: the commit returned
"""


def test_every_acknowledged_record_survives_a_kill_9_of_its_writer(postgres_url: str) -> None:
    source = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source / "src"), str(source)])}
    acknowledged = 0
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, postgres_url, KEY.hex()], stdout=subprocess.PIPE, text=True, env=env
    ) as writer:
        assert writer.stdout is not None
        chain_id = bytes.fromhex(writer.stdout.readline())
        deadline = time.monotonic() + 30
        while acknowledged < 800 and time.monotonic() < deadline:
            line = writer.stdout.readline()
            if not line:
                break
            acknowledged = int(line)
        writer.send_signal(signal.SIGKILL)
    assert acknowledged >= 800, "the writer did not get going"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        (stored,) = conn.execute("SELECT max(seq) FROM audit_records WHERE chain_id = %s", (chain_id,)).fetchone() or (
            0,
        )
    assert stored >= acknowledged
    assert _pg_problems(postgres_url) == []  # whatever committed last, head and records together


def test_anchors_removed_after_a_checkpoint_are_reported(postgres_url: str) -> None:
    trail = os.urandom(16)
    archive = PostgresArchive(postgres_url)
    assert archive.facts() == ChainFacts(False)
    assert archive.name(trail) == trail and archive.name(os.urandom(16)) == trail  # named once
    writer = PostgresChain(postgres_url, KEY, "a")
    writer.append(_rows(1, 2))
    assert anchor(postgres_url, KEY) is not None
    writer.append(_rows(3, 2))
    second = anchor(postgres_url, KEY)
    assert second is not None and archive.facts() == ChainFacts(True, trail, None, 2, None)
    checkpoint = seal(CHECKPOINT, KEY, trail, second)
    assert list(archive.verify(KEY, trail, checkpoint, Tally())) == []
    _sql(postgres_url, "DELETE FROM audit_anchors WHERE seq = 2")
    _sql(postgres_url, "DELETE FROM audit_anchored")
    assert [p.kind for p in archive.verify(KEY, trail, checkpoint, Tally())] == ["truncated"]
    assert [p.kind for p in archive.verify(KEY, os.urandom(16), None, Tally())] == ["replaced"]
    writer.close()


def test_readers_have_no_idle_timeout_and_writers_do(postgres_url: str) -> None:
    """A verify or an export reads one snapshot at its consumer's pace; a writer frozen in a transaction must
    lose its locks."""
    with (
        contextlib.closing(connect(postgres_url, reader=True)) as reader,
        contextlib.closing(connect(postgres_url)) as writer,
    ):
        assert reader.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("0",)
        assert writer.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("5s",)
        for conn in (reader, writer):  # connecting is bounded too (psycopg's own wait is 130 s)
            assert "connect_timeout=5" in conn.info.dsn


def test_a_writer_whose_connection_dies_finishes_the_append_on_a_new_one(postgres_url: str) -> None:
    writer = PostgresChain(postgres_url, KEY, "a")
    writer.append(_rows(1, 2))
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    assert writer.append(_rows(3, 2)) == 2  # a server restart or failover: the append is made, once
    assert writer.append(_rows(5, 2)) == 2
    assert writer.head.seq == 6 and _pg_problems(postgres_url) == []
    writer.close()


def test_a_writer_whose_database_is_gone_fails_closed(postgres_server: str, postgres_url: str) -> None:
    writer = PostgresChain(postgres_url, KEY, "a")
    writer.append(_rows(1, 2))
    name = psycopg.conninfo.conninfo_to_dict(postgres_url)["dbname"]
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    try:
        with pytest.raises(psycopg.OperationalError):
            writer.append(_rows(3, 2))  # its requests get an error
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert writer.append(_rows(5, 2)) == 2  # from the head that is stored
    assert writer.head.seq == 4 and _pg_problems(postgres_url) == []
    writer.close()


def test_an_anchor_job_on_every_node_anchors_each_move_once(postgres_url: str) -> None:
    made: list[int] = []
    jobs = [AnchorJob(postgres_url, KEY, 0.02, lambda p: made.append(p.seq)) for _ in range(2)]
    writer = PostgresChain(postgres_url, KEY, "a")
    for job in jobs:
        job.start()
    writer.append(_rows(1, 2))
    deadline = time.monotonic() + 10
    while not made and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # a few more rounds of both jobs, with nothing moved
    for job in jobs:
        job.stop()
    assert made == [1]
    assert _pg_problems(postgres_url) == []
    writer.close()


def test_each_chain_exports_into_a_directory_of_its_own_and_prunes_provably(
    postgres_url: str, tmp_path: Path, two_chains: tuple[PostgresChain, PostgresChain]
) -> None:
    archive = PostgresArchive(postgres_url)
    signer = ct.new_signing_key()
    for chain_id in archive.chains():
        out = tmp_path / chain_id.hex()
        out.mkdir()
        result, end = export(archive, out, signer, KEY, chain_id, "111122223333", None)
        assert result.records == 5
        tally = ExportTally()
        assert list(verify_export(out, None, tally)) == [] and tally.chain_id == chain_id.hex()
        assert prune(archive, end.last, KEY, chain_id) == 5
    a, b = two_chains
    a.append(_rows(6, 2))  # the writers go on after the cut
    tally = Tally()
    assert _pg_problems(postgres_url) == []
    assert list(archive.verify(KEY, None, None, tally)) == [] and tally.records == 2
    with archive.snapshot(a.chain_id) as view:
        assert [r[0] for r in view.records_after(5)] == [6, 7]


def test_verify_streams_a_chain_longer_than_a_page_and_locates_damage_in_it(postgres_url: str) -> None:
    writer = PostgresChain(postgres_url, KEY, "a")
    for first in range(1, 5001, 500):
        writer.append(_rows(first, 500))
    assert anchor(postgres_url, KEY) is not None
    tally = Tally()
    assert list(PostgresArchive(postgres_url).verify(KEY, None, None, tally)) == []
    assert (tally.records, tally.first, tally.last.seq) == (5000, 1, 5000)
    _sql(postgres_url, "UPDATE audit_records SET body = body || ' ' WHERE seq = 4500")
    assert _found(_pg_problems(postgres_url)) == [(writer.chain_id.hex(), 4500, "modified")]
    writer.close()
