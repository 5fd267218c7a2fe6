"""Start one candidate server, drive it with wrk, print one JSON result line.

Usage: measure.py NAME PORT -- SERVER_COMMAND...
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workload import make_request

CONNECTIONS, THREADS, WARMUP_S, DURATION_S = 16, 2, 2, 10
TICK = os.sysconf("SC_CLK_TCK")


def lua_script() -> str:
    headers, body = make_request()
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body.decode()}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def session_cpu(sid: int) -> dict[int, float]:
    """utime+stime (seconds) of every process in session `sid` (the server and its workers)."""
    out: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid:  # fields[3] is field 6 (session) of proc(5)
            out[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def listeners(port: int) -> int:
    """Number of LISTEN sockets on `port` (one per worker if SO_REUSEPORT is used)."""
    hexport = f":{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for ln in lines if ln.split()[1].endswith(hexport) and ln.split()[3] == "0A")


def wait_ready(port: int, timeout: float = 20.0) -> None:
    headers, body = make_request()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("POST", "/", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200 or b"CiphertextBlob" not in data or not resp.getheader("x-amzn-RequestId"):
                raise SystemExit(f"bad response {resp.status} {resp.getheaders()} {data[:200]!r}")
            return
        except (ConnectionError, OSError):
            time.sleep(0.2)
    raise SystemExit("server did not start")


def wrk(port: int, script: str, seconds: int) -> str:
    cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", script]
    return subprocess.run([*cmd, f"http://127.0.0.1:{port}/"], check=True, capture_output=True, text=True).stdout


def to_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[match[2]]


def main() -> None:
    name, port, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[sys.argv.index("--") + 1 :]
    server = subprocess.Popen(cmd, start_new_session=True)
    try:
        wait_ready(port)
        time.sleep(1.0)  # let every worker finish booting
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as f:
            f.write(lua_script())
            f.flush()
            wrk(port, f.name, WARMUP_S)
            before = session_cpu(server.pid)
            out = wrk(port, f.name, DURATION_S)
            after = session_cpu(server.pid)
        n_listen = listeners(port)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    busy = sorted((after[p] - before.get(p, 0.0) for p in after), reverse=True)
    result = {
        "name": name,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        "p99_ms": to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        "cpu_us_per_req": 1e6 * sum(busy) / requests,
        "cpu_split_s": [round(b, 2) for b in busy if b > 0.05],
        "listeners": n_listen,
        "errors": int(errors.group(1)) if errors else 0,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
