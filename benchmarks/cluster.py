#!/usr/bin/env python3
"""Trent on PostgreSQL with 1, 2, 3 nodes against one node on SQLite, the same load in one run; Markdown out.

    python benchmarks/cluster.py --database postgresql://postgres@127.0.0.1:5432/postgres [--nodes 1,2,3]
                                 [--ops encrypt,decrypt,...] [--concurrency 16,64] [--duration 8] [--rounds 2]
                                 [--workers 1] [--per-node] [--out benchmarks/results/cluster.md]

Each configuration starts its nodes (one `trent serve` each, --workers per node, all on one fresh database
created in the server `--database` names, sharing one root key file), spreads the load over them (one
kms_load.py per node, concurrency / nodes each, at once; with --per-node the whole concurrency each, as when
nodes are added together with their clients), and reads: req/s (sum), p50/p99 (worst node),
CPU µs per request in the nodes and in PostgreSQL (every process of the PostgreSQL server, from /proc, so
run it against a server on this machine), and store statements (round trips) per request from the nodes'
/metrics. The SQLite row is one node in its default configuration.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import secrets
import statistics
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from compare import DEFAULT_LOAD, Server, _number, drive, start_trent  # the script's directory is on sys.path

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def _tree(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += _tree(int(child))
    return found


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _metric(endpoint: str, name: str) -> float:
    assert endpoint.startswith("http")
    text = urllib.request.urlopen(f"{endpoint}/metrics", timeout=10).read().decode()  # noqa: S310 (http only)
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if re.match(rf"{name}(\{{| )", line))


def _fresh_database(server: str) -> str:
    name = "trent_bench_" + secrets.token_hex(4)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return re.sub(r"/[^/?]*(\?|$)", rf"/{name}\1", server, count=1)


def _drop_database(server: str, url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_config(
    nodes: list[Server], op: str, concurrency: int, duration: float, load: Path, *, per_node_level: bool = False
) -> dict[str, float] | None:
    per_node = concurrency if per_node_level else max(1, concurrency // len(nodes))
    statements0 = sum(_metric(n.endpoint, "trent_store_round_trips_total") for n in nodes)
    requests0 = sum(_metric(n.endpoint, "trent_requests_total") for n in nodes)
    node_pids = [p for n in nodes for p in _tree(n.process.pid)]
    pg_pids = _postgres_pids()
    cpu0, pg0 = _cpu_seconds(node_pids), _cpu_seconds(pg_pids)
    with ThreadPoolExecutor(len(nodes)) as pool:
        results = list(pool.map(lambda n: drive(load, n, op, duration, per_node), nodes))
    cpu1, pg1 = _cpu_seconds(node_pids), _cpu_seconds(pg_pids + [p for p in _postgres_pids() if p not in pg_pids])
    if any(r is None for r in results):
        return None
    ok = sum(_number(r, "ok") for r in results if r)
    statements = sum(_metric(n.endpoint, "trent_store_round_trips_total") for n in nodes) - statements0
    requests = sum(_metric(n.endpoint, "trent_requests_total") for n in nodes) - requests0
    # CPU over the whole run (warm-up included) per request of the whole run.
    return {
        "rps": sum(_number(r, "req_s") for r in results if r),
        "p50": max(_number(r, "p50_ms") for r in results if r),
        "p99": max(_number(r, "p99_ms") for r in results if r),
        "node_us": 1e6 * (cpu1 - cpu0) / max(requests, ok, 1),
        "pg_us": 1e6 * (pg1 - pg0) / max(requests, ok, 1),
        "rt": statements / requests if requests else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="a PostgreSQL server URL (a database is made in it)")
    parser.add_argument("--nodes", default="1,2,3")
    parser.add_argument("--ops", default="encrypt,decrypt,sign-ecc-p256,describe-key")
    parser.add_argument("--concurrency", default="16,64")
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="workers per node")
    parser.add_argument("--load", type=Path, default=DEFAULT_LOAD)
    parser.add_argument(
        "--per-node",
        action="store_true",
        help="each node gets the whole --concurrency (nodes added with their clients), instead of a share of it",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cluster.md")
    args = parser.parse_args()
    ops, levels = args.ops.split(","), [int(c) for c in args.concurrency.split(",")]
    configs = ["sqlite-1"] + [f"postgresql-{n}" for n in args.nodes.split(",")]
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    for round_no in range(args.rounds):
        for config in configs if round_no % 2 == 0 else reversed(configs):
            kind, count = config.split("-")
            with tempfile.TemporaryDirectory() as tmp:
                url = _fresh_database(args.database) if kind == "postgresql" else None
                env = {} if url is None else {"TRENT_DATABASE_URL": url, "TRENT_ROOT_KEY_FILE": f"{tmp}/root.key"}
                nodes: list[Server] = []
                try:
                    for n in range(int(count)):
                        nodes.append(start_trent(args.workers, Path(tmp) / f"node{n}", env=env, name=config))
                    for op in ops:
                        for level in levels:
                            result = run_config(
                                nodes, op, level, args.duration, args.load, per_node_level=args.per_node
                            )
                            if result is not None:
                                results.setdefault((config, op, level), []).append(result)
                            shown = "failed" if result is None else f"{result['rps']:.0f} req/s rt {result['rt']:.2f}"
                            print(f"round {round_no + 1} {config:13s} {op:22s} c={level:<3} {shown}", flush=True)
                finally:
                    for node in nodes:
                        node.stop()
                    if url is not None:
                        _drop_database(args.database, url)
    lines = [
        f"# Trent on PostgreSQL, 1-{args.nodes.split(',')[-1]} nodes, against SQLite: {dt.date.today().isoformat()}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (nodes, PostgreSQL and the load generator share "
        f"them), Python {platform.python_version()}. {args.workers} worker(s) per node; load: kms_load.py (wrk), "
        f"{args.duration:g} s per run, "
        + ("concurrency c on each node" if args.per_node else "concurrency c split over the nodes")
        + f", median of {args.rounds} interleaved "
        "rounds. CPU µs per request: all the nodes' processes, and all PostgreSQL's; rt: store round trips "
        "per request, from the nodes' /metrics.",
        "",
        "| operation | c | config | req/s | p50 ms | p99 ms | nodes CPU µs/req | PostgreSQL CPU µs/req | total "
        "| rt/req |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for op in ops:
        for level in levels:
            for config in configs:
                runs = results.get((config, op, level), [])
                if not runs:
                    lines.append(f"| {op} | {level} | {config} | failed | | | | | | |")
                    continue
                m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                lines.append(
                    f"| {op} | {level} | {config} | {m['rps']:,.0f} | {m['p50']:.2f} | {m['p99']:.2f} | "
                    f"{m['node_us']:.0f} | {m['pg_us']:.0f} | {m['node_us'] + m['pg_us']:.0f} | {m['rt']:.2f} |"
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
