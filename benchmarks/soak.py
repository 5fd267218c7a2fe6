#!/usr/bin/env python3
"""Memory over a long run: Trent under steady load, the RSS of each of its processes sampled every 10 s.

    python benchmarks/soak.py [--minutes 10] [--op encrypt] [--concurrency 8] [--out benchmarks/results/soak.md]

The load is kms_load.py with a lower concurrency than the throughput runs (8 instead of 16); the achieved rate
is reported next to the peak measured in the same run. kms_load.py pre-signs its requests and SigV4 accepts a
signature for 5 minutes (Trent, like AWS, refuses older ones), so the soak runs the load in back-to-back
chunks of at most 4 minutes, each freshly signed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import DEFAULT_LOAD, KEY_ID, SECRET, start_trent

CHUNK_SECONDS = 240  # inside SigV4's 5-minute window for pre-signed requests


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def load(load_script: Path, endpoint: str, op: str, concurrency: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [
                sys.executable,
                str(load_script),
                "--endpoint",
                endpoint,
                "--op",
                op,
                "--concurrency",
                str(concurrency),
                "--duration",
                str(seconds),
                "--warmup",
                "2",
                "--access-key",
                KEY_ID,
                "--secret-key",
                SECRET,
                "--json-out",
                out.name,
                "--quiet",
            ],
            check=True,
            capture_output=True,
            timeout=seconds + 300,
        )
        result: dict[str, float] = json.loads(Path(out.name).read_text().splitlines()[-1])
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--op", default="encrypt")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--load", type=Path, default=DEFAULT_LOAD)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "soak.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_trent(2, Path(tmp) / "data")
        try:
            peak = load(args.load, server.endpoint, args.op, 16, 10)["req_s"]
            samples: list[tuple[float, dict[int, int]]] = []
            stop = threading.Event()

            def sample() -> None:
                start = time.monotonic()
                while not stop.is_set():
                    pids = descendants(server.process.pid)
                    samples.append((time.monotonic() - start, {p: rss_kib(p) for p in pids}))
                    stop.wait(10)

            sampler = threading.Thread(target=sample)
            sampler.start()
            chunks: list[dict[str, float]] = []
            left = args.minutes * 60
            while left > 0:
                seconds = min(CHUNK_SECONDS, left)
                chunks.append(load(args.load, server.endpoint, args.op, args.concurrency, seconds))
                left -= seconds
            steady = {
                "req_s": sum(c["req_s"] * c["wall_s"] for c in chunks) / sum(c["wall_s"] for c in chunks),
                "p99_ms": max(c["p99_ms"] for c in chunks),
                "bad": sum(c["bad"] for c in chunks),
            }
            stop.set()
            sampler.join()
        finally:
            server.stop()
    totals = [(t, sum(rss.values())) for t, rss in samples]
    first_minute = [kib for t, kib in totals if 60 <= t < 120] or [totals[0][1]]
    last_minute = [kib for t, kib in totals if t >= totals[-1][0] - 60]
    growth = (max(last_minute) - max(first_minute)) / max(first_minute) * 100
    lines = [
        f"# Soak: {dt.date.today().isoformat()}",
        "",
        f"{args.op} for {args.minutes:g} minutes at concurrency {args.concurrency}: "
        f"{steady['req_s']:,.0f} req/s ({steady['req_s'] / peak:.0%} of the {peak:,.0f} req/s peak at "
        f"concurrency 16 in the same run), worst p99 of the {len(chunks)} chunks "
        f"{steady['p99_ms']:.1f} ms, {steady['bad']:.0f} errors.",
        "",
        f"Total RSS of the server's processes (supervisor, audit writer, 2 workers, "
        f"multiprocessing's resource tracker), MiB: second minute "
        f"{max(first_minute) / 1024:.1f}, last minute {max(last_minute) / 1024:.1f}: **{growth:+.1f}%**.",
        "",
        "| minute | total RSS MiB | per process MiB |",
        "|---:|---:|---|",
    ]
    for t, rss in samples:
        if int(t) % 60 < 10:
            per = ", ".join(f"{kib / 1024:.1f}" for kib in rss.values())
            lines.append(f"| {t / 60:.0f} | {sum(rss.values()) / 1024:.1f} | {per} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
