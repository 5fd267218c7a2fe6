"""Summarise measure.py JSON lines (from stdin or a file) as a Markdown table of medians."""

from __future__ import annotations

import fileinput
import json
from statistics import median
from typing import Any


def main() -> None:
    runs: dict[str, list[dict[str, Any]]] = {}
    with fileinput.input() as lines:
        for line in lines:
            if line.startswith("{"):
                row = json.loads(line)
                runs.setdefault(row["name"], []).append(row)
    print("| candidate | runs | req/s | p50 ms | p99 ms | server CPU µs/req | listeners | worker CPU s | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for name, rows in runs.items():
        med = {k: median(r[k] for r in rows) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")}
        split = sorted(rows, key=lambda r: r["rps"])[len(rows) // 2]["cpu_split_s"]
        print(
            f"| {name} | {len(rows)} | {med['rps']:,.0f} | {med['p50_ms']:.2f} | {med['p99_ms']:.2f} "
            f"| {med['cpu_us_per_req']:.0f} | {min(r['listeners'] for r in rows)} "
            f"| {' / '.join(f'{s:.1f}' for s in split)} | {sum(r['errors'] for r in rows)} |"
        )


if __name__ == "__main__":
    main()
