"""Crash trials (decision 0009): kill -9 the whole server, the audit writer, or a worker at random moments of a
mixed write load (CreateKey, CreateAlias, CreateGrant, TagResource, PutKeyPolicy, and Encrypt), then count
the changes in the store without their record in the audit chain and the event ids chained twice. As root,
also a full disk: the data directory on a small tmpfs, filled up under the load, then freed.

    PYTHONPATH=src .venv/bin/python benchmarks/crash_trials.py [--server 20] [--writer 10] [--worker 10]

Run it alone on the machine (it takes a few minutes). Results: benchmarks/results/crash_trials.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.crash, tests.support

from tests import crash
from tests.support import TrentServer, trent_command

WORKERS = 2
Outcome = tuple[Counter[str], crash.Account, bool, int]  # answers, the account, chain verified, Encrypt 500s


def _trials(data_dir: Path, kinds: list[str], seed: int) -> Outcome:
    rng = random.Random(seed)
    server = TrentServer(data_dir, workers=WORKERS, port=crash.free_port()).start()
    try:
        with crash.Load(server.endpoint, threads=6, seed=seed) as load:
            for kind in kinds:
                time.sleep(rng.uniform(0.3, 2.0))
                if kind == "server":
                    server.stop(signal.SIGKILL)
                    server.start()
                elif kind == "writer":
                    crash.kill_writer(server)
                else:
                    crash.kill_worker(server, rng)
                crash.restarted_in_full(server, WORKERS)
            time.sleep(1.0)
        crash.drained(data_dir)
    finally:
        server.stop()
    verified = (
        subprocess.run(
            [*trent_command(), "audit", "verify", "--data-dir", str(data_dir)], capture_output=True, timeout=120
        ).returncode
        == 0
    )
    return load.tally.answered, crash.account(data_dir, load.tally), verified, len(load.tally.read_500_request_ids)


def _full_disk(seed: int) -> Outcome | str:
    if os.geteuid() != 0:
        return "skipped: mounting a tmpfs needs root"
    mount = Path(tempfile.mkdtemp(prefix="trent-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], check=True)
    try:
        data_dir = mount / "data"
        server = TrentServer(data_dir, workers=WORKERS).start()
        try:
            with crash.Load(server.endpoint, threads=6, seed=seed) as load:
                time.sleep(1.5)
                filler = mount / "filler"
                with open(filler, "wb") as f, contextlib.suppress(OSError):
                    while True:  # until ENOSPC: every write of the store and of the chain now fails
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                time.sleep(3.0)
                filler.unlink()
                time.sleep(1.5)
            crash.drained(data_dir, timeout=30)
        finally:
            server.stop()
        verified = (
            subprocess.run(
                [*trent_command(), "audit", "verify", "--data-dir", str(data_dir)], capture_output=True, timeout=120
            ).returncode
            == 0
        )
        return load.tally.answered, crash.account(data_dir, load.tally), verified, len(load.tally.read_500_request_ids)
    finally:
        for _ in range(20):  # the killed server's last processes may still be closing their files
            if subprocess.run(["umount", str(mount)], check=False, capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        shutil.rmtree(mount, ignore_errors=True)


def _report(name: str, outcome: Outcome | str) -> None:
    if isinstance(outcome, str):
        print(f"{name}: {outcome}")
        return
    answered, account, verified, reads_500 = outcome
    unrecorded = {kind: len(ids) for kind, ids in account.unrecorded.items()}
    print(
        f"{name}: answered {dict(answered)}; in the store {account.changes}; without their record {unrecorded}; "
        f"event ids chained twice {account.chained_twice}; records {account.records}; "
        f"Encrypts answered 500: {reads_500}, of which recorded anyway {account.read_500s_recorded}; "
        f"chain verifies: {verified}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", type=int, default=20, help="kill -9 trials of the whole server")
    parser.add_argument("--writer", type=int, default=10, help="kill -9 trials of the audit writer")
    parser.add_argument("--worker", type=int, default=10, help="kill -9 trials of a worker")
    parser.add_argument("--no-full-disk", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, kinds in (
            ("server kill -9", ["server"] * args.server),
            ("writer kill -9", ["writer"] * args.writer),
            ("worker kill -9", ["worker"] * args.worker),
        ):
            if kinds:
                started = time.monotonic()
                _report(f"{name} x{len(kinds)}", _trials(Path(tmp) / name.split()[0], kinds, seed=len(kinds)))
                print(f"  ({time.monotonic() - started:.0f} s)")
    if not args.no_full_disk:
        _report("full disk", _full_disk(seed=1))


if __name__ == "__main__":
    main()
