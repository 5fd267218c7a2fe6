"""Crash trials on PostgreSQL (issue 12, point 6): two nodes (2 workers each) on one database, a mixed write
load against each (CreateKey, CreateAlias, CreateGrant, TagResource, PutKeyPolicy, Encrypt; and `trent admin
create-access-key` one after the other), then kill -9 of a node, or `pg_ctl stop -m immediate` of PostgreSQL
(fsync and synchronous_commit on) for 1-2 s, at random moments. Afterwards: every write answered 200 is in
the store and every answer 200 has its audit record; no change in the store lacks its record; no event id is
chained twice; acknowledged ciphertexts decrypt on the other node; `trent audit verify` passes; while
PostgreSQL was down nothing succeeded and nothing hung.

    PYTHONPATH=src .venv/bin/python benchmarks/crash_trials_pg.py [--node 20] [--postgres 5] [--out [FILE]]

Run it alone on the machine. Results: benchmarks/results/crash_trials_postgresql.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.crash, tests.postgres

from tests import crash_pg
from tests.postgres import Cluster, fresh_database

RESULTS = Path(__file__).parent / "results" / "crash_trials_postgresql.md"


def _counts(found: dict[str, list[str]]) -> str:
    return " / ".join(str(len(v)) for v in found.values())


def _report(name: str, o: crash_pg.Outcome, took: float) -> str:
    unrecorded = {kind: len(ids) for kind, ids in o.account.unrecorded.items()}
    line = (
        f"{name}: answered {dict(o.answered)}; acknowledged {o.acked}; acknowledged and missing "
        f"{ {k: len(v) for k, v in o.missing.items()} }; in the store {o.account.changes}; without their record "
        f"{unrecorded}; event ids chained twice {o.account.chained_twice}; records {o.account.records}; "
        f"ciphertexts failing on the other node {len(o.undecrypted)} of {o.decrypted}; access keys refused "
        f"{len(o.access_keys_refused)}; chain verifies: {o.verified}"
    )
    if o.kills:
        back = max(k.ready - k.killed for k in o.kills)
        line += f"; the other node's 500s/connection errors meanwhile {o.survivor_failures}; back after <= {back:.1f} s"
    if o.outages:
        back = max(u.ready - u.up for u in o.outages)
        line += (
            f"; while down: answered {dict(o.answered_while_down)}, 200s {len(o.acked_while_down)}, slowest answer "
            f"{o.slowest_while_down:.2f} s; ready again <= {back:.1f} s after start"
        )
    print(line + f" ({took:.0f} s)")
    for problem in [*o.acked_while_down, *o.undecrypted[:5], *o.access_keys_refused[:5]]:
        print(f"  {problem}")
    for kind, ids in o.missing.items():
        for item in ids[:10]:
            print(f"  missing {kind}: {item}")
    if not o.verified:
        print("  " + o.verify_output.replace("\n", "\n  "))
    return line


def _row(name: str, o: crash_pg.Outcome) -> str:
    down = (
        f"{dict(o.answered_while_down)}; 200s: **{len(o.acked_while_down)}**; slowest {o.slowest_while_down:.2f} s"
        if o.outages
        else "n/a"
    )
    survivor = str(o.survivor_failures) if o.kills else "n/a"
    return (
        f"| {name} | {o.answered.get('200', 0):,} × 200; {o.answered.get('500', 0):,} × 500; "
        f"{o.answered.get('connection', 0):,} connection | {' / '.join(str(v) for v in o.acked.values())} | "
        f"**{_counts(o.missing)}** | **{_counts(o.account.unrecorded)}** | **{o.account.chained_twice}** | "
        f"{o.decrypted - len(o.undecrypted)} of {o.decrypted} | {survivor} | {down} | "
        f"{'intact' if o.verified else 'NOT intact'} |"
    )


COLUMNS = (
    "trials",
    "answered",
    "acknowledged (keys / aliases / grants / tags / policies / access keys / ciphertexts)",
    "acknowledged and missing (keys / aliases / grants / tags / policies / access keys / audit records)",
    "in the store without their record (keys / aliases / grants / tags / policies)",
    "event ids chained twice",
    "ciphertexts decrypting on the other node (sample)",
    "the other node's 500s and connection errors while one was down",
    "requests sent while PostgreSQL was down",
    "`trent audit verify`",
)
HEADER = """# Crash trials on PostgreSQL (issue 12, point 6)

`benchmarks/crash_trials_pg.py --node {node} --postgres {postgres}`: two nodes (2 workers each) on one
PostgreSQL 15 database (fsync on, synchronous_commit on), each under a load of 4 threads (CreateKey,
CreateAlias, CreateGrant, TagResource, PutKeyPolicy, Encrypt) and one `trent admin create-access-key` after the
other. Each trial comes 0.3-2.0 s after the previous one recovered: kill -9 of a node's process group then its
restart, or `pg_ctl stop -m immediate`, 1-2 s down, `pg_ctl start`; then both nodes' `/readyz` is awaited.

{table_head}
"""


def _head() -> str:
    return "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", type=int, default=20, help="kill -9 trials of a node")
    parser.add_argument("--postgres", type=int, default=5, help="immediate shutdowns of PostgreSQL")
    parser.add_argument("--sample", type=int, default=200, help="acknowledged ciphertexts to decrypt")
    parser.add_argument("--out", nargs="?", const=RESULTS, type=Path, help=f"write a table (default {RESULTS})")
    args = parser.parse_args()
    rows = []
    cluster = Cluster(fsync=True).init()
    try:
        cluster.start()
        for name, kinds in (
            (f"node kill -9 ×{args.node}", ["node"] * args.node),
            (f"PostgreSQL immediate shutdown ×{args.postgres}", ["postgres"] * args.postgres),
        ):
            if not kinds:
                continue
            with tempfile.TemporaryDirectory() as tmp, fresh_database(cluster.conninfo) as conninfo:
                started = time.monotonic()
                outcome = crash_pg.trials(cluster, conninfo, Path(tmp), kinds, seed=len(kinds), sample=args.sample)
                _report(name, outcome, time.monotonic() - started)
                rows.append(_row(name, outcome))
    finally:
        cluster.stop()
        cluster.remove()
    if args.out is not None:
        args.out.write_text(
            HEADER.format(node=args.node, postgres=args.postgres, table_head=_head()) + "\n".join(rows) + "\n"
        )


if __name__ == "__main__":
    main()
