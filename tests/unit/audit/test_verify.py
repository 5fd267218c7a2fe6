"""The streaming verifier: every kind of damage to audit.db is one Problem (never an exception), checked
against the checkpoint and chain identity kept outside it; read-only copies verify; memory stays constant."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.audit.helpers import CHAIN, KEY, build, loosen
from trent.audit.anchor import CHECKPOINT, Position, seal
from trent.audit.port import AuditQuery
from trent.audit.sqlite import open_readonly, query, verify_log
from trent.audit.verify import Tally


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    build(path, 10)
    return path


def _head(path: Path) -> Position:
    with sqlite3.connect(path) as conn:
        seq, digest = conn.execute("SELECT seq, hash FROM head").fetchone()
    return Position(seq, bytes(digest))


def _problems(
    path: Path, checkpoint: Position | None = None, chain: bytes | None = CHAIN
) -> list[tuple[int | None, str]]:
    blob = None if checkpoint is None else seal(CHECKPOINT, KEY, CHAIN, checkpoint)
    conn = open_readonly(path)
    try:
        return [(p.seq, p.kind) for p in verify_log(conn, KEY, chain, blob, Tally())]
    finally:
        conn.close()


def _damage(path: Path, *statements: str, args: tuple[object, ...] = ()) -> None:
    loosen(path)
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement, args) if "?" in statement else conn.execute(statement)


def test_an_intact_log_with_its_checkpoint_verifies(db: Path) -> None:
    assert _problems(db, _head(db)) == []
    assert _problems(db, Position(4, _record_hash(db, 4))) == []


def _record_hash(path: Path, seq: int) -> bytes:
    with sqlite3.connect(path) as conn:
        return bytes(conn.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()[0])


DAMAGE = {
    "body retyped as TEXT": ("UPDATE events SET body = CAST(body AS TEXT) WHERE seq = 4", [(4, "damaged")]),
    "body an INTEGER": ("UPDATE events SET body = 7 WHERE seq = 4", [(4, "damaged"), (5, "modified")]),
    "body NULL": ("UPDATE events SET body = NULL WHERE seq = 4", [(4, "damaged"), (5, "modified")]),
    "body not JSON": ("UPDATE events SET body = X'00ff' WHERE seq = 4", [(4, "damaged"), (4, "modified")]),
    "hash TEXT": ("UPDATE events SET hash = 'abc' WHERE seq = 4", [(4, "damaged")]),
    "hash NULL": ("UPDATE events SET hash = NULL WHERE seq = 4", [(4, "damaged")]),
    "hash too short": ("UPDATE events SET hash = substr(hash, 1, 31) WHERE seq = 4", [(4, "damaged")]),
    "seq TEXT": ("UPDATE events SET seq = 'four' WHERE seq = 4", [(None, "damaged"), (4, "missing")]),
    "head deleted": ("DELETE FROM head", [(10, "head")]),
    "head retyped": ("UPDATE head SET mac = 'forged'", [(None, "head")]),
    "events table dropped": ("DROP TABLE events", [(None, "database")]),
    "chain id replaced": ("UPDATE meta SET value = X'00' WHERE name = 'chain_id'", [(None, "replaced")]),
    "base forged": ("INSERT INTO meta VALUES ('base', X'0102')", [(None, "base")]),
}


@pytest.mark.parametrize("statement, expected", DAMAGE.values(), ids=DAMAGE.keys())
def test_each_kind_of_damage_is_one_line_never_a_traceback(
    db: Path, statement: str, expected: list[tuple[int | None, str]]
) -> None:
    _damage(db, statement)
    found = _problems(db)
    assert all(e in found for e in expected), found


def test_a_file_that_is_not_a_database_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    path.write_bytes(os.urandom(8192))
    assert _problems(path) == [(None, "database")]


def test_a_rollback_below_the_checkpoint_is_found(db: Path, tmp_path: Path) -> None:
    older = tmp_path / "older.db"
    shutil.copy(db, older)
    build(db, 5, start=11)  # the log goes on and is checkpointed at record 15...
    checkpoint = _head(db)
    shutil.copy(older, db)  # ...then the whole file is replaced by its older copy: head and all still verify
    assert _problems(db, None) == []
    assert _problems(db, checkpoint) == [(11, "truncated")]


def test_a_rewritten_record_at_the_checkpoint_is_found(db: Path) -> None:
    checkpoint = Position(10, os.urandom(32))
    assert (10, "checkpoint") in _problems(db, checkpoint)


def test_a_record_moved_far_away_is_still_found(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    build(path, 300)
    with sqlite3.connect(path) as conn:  # swap records 3 and 290: beyond the window, both are "modified"
        conn.execute("UPDATE events SET seq = -1 WHERE seq = 3")
        conn.execute("UPDATE events SET seq = 3 WHERE seq = 290")
        conn.execute("UPDATE events SET seq = 290 WHERE seq = -1")
    found = dict(_problems(path))
    assert found[3] in ("modified", "reordered") and found[290] in ("modified", "reordered")


def test_a_read_only_copy_without_wal_files_verifies_and_answers_queries(db: Path, tmp_path: Path) -> None:
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    shutil.copy(db, copy_dir / "audit.db")
    os.chmod(copy_dir / "audit.db", 0o444)
    os.chmod(copy_dir, 0o500)
    try:
        assert _problems(copy_dir / "audit.db", _head(db)) == []
        conn = open_readonly(copy_dir / "audit.db")
        assert len(list(query(conn, AuditQuery(event_name="Encrypt")))) == 10
        conn.close()
        assert sorted(p.name for p in copy_dir.iterdir()) == ["audit.db"]  # nothing was written beside it
    finally:
        os.chmod(copy_dir, 0o700)


_RSS_SCRIPT = """
import resource, sys
from trent.audit.sqlite import open_readonly, verify_log
from trent.audit.verify import Tally
tally = Tally()
problems = sum(1 for _ in verify_log(open_readonly(sys.argv[1]), bytes.fromhex(sys.argv[2]), None, None, tally))
assert problems == 0 and tally.records > 0
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _verify_rss(path: Path) -> int:
    """Peak RSS (KiB) of a fresh interpreter that verifies `path`."""
    done = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(path), KEY.hex()], capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1])


def test_verify_memory_does_not_grow_with_the_log(tmp_path: Path) -> None:
    small, large = tmp_path / "small.db", tmp_path / "large.db"
    build(small, 1_000)
    build(large, 30_000)  # ~25 MB of records: a verifier that held them would grow by that much
    assert _verify_rss(large) - _verify_rss(small) < 8 * 1024
