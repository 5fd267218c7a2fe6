#!/usr/bin/env python3
"""Trent against its peers, the same load in the same run, per operation; a Markdown table out.

    python benchmarks/compare.py [--ops encrypt,decrypt,...] [--duration 10] [--rounds 3] [--peers lean,moto]
                                 [--workers 2] [--base REF] [--out benchmarks/results/latest.md]

Peers: `lean` is benchmarks/lean_reference.py, issue 5's ceiling (SigV4 and real crypto, nothing else);
`moto` is moto's server; `pkcs11` is Trent with its root of trust in a fresh SoftHSM2 token (issue 13: within 0.9×
of the software root; unwrapped material is cached, so the token is touched on a cache miss only); `cks` is
Trent as by default with the symmetric operations' key in an AWS_CLOUDHSM custom key store on a SoftHSM2 token
(every Encrypt and Decrypt runs AES-GCM inside the token); `base` is
Trent as of the git revision `--base` (default: the commit before this one), checked out into a temporary
directory and run with the same interpreter: a before/after of a change, measured in the same run.

Each operation is driven by benchmarks/kms_load.py (wrk, concurrency 16 unless --concurrency) against Trent in
its default production configuration (SQLite store, software root of trust, audit on), then against each peer; rounds
alternate the order. Reported: median req/s, p50, p99, server CPU per request, and the ratio to the peer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_LOAD = HERE / "kms_load.py"
OPS = [
    "encrypt",
    "decrypt",
    "generate-data-key",
    "derive-shared-secret-p256",
    "decrypt-rsa-2048",
    "sign-ecc-p256",
    "verify-ecc-p256",
    "get-public-key",
    "describe-key",
]
TARGETS = {  # issue 5: req/s Trent must reach on this machine, concurrency 16
    "encrypt": 11_000,
    "decrypt": 11_000,
    "generate-data-key": 11_000,
    "derive-shared-secret-p256": 7_500,
    "decrypt-rsa-2048": 4_000,
    "sign-ecc-p256": 10_000,
    "verify-ecc-p256": 5_500,
    "get-public-key": 14_000,
    "describe-key": 16_000,
}
KEY_ID_OPS = ("encrypt", "decrypt", "generate-data-key")  # the operations a given symmetric key serves
KEY_ID, SECRET = "AKIABENCHMARKBENCH01", "benchmark-secret-benchmark-secret-0001"


@dataclass
class Server:
    name: str
    endpoint: str
    process: subprocess.Popen[str]
    key_id: str = ""  # the symmetric key the load uses (kms_load.py --key-id), else one it creates

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)


def start_trent(
    workers: int, data_dir: Path, source: Path | None = None, name: str = "trent", env: dict[str, str] | None = None
) -> Server:
    """Trent from this checkout, or (`source`) from another checkout's src/ directory; `env` adds settings."""
    env = {
        **os.environ,
        **({} if source is None else {"PYTHONPATH": str(source)}),
        "TRENT_ADMIN_ACCESS_KEY_ID": KEY_ID,
        "TRENT_ADMIN_SECRET_ACCESS_KEY": SECRET,
        "TRENT_LOG_LEVEL": "warning",
        **(env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "trent", "serve", "--port", "0", "--data-dir", str(data_dir), "--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            return Server(name, found.group(1), process)
    raise RuntimeError("trent did not start")


def start_pkcs11(workers: int, tmp: Path) -> Server:
    """Trent as by default but with a PKCS#11 root of trust: a SoftHSM2 token of its own (Debian's softhsm2)."""
    sys.path.insert(0, str(REPO))
    from tests.softhsm import make_token  # the tests' token set-up: a config, a token, a PIN file

    token = make_token(tmp / "softhsm")
    return start_trent(workers, tmp / "pkcs11-data", name="pkcs11", env=token.server_env())


def start_cks(workers: int, tmp: Path) -> Server:
    """Trent with a custom key store (AWS_CLOUDHSM) on a SoftHSM2 token, connected, and a key in it."""
    import boto3

    sys.path.insert(0, str(REPO))
    from tests.keystores import add_cluster, trust_anchor
    from tests.softhsm import make_token

    token = make_token(tmp / "cks-softhsm", label="kms-store")
    data = tmp / "cks-data"
    server = start_trent(workers, data, name="cks", env=token.env())
    anchor = trust_anchor(tmp / "customerCA.crt")
    add_cluster(data, token, "cluster-234567abcde", anchor, env={"TRENT_ADMIN_ACCESS_KEY_ID": KEY_ID})
    kms = boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    store = kms.create_custom_key_store(
        CustomKeyStoreName="bench",
        CloudHsmClusterId="cluster-234567abcde",
        TrustAnchorCertificate=anchor.read_text(),
        KeyStorePassword=token.pin,
    )["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store)
    for _ in range(100):
        found = kms.describe_custom_key_stores(CustomKeyStoreId=store)["CustomKeyStores"][0]
        if found["ConnectionState"] == "CONNECTED":
            break
        time.sleep(0.1)
    server.key_id = kms.create_key(CustomKeyStoreId=store, Origin="AWS_CLOUDHSM")["KeyMetadata"]["KeyId"]
    return server


def start_moto(port: int) -> Server:
    moto = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    process = subprocess.Popen(
        [moto, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    time.sleep(3)
    return Server("moto", f"http://127.0.0.1:{port}", process)


def drive(load: Path, server: Server, op: str, duration: float, concurrency: int = 16) -> dict[str, float] | None:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        done = subprocess.run(
            [
                sys.executable,
                str(load),
                "--endpoint",
                server.endpoint,
                "--op",
                op,
                "--concurrency",
                str(concurrency),
                "--duration",
                str(duration),
                "--warmup",
                "2",
                "--access-key",
                KEY_ID,
                "--secret-key",
                SECRET,
                "--server-pid",
                str(server.process.pid),
                "--json-out",
                out.name,
                "--quiet",
                *(["--key-id", server.key_id] if server.key_id else []),
            ],
            capture_output=True,
            text=True,
            timeout=duration + 120,
        )
        if done.returncode != 0:
            return None
        lines = Path(out.name).read_text().splitlines()
        result: dict[str, float] = json.loads(lines[-1])
        return result


def _number(result: dict[str, object], *names: str) -> float:
    for name in names:
        value = result.get(name)
        if isinstance(value, (int, float)):
            return float(value)
    return float("nan")


def summarize(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = {
        "rps": ("req_s",),
        "p50": ("p50_ms",),
        "p99": ("p99_ms",),
        "cpu_us": ("server_cpu_us_per_ok",),
        "others": ("others_cpu_pct",),
    }
    out = {}
    for name, aliases in keys.items():
        values = [_number(r, *aliases) for r in runs]
        values = [v for v in values if v == v]
        out[name] = statistics.median(values) if values else float("nan")
    return out


def start_lean(workers: int, port: int, durable: Path | None = None) -> Server:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "lean_reference.py"), "--port", str(port), "--workers", str(workers)]
        + ["--access-key", KEY_ID, "--secret-key", SECRET]
        + ([] if durable is None else ["--durable", str(durable)]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "listening on" in line:
            time.sleep(1)  # the workers bind after the parent prints
            return Server("lean" if durable is None else "lean-durable", f"http://127.0.0.1:{port}", process)
    raise RuntimeError("the lean reference did not start")


def checkout(ref: str, into: Path) -> Path:
    """The tree of `ref` (git archive: no worktree bookkeeping), for the `base` peer; its src/ directory."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], capture_output=True, check=True)
    into.mkdir()
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def _describe(ref: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s", ref], capture_output=True, text=True)
    return done.stdout.strip()[:80]


def _ratio(mine: float, theirs: float) -> str:
    return "—" if mine != mine or theirs != theirs or not theirs else f"{mine / theirs:,.2f}×"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--peers",
        default="lean,lean-durable,moto",
        help="comma-separated: lean, lean-durable, moto, pkcs11, cks, base, or none",
    )
    parser.add_argument("--base", default="HEAD~1", help="the git revision the `base` peer runs")
    parser.add_argument("--load", type=Path, default=DEFAULT_LOAD)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.md")
    args = parser.parse_args()
    ops = args.ops.split(",")
    peers = [p for p in args.peers.split(",") if p in ("lean", "lean-durable", "moto", "pkcs11", "cks", "base")]
    with tempfile.TemporaryDirectory() as tmp:
        servers = [start_trent(args.workers, Path(tmp) / "data")]
        if "base" in peers:
            source = checkout(args.base, Path(tmp) / "base")
            servers.append(start_trent(args.workers, Path(tmp) / "base-data", source, "base"))
        if "pkcs11" in peers:
            servers.append(start_pkcs11(args.workers, Path(tmp)))
        if "cks" in peers:
            servers.append(start_cks(args.workers, Path(tmp)))
        if "lean" in peers:
            servers.append(start_lean(args.workers, int(os.environ.get("LEAN_PORT", "5124"))))
        if "lean-durable" in peers:
            journal = Path(tmp) / "lean-journal"
            journal.mkdir()
            servers.append(start_lean(args.workers, int(os.environ.get("LEAN_DURABLE_PORT", "5125")), journal))
        if "moto" in peers:
            servers.append(start_moto(int(os.environ.get("MOTO_PORT", "5123"))))
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        try:
            for round_no in range(args.rounds):
                for op in ops:
                    for server in servers if round_no % 2 == 0 else reversed(servers):
                        if server.key_id and op not in KEY_ID_OPS:
                            continue  # its key serves the symmetric operations only
                        result = drive(args.load, server, op, args.duration, args.concurrency)
                        if result is not None:
                            results.setdefault((server.name, op), []).append(result)
                        print(
                            f"round {round_no + 1} {server.name:12s} {op:28s} "
                            f"{'unsupported/failed' if result is None else round(_number(result, 'req_s'))}",
                            flush=True,
                        )
        finally:
            for server in servers:
                server.stop()
    header = "| operation | target | Trent req/s | p50 ms | p99 ms | CPU µs/req |"
    rule = "|---|---:|---:|---:|---:|---:|"
    for peer in peers:
        header += f" {peer} req/s | Trent / {peer} |"
        rule += "---:|---:|"
    lines = [
        f"# Trent vs {', '.join(peers) or 'nobody'}: {dt.date.today().isoformat()}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        f"Trent with {args.workers} workers, default configuration (SQLite, software root of trust, audit on). "
        f"Load: kms_load.py (wrk), concurrency {args.concurrency}, {args.duration:g} s per run after 2 s of warm-up, "
        f"median of {args.rounds} interleaved rounds. CPU is the server's, per request. "
        "lean = benchmarks/lean_reference.py with as many workers (SigV4 and real crypto only: issue 5's "
        "ceiling, to be reached within 0.7×); lean-durable = the same with each request's record written and "
        "fdatasync'd before its response (group commit), the floor under audit-before-response; moto = moto_server"
        + ("; pkcs11 = Trent with a PKCS#11 root of trust in a SoftHSM2 token" if "pkcs11" in peers else "")
        + ("; cks = Trent with the key in a custom key store on a SoftHSM2 token" if "cks" in peers else "")
        + (f"; base = Trent at {args.base} ({_describe(args.base)})" if "base" in peers else "")
        + ".",
        "",
        header,
        rule,
    ]
    for op in ops:
        mine = summarize(results.get(("trent", op), []))
        row = (
            f"| {op} | {TARGETS.get(op, 0):,} | {mine['rps']:,.0f} | {mine['p50']:.2f} | {mine['p99']:.2f} | "
            f"{mine['cpu_us']:.0f} |"
        )
        for peer in peers:
            if (peer, op) not in results:
                row += " unsupported | — |"
                continue
            theirs = summarize(results[(peer, op)])
            row += f" {theirs['rps']:,.0f} | {_ratio(mine['rps'], theirs['rps'])} |"
        lines.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
