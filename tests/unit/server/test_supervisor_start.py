"""supervisor.run at start: the workers build their sites while the audit writer (the sidecar) starts, and
connect and listen only once it is ready, so no request meets a server without its audit writer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import os, signal, sys, time
from pathlib import Path
from trent.server import supervisor
from trent.server.types import Site

where = Path(sys.argv[1])

def sidecar(arg, ready):
    time.sleep(0.5)  # a slow start: the workers are built meanwhile
    (where / "sidecar").write_text(str(time.monotonic()))
    ready()
    signal.sigwait({signal.SIGTERM})

def factory(arg):
    (where / "built").write_text(str(time.monotonic()))

    async def start():
        (where / "started").write_text(str(time.monotonic()))

    return Site(routes={}, start=start)

def announce(endpoint):
    (where / "announced").write_text(str(time.monotonic()))
    os.kill(os.getpid(), signal.SIGTERM)

plan = supervisor.Plan("127.0.0.1", 0, 1, 1024, 60.0, start_method=sys.argv[2])
sys.exit(supervisor.run(plan, factory=factory, factory_arg=None, jobs=lambda: None, announce=announce, sidecar=sidecar))
"""


def test_workers_are_built_while_the_sidecar_starts_and_listen_after_it(tmp_path: Path) -> None:
    # fork: the script's functions are the children's (a spawned child could not import them from `-c`)
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path), "fork"], timeout=60, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    at = {name: float((tmp_path / name).read_text()) for name in ("built", "sidecar", "started", "announced")}
    assert at["built"] < at["sidecar"] < at["started"] < at["announced"]
