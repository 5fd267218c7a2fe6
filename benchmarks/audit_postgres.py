"""Durable audit appends on PostgreSQL (audit/postgres.py's PostgresChain): records/s and client CPU per record,
for batches of 1, 32 and 128 rows, with one writer (one chain) and with two writers (two chains) at once.

    PYTHONPATH=src:. .venv/bin/python benchmarks/audit_postgres.py --url "host=127.0.0.1 user=postgres dbname=postgres"

Each writer is a process of its own with its own chain, appending pre-built ~1 KB rows (the canonical JSON of
an Encrypt record) for --seconds; the chaining (SHA-256, the head MAC) and the statement are what is timed.
Client CPU is time.process_time() of the writer processes only (the server shares the machine's cores). The
script makes a database of its own on the server and drops it at the end. Results: the docstring of
docs/decisions/0011-audit-on-postgresql.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import time
from datetime import UTC, datetime

import psycopg
from psycopg.conninfo import make_conninfo
from tests.unit.audit.helpers import event

from trent.audit.postgres import PostgresChain
from trent.audit.rows import row_of


def _writer(url: str, batch: int, seconds: float, start: multiprocessing.synchronize.Barrier, out: object) -> None:
    key = os.urandom(32)
    chain = PostgresChain(url, key, f"bench/{os.getpid()}")
    rows = [row_of(event(n, datetime.fromtimestamp(1_767_225_600 + n, UTC))) for n in range(batch)]
    start.wait()
    cpu, began, count = time.process_time(), time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        chain.append(rows)
        count += batch
    elapsed, used = time.perf_counter() - began, time.process_time() - cpu
    chain.close()
    out.put((count, elapsed, used))  # type: ignore[attr-defined]


def run(url: str, batch: int, writers: int, seconds: float) -> tuple[float, float]:
    start = multiprocessing.Barrier(writers)
    out: multiprocessing.Queue[tuple[int, float, float]] = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_writer, args=(url, batch, seconds, start, out)) for _ in range(writers)]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    records = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results)
    cpu = sum(r[2] for r in results)
    return records / elapsed, cpu / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    name = "trent_bench_" + secrets.token_hex(4)
    with psycopg.connect(args.url, autocommit=True) as admin:
        settings = {s: admin.execute(f"SHOW {s}").fetchone()[0] for s in ("fsync", "synchronous_commit")}  # type: ignore[index]
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(args.url, dbname=name)
    print(f"server settings: {settings}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}")
    print("| chains | batch | records/s | client CPU µs/record |")
    print("|---:|---:|---:|---:|")
    try:
        PostgresChain(url, os.urandom(32), "migrate").close()
        for writers in (1, 2):
            for batch in (1, 32, 128):
                rate, cpu = run(url, batch, writers, args.seconds)
                print(f"| {writers} | {batch} | {rate:,.0f} | {cpu:.1f} |", flush=True)
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
