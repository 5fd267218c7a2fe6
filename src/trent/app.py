"""Composition root: Settings → store, root of trust, deps, the fronts and their routes, the server.

The only module that names concrete adapters (SQLite, the software root of trust).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from trent.audit import writer
from trent.audit.chain import Problem, verify
from trent.audit.remote import RemoteAuditLog
from trent.audit.sinks import (
    AuditLog,
    AuditQuery,
    ChainWriter,
    SqliteAuditLog,
    query,
    read_head,
    read_records,
    stored_key,
)
from trent.auth.principals import Authenticator
from trent.config import Settings
from trent.kms.ids import AccountId
from trent.kms.principals import root_arn
from trent.kms.sensitive import Sensitive
from trent.ops import keys as key_ops
from trent.ops import principals as principal_ops
from trent.ops import rotation as rotation_ops
from trent.ops.deps import Deps, utc_now
from trent.ops.keyring import Keyring
from trent.protocol.awsjson.front import AwsJsonFront
from trent.rootoftrust.base import RootOfTrust, WrappedMaterial, audit_key_aad
from trent.rootoftrust.software import SoftwareRoot
from trent.server import supervisor
from trent.server.types import Answer, Request, Response, Site, plain
from trent.store.sqlite import SqliteStore

log = logging.getLogger("trent")


def open_deps(settings: Settings, *, create: bool = True, remote_audit: bool = False) -> Deps:
    """Open (on first start: create) the data directory, its root key file and its database. A worker
    (`remote_audit`) records through the audit writer process; anything else writes the audit log itself."""
    data_dir = settings.data_dir
    if not data_dir.exists():
        if not create:
            raise FileNotFoundError(f"data directory {data_dir} does not exist; start `trent serve` once first")
        data_dir.mkdir(parents=True, mode=0o700)
    root = SoftwareRoot.open(settings.root_key_path, create=create)
    store = SqliteStore(settings.database_path)
    audit: AuditLog
    if remote_audit:
        assert settings.audit_socket is not None
        audit = RemoteAuditLog(settings.audit_database_path, settings.audit_socket)
    else:
        audit = SqliteAuditLog(settings.audit_database_path, audit_key(settings, root))
    for path in (settings.database_path, settings.audit_database_path):
        _restrict(path)
    return Deps(store=store, root_of_trust=root, keyring=Keyring(root), audit=audit)


def audit_key(settings: Settings, root: RootOfTrust) -> bytes:
    """The key that authenticates the audit log's head, kept in the audit database wrapped by the root."""
    wrapped = stored_key(
        settings.audit_database_path,
        lambda: root.wrap(Sensitive(os.urandom(32)), audit_key_aad()).to_bytes(),
    )
    return root.unwrap(WrappedMaterial.from_bytes(wrapped), audit_key_aad()).reveal()


def _restrict(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if candidate.exists():
            os.chmod(candidate, 0o600)


@dataclass(frozen=True)
class AdminKey:
    access_key_id: str
    secret: Sensitive | None  # set only when generated now, to be shown once


def ensure_admin_key(settings: Settings, deps: Deps) -> AdminKey | None:
    """On first start, the account's admin access key: the one given in settings, or a generated one."""
    account = AccountId(settings.account_id)
    given_id, given_secret = settings.admin_access_key_id, settings.admin_secret_access_key
    if given_id:
        if deps.store.get_access_key(given_id) is None:
            if not given_secret:
                raise principal_ops.AccessKeyError("TRENT_ADMIN_ACCESS_KEY_ID needs TRENT_ADMIN_SECRET_ACCESS_KEY")
            principal_ops.create_access_key(
                deps, account, root_arn(account), given_id, Sensitive(given_secret.encode())
            )
        return AdminKey(given_id, None)
    if deps.store.list_access_keys(account):
        return None
    record, secret = principal_ops.create_access_key(deps, account, root_arn(account))
    return AdminKey(record.access_key_id, secret)


_HEALTHY = Response(200, (("content-type", "text/plain"),), b"ok\n")


def health(_request: Request) -> Response:
    """GET /healthz: the worker's event loop answers (liveness)."""
    return _HEALTHY


def site_for(front: AwsJsonFront) -> Site:
    """The route table. Each front is a sibling entry; a later one (readiness, metrics) is one more row."""

    def refuse(status: int, request: Request) -> Answer:
        # Aimed at the KMS API: its path, or any path with an operation named. Those get AWS's error shape
        # and an audit record; anything else a plain answer.
        if request.path == "/" or "x-amz-target" in request.headers:
            return front.refuse(status, request)
        return plain(status)

    return Site(
        routes={("POST", "/"): front.prepare, ("GET", "/healthz"): health},
        refuse=refuse,
        start=front.start,
    )


def build_service(settings: Settings) -> Site:
    """Run in each worker process: its own store connection, root of trust and caches."""
    deps = open_deps(settings, create=False, remote_audit=True)
    return site_for(AwsJsonFront(deps, Authenticator(deps.store, deps.root_of_trust), utc_now))


def run_audit_writer(settings: Settings, ready: Callable[[], None]) -> None:
    """The audit writer process: it alone appends the workers' events to the chain."""
    assert settings.audit_socket is not None
    root = SoftwareRoot.open(settings.root_key_path, create=False)
    chain = ChainWriter(settings.audit_database_path, audit_key(settings, root))
    try:
        writer.serve(chain, writer.listen(settings.audit_socket), ready)
    finally:
        chain.close()


def _audit_socket(settings: Settings) -> Path:
    """In the data directory (mode 0700) when the path fits a Unix socket address, else in a private temp dir."""
    candidate = settings.data_dir / "audit.sock"
    if len(str(candidate)) < 100:
        return candidate
    return Path(tempfile.mkdtemp(prefix="trent-")) / "audit.sock"


def run_jobs(deps: Deps) -> None:
    destroyed = key_ops.delete_due_keys(deps)
    if destroyed:
        log.info("destroyed %d key(s) whose deletion window ended", destroyed)
    rotated = rotation_ops.rotate_due_keys(deps)
    if rotated:
        log.info("rotated %d key(s) on their schedule", rotated)


def serve(settings: Settings, announce: Callable[[str, AdminKey | None], None]) -> int:
    deps = open_deps(settings)
    admin = ensure_admin_key(settings, deps)
    settings = replace(settings, audit_socket=_audit_socket(settings))
    return supervisor.run(
        supervisor.Plan(
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            max_body_bytes=settings.max_body_bytes,
            job_interval=settings.job_interval,
            tls_cert=settings.tls_cert,
            tls_key=settings.tls_key,
        ),
        factory=build_service,
        factory_arg=settings,
        sidecar=run_audit_writer,
        jobs=lambda: run_jobs(deps),
        announce=lambda endpoint: announce(endpoint, admin),
    )


@contextlib.contextmanager
def administration(settings: Settings) -> Iterator[Deps]:
    """The data directory opened for `trent admin` (it must exist): every change is seen by a running server."""
    deps = open_deps(settings, create=False)
    try:
        yield deps
    finally:
        deps.store.close()
        deps.audit.close()


def verify_audit(settings: Settings) -> tuple[int, list[Problem]]:
    """Check the whole audit log: every record's hash, the numbering, and the authenticated head."""
    path = settings.audit_database_path
    if not path.exists():
        raise FileNotFoundError(f"no audit log at {path}")
    root = SoftwareRoot.open(settings.root_key_path, create=False)
    key = audit_key(settings, root)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return verify(read_records(conn), read_head(conn), key)
    finally:
        conn.close()


def query_audit(settings: Settings, filters: AuditQuery) -> Iterator[bytes]:
    path = settings.audit_database_path
    if not path.exists():
        raise FileNotFoundError(f"no audit log at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield from query(conn, filters)
    finally:
        conn.close()
