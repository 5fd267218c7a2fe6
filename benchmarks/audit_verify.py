"""Peak memory (RSS) and time of `verify` over an audit log of N records, each in a fresh interpreter.

    PYTHONPATH=src:. .venv/bin/python benchmarks/audit_verify.py --records 110000
    PYTHONPATH=src:. .venv/bin/python benchmarks/audit_verify.py --records 110000 --old-src ../main/src

--old-src runs an earlier version's verifier (chain.verify over read_records/read_head) on the same file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.unit.audit.helpers import KEY, build

_NEW = """
import resource, sys, time
from trent.audit.sqlite import open_readonly, verify_log
from trent.audit.verify import Tally
started, tally = time.perf_counter(), Tally()
problems = sum(1 for _ in verify_log(open_readonly(sys.argv[1]), bytes.fromhex(sys.argv[2]), None, None, tally))
print(tally.records, problems, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - started)
"""
_OLD = """
import resource, sqlite3, sys, time
from trent.audit.chain import verify
from trent.audit.sinks import read_head, read_records
started, conn = time.perf_counter(), sqlite3.connect(sys.argv[1])
count, problems = verify(read_records(conn), read_head(conn), bytes.fromhex(sys.argv[2]))
print(count, len(problems), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - started)
"""
_BASELINE = "import resource; import trent.audit.sqlite; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def _run(script: str, src: str, *args: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": src}
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=True
    ).stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=110_000)
    parser.add_argument("--old-src", help="an earlier checkout's src/ to compare with")
    args = parser.parse_args()
    src = str(Path(__file__).resolve().parents[1] / "src")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.db"
        build(path, args.records)
        size = path.stat().st_size / 1e6
        (baseline,) = _run(_BASELINE, src)
        print(
            f"{args.records} records, audit.db {size:.0f} MB; "
            f"interpreter with trent.audit imported: {int(baseline) / 1024:.0f} MB"
        )
        for name, script, where in (("streaming", _NEW, src), ("earlier", _OLD, args.old_src)):
            if where is None:
                continue
            records, problems, rss, seconds = _run(script, where, str(path), KEY.hex())
            print(
                f"{name}: {records} records, {problems} problems, "
                f"peak RSS {int(rss) / 1024:.0f} MB, {float(seconds):.1f} s"
            )


if __name__ == "__main__":
    main()
