"""Export in CloudTrail's format, offline verification of it, and pruning that keeps the chain provable."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.unit.audit.helpers import CHAIN, KEY, build
from trent.audit import cloudtrail as ct
from trent.audit.export import ExportError, continuation, digests, export, prune
from trent.audit.exported import ExportTally, verify_export
from trent.audit.sqlite import SqliteArchive, open_readonly, verify_log
from trent.audit.verify import Tally

SIGNER = ct.new_signing_key()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    build(path, 30, minutes_apart=1.0)  # 30 minutes of records: 6 five-minute log files
    return path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "export"
    path.mkdir()
    return path


def _export(db: Path, out: Path, until: float | None = None) -> Any:
    return export(SqliteArchive(db), out, SIGNER, KEY, CHAIN, "111122223333", until)


def _check(out: Path) -> tuple[list[str], ExportTally]:
    tally = ExportTally()
    return [str(p) for p in verify_export(out, None, tally)], tally


def _live(db: Path) -> list[str]:
    conn = open_readonly(db)
    try:
        return [str(p) for p in verify_log(conn, KEY, CHAIN, None, Tally())]
    finally:
        conn.close()


def test_the_export_is_cloudtrail_shaped_and_verifies(db: Path, out: Path) -> None:
    result, _ = _export(db, out)
    assert (result.records, result.files) == (30, 7)  # minutes 1-30: periods 0, 5, ..., 30
    logs = sorted(out.glob("AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/01/*.json.gz"))
    assert len(logs) == 7 and logs[0].name.startswith("111122223333_CloudTrail_us-east-1_20260101T0000Z_")
    records = json.loads(gzip.decompress(logs[0].read_bytes()))["Records"]
    assert [r["requestID"] for r in records] == ["req-1", "req-2", "req-3", "req-4"]
    (digest_path,) = digests(out)
    digest = json.loads(gzip.decompress(digest_path.read_bytes()))
    assert digest["digestSignatureAlgorithm"] == "SHA256withRSA" and digest["previousDigestSignature"] is None
    assert {f["hashAlgorithm"] for f in digest["logFiles"]} == {"SHA-256"}
    problems, tally = _check(out)
    assert problems == [] and tally.records == 30 and tally.last.seq == 30


def test_exporting_twice_adds_nothing_and_a_later_export_chains_to_the_first(db: Path, out: Path) -> None:
    _export(db, out, until=1767225600 + 10 * 60)  # records up to 00:10
    first = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    again, _ = _export(db, out, until=1767225600 + 10 * 60)
    assert again.records == 0 and sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == first
    rest, _ = _export(db, out)
    assert rest.records == 20
    problems, tally = _check(out)
    assert problems == [] and tally.digests == 2 and tally.records == 30


@pytest.mark.parametrize("tamper", ["edit a log file", "delete a log file", "edit a digest", "drop a digest"])
def test_tampering_with_the_export_is_found(db: Path, out: Path, tamper: str) -> None:
    _export(db, out, until=1767225600 + 10 * 60)
    _export(db, out)
    logs = sorted(out.glob("AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"))
    first_digest, second_digest = digests(out)
    if tamper == "edit a log file":
        data = gzip.decompress(logs[1].read_bytes()).replace(b"req-6", b"req-X")
        logs[1].write_bytes(gzip.compress(data))
    elif tamper == "delete a log file":
        logs[1].unlink()
    elif tamper == "edit a digest":
        data = gzip.decompress(second_digest.read_bytes()).replace(b'"trentLastSequence":30', b'"trentLastSequence":29')
        second_digest.write_bytes(gzip.compress(data))
    else:
        first_digest.unlink()
    problems, _ = _check(out)
    assert problems and all("\n" not in p for p in problems)


def test_pruning_deletes_only_exported_records_and_keeps_the_chain_provable(db: Path, out: Path) -> None:
    _, end = _export(db, out, until=1767225600 + 10 * 60)
    build(db, 5, start=31)  # more records meanwhile
    assert prune(SqliteArchive(db), end.last, KEY, CHAIN) == 10
    assert prune(SqliteArchive(db), end.last, KEY, CHAIN) == 0  # pruned already: nothing more
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT min(seq), count(*) FROM events").fetchone() == (11, 25)
    assert _live(db) == []  # the rest verifies from the base
    _export(db, out)  # and the next export continues across the cut
    problems, tally = _check(out)
    assert problems == [] and tally.last.seq == 35


def test_an_export_of_another_log_is_refused_and_nothing_is_pruned(db: Path, out: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    build(other, 12)
    _export(other, out)
    with pytest.raises(ExportError, match="not this log's record 12"):
        _export(db, out)
    with pytest.raises(ExportError):
        prune(SqliteArchive(db), continuation(out, SIGNER.public_key(), CHAIN).last, KEY, CHAIN)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (30,)


def test_a_damaged_log_is_not_exported(db: Path, out: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE events SET body = CAST(body AS BLOB) || X'20' WHERE seq = 7")
    with pytest.raises(ExportError, match="record 7 does not verify"):
        _export(db, out)
    assert digests(out) == []
