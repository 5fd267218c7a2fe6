"""How long `trent serve --dev --workers 1` takes from exec to its first successful boto3 request.

Each run: a boto3 client made beforehand (its own start-up is the test suite's, not the server's), then the
clock starts, `python -m trent serve --dev --port P --workers 1` is exec'd, and ListKeys is retried (connection
refused while the server starts) until it succeeds; the clock stops there. The server is then stopped. Prints
each run and the median; `--runs N` (default 10), `--markdown FILE` writes the result table.

Trent's bytecode is compiled first (compileall, into its __pycache__ directories), as installing a package
does: with PYTHONDONTWRITEBYTECODE set, or sources newer than their bytecode, every start would compile
each module again (~140 ms here), which is no start an installed server makes.

    PYTHONPATH=src python benchmarks/dev_start.py --runs 10 --markdown benchmarks/results/dev_start.md
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

import trent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def one_run() -> float:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    kms = boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, connect_timeout=1, read_timeout=10),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")}
    command = [sys.executable, "-m", "trent", "serve", "--dev", "--port", str(port), "--workers", "1"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    try:
        while True:
            try:
                kms.list_keys()
                return time.perf_counter() - started
            except EndpointConnectionError:
                if process.poll() is not None:
                    raise RuntimeError("trent serve --dev exited") from None
                time.sleep(0.005)
            if time.perf_counter() - started > 60:
                raise RuntimeError("no answer within 60 s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    compileall.compile_dir(Path(trent.__file__).parent, quiet=1)  # as `pip install` does
    one_run()  # warm the page cache: the first exec after a build reads every module from disk
    times = []
    for n in range(args.runs):
        elapsed = one_run()
        times.append(elapsed)
        print(f"run {n + 1}: {elapsed * 1000:.0f} ms", flush=True)
    median = statistics.median(times)
    low, high = min(times) * 1000, max(times) * 1000
    print(f"median {median * 1000:.0f} ms over {args.runs} runs (min {low:.0f}, max {high:.0f})")
    if args.markdown is not None:
        rows = "\n".join(f"| {n + 1} | {t * 1000:.0f} |" for n, t in enumerate(times))
        args.markdown.write_text(
            "# `trent serve --dev` start time\n\n"
            "From exec of `python -m trent serve --dev --port P --workers 1` to the first successful boto3 ListKeys\n"
            f"(benchmarks/dev_start.py, {args.runs} runs after one warm-up; {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}).\n\n"
            f"**Median: {median * 1000:.0f} ms** (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}; "
            "target < 500 ms).\n\n| run | ms |\n|---|---|\n" + rows + "\n"
        )


if __name__ == "__main__":
    main()
