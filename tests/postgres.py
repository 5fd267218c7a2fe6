"""A PostgreSQL server for the tests: TRENT_TEST_DATABASE_URL if set, else a private throwaway cluster.

The throwaway cluster is started once per test session with initdb and pg_ctl (binaries from
`pg_config --bindir` or /usr/lib/postgresql/*/bin), in a temporary directory, listening only on a unix
socket in that directory, and stopped and removed at the end. initdb refuses to run as root, so as root the
cluster belongs to the `postgres` user. fsync is off: the cluster is thrown away, and no test here kills
the server (the crash trials, tests/crash_pg.py, run a Cluster of their own with fsync on).

Each test gets its own database (CREATE DATABASE, then DROP DATABASE ... WITH (FORCE)): advisory-lock keys
are per database, so tests that run at once do not share the store's locks.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ENV_URL = "TRENT_TEST_DATABASE_URL"
_CLUSTER_USER = "postgres"


class NoPostgresError(RuntimeError):
    pass


def _bindir() -> Path:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += [Path(p) for p in versions]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    raise NoPostgresError(
        f"the PostgreSQL tests need a server: set {ENV_URL} to one (a libpq URL or conninfo whose role may "
        "CREATE DATABASE), or install PostgreSQL's server binaries (initdb, pg_ctl; Debian: postgresql)"
    )


def _free_port() -> int:
    # The cluster listens on no TCP address; the port only names its socket file. A free one avoids two
    # clusters of parallel runs in one directory clashing if TMPDIR is shared.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """A private cluster in a temporary directory, listening only on a unix socket there: made by `init()`,
    then started and stopped as a test needs (`stop("immediate")` is a crash: recovery replays the WAL at the
    next start), removed by `remove()`. As root it belongs to the `postgres` user (initdb refuses root)."""

    def __init__(self, *, fsync: bool = False) -> None:
        self.bindir = _bindir()
        self.fsync = fsync
        self.prefix: list[str] = []
        self.top = Path()
        self.port = 0

    @property
    def data(self) -> Path:
        return self.top / "data"

    @property
    def log(self) -> Path:
        return self.top / "server.log"

    @property
    def conninfo(self) -> str:
        """The conninfo of its maintenance database."""
        return make_conninfo(host=str(self.top), port=self.port, user="postgres", dbname="postgres")

    def init(self) -> Cluster:
        as_root = os.geteuid() == 0
        if as_root:
            try:
                owner = pwd.getpwnam(_CLUSTER_USER)
            except KeyError:
                raise NoPostgresError(
                    f"running as root, and initdb refuses root: the PostgreSQL tests need a {_CLUSTER_USER!r} "
                    f"user to own the throwaway cluster, or {ENV_URL}"
                ) from None
            self.prefix = ["runuser", "-u", _CLUSTER_USER, "--"]
        # Short, in /tmp: a unix socket path must fit in about 100 bytes.
        self.top = Path(tempfile.mkdtemp(prefix="trent-pg-", dir="/tmp"))
        if as_root:
            os.chown(self.top, owner.pw_uid, owner.pw_gid)
        self.port = _free_port()
        initdb = [str(self.bindir / "initdb"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]
        subprocess.run([*self.prefix, *initdb, "-D", str(self.data)], check=True, capture_output=True)
        return self

    def start(self) -> None:
        durable = "-c fsync=on -c synchronous_commit=on" if self.fsync else "-c fsync=off"
        options = f"-p {self.port} -k {self.top} -c listen_addresses='' {durable} -c max_connections=200"
        started = subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log)]
            + ["-o", options, "-w", "-t", "60", "start"],
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            shown = self.log.read_text() if self.log.exists() else ""
            raise NoPostgresError(f"the throwaway PostgreSQL did not start: {started.stderr}{shown}")

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop -m MODE, waiting until the server is gone; "immediate" kills it without a checkpoint."""
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
            capture_output=True,
            check=False,
        )

    def remove(self) -> None:
        if self.top != Path():
            shutil.rmtree(self.top, ignore_errors=True)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Run a private cluster for the duration; yield the conninfo of its maintenance database."""
    cluster = Cluster()
    try:
        cluster.init()
        cluster.start()
        try:
            yield cluster.conninfo
        finally:
            cluster.stop()
    finally:
        cluster.remove()


@contextmanager
def server() -> Iterator[str]:
    """The conninfo of a database on the server the tests use, from which they create their own."""
    given = os.environ.get(ENV_URL)
    if given:
        yield given
        return
    with throwaway_cluster() as conninfo:
        yield conninfo


@contextmanager
def fresh_database(server_conninfo: str) -> Iterator[str]:
    """A new, empty database on the server for the duration; yield its conninfo. Dropped at the end, even
    with connections still open to it."""
    name = "trent_t_" + secrets.token_hex(6)
    with psycopg.connect(server_conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(server_conninfo, dbname=name)
    finally:
        with psycopg.connect(server_conninfo, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_name(conninfo: str) -> str:
    return str(conninfo_to_dict(conninfo)["dbname"])


def url_of(conninfo: str) -> str:
    """The conninfo as a postgresql:// URL (what TRENT_DATABASE_URL takes); a socket directory goes in `host=`."""
    parts = conninfo_to_dict(conninfo)
    host = str(parts.pop("host", ""))
    user = str(parts.pop("user", ""))
    dbname = str(parts.pop("dbname", ""))
    query = {"host": host} if host.startswith("/") else {}
    netloc = ("" if not user else f"{user}@") + ("" if host.startswith("/") else host)
    if "port" in parts:
        port = str(parts.pop("port"))
        if host.startswith("/"):
            query["port"] = port
        else:
            netloc += f":{port}"
    query.update({k: str(v) for k, v in parts.items()})
    tail = "&".join(f"{k}={quote(v, safe='/')}" for k, v in query.items())
    return f"postgresql://{netloc}/{dbname}" + (f"?{tail}" if tail else "")
