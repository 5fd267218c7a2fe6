"""`trent serve` and `trent admin`: the deps of a process, the route table, the workers, jobs and admin key."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from trent import logs, metrics
from trent.app import devmode, seeds
from trent.app.roots import check_root, open_root_for
from trent.app.storage import SetupError, open_store, restrict_files
from trent.app.trail import local_audit_log, open_chain, run_audit_writer, trail_name
from trent.audit.port import AuditFormatError, AuditLog
from trent.audit.remote import RemoteAuditLog
from trent.auth.principals import Authenticator
from trent.auth.xks import XksAuthenticator
from trent.buckets import SharedBuckets
from trent.config import DEFAULT_ACCOUNT, Settings
from trent.kms.ids import AccountId
from trent.kms.principals import root_arn
from trent.kms.quotas import quota_named
from trent.kms.sensitive import Sensitive
from trent.ops import keys as key_ops
from trent.ops import materials as material_ops
from trent.ops import principals as principal_ops
from trent.ops import rotation as rotation_ops
from trent.ops.deps import Deps, utc_now
from trent.ops.keyring import Keyring
from trent.ops.reset import SeedHook
from trent.ops.throttling import Throttle
from trent.protocol import probes
from trent.protocol.awsjson.front import AwsJsonFront
from trent.protocol.xks import codec as xks_codec
from trent.protocol.xks.front import XksFront
from trent.server import supervisor
from trent.server.types import Answer, Handler, Request, Site, plain
from trent.xksclient.http_client import HttpXksProxy

log = logging.getLogger("trent")


def open_deps(settings: Settings, *, create: bool = True, remote_audit: bool = False) -> Deps:
    """Open (on first start: create) the data directory, its root key file and its database. A worker
    (`remote_audit`) records through the audit writer process; anything else writes the audit log itself."""
    data_dir = settings.data_dir
    if not data_dir.exists():
        if not create:
            raise SetupError(f"data directory {data_dir} does not exist; start `trent serve` with it once first")
        data_dir.mkdir(parents=True, mode=0o700)
    store = open_store(settings)
    audit: AuditLog
    root = None
    try:
        root = open_root_for(settings, store, create=create)
        # PostgreSQL: before the chain is made, so a node with another root key leaves nothing behind.
        check_root(settings, root, store, write=settings.database_kind == "postgresql")
        if remote_audit:
            assert settings.audit_socket is not None
            audit = RemoteAuditLog(settings.audit_socket)
        else:
            chain = open_chain(settings, root, store)
            # Only now, for a data directory of a version before the check value: the audit log's key opened.
            check_root(settings, root, store, write=True)
            audit = local_audit_log(settings, chain, store)
    except (sqlite3.DatabaseError, AuditFormatError) as exc:
        store.close()
        if root is not None:
            root.close()
        raise SetupError(f"audit log {trail_name(settings)} cannot be opened: {exc}") from None
    except BaseException:
        store.close()
        if root is not None:
            root.close()
        raise
    if settings.postgres_url is None:
        for path in (settings.audit_database_path, settings.database_path):
            restrict_files(path)
    proxies = HttpXksProxy(ca_file=settings.xks_ca)  # external key stores' XKS proxies (decision 0016)
    return Deps(store=store, root_of_trust=root, keyring=Keyring(root), audit=audit, xks_proxy=proxies)


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """Held by `trent serve` for its lifetime (an flock, released by the kernel however the process ends):
    a second server on the same data directory would take over the audit socket and run the same jobs.
    `trent admin` does not take it: it is meant to work while the server runs."""
    data_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    fd = os.open(data_dir / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            raise SetupError(
                f"data directory {data_dir} is in use by another trent serve (pid {holder}); "
                "stop it first, or choose another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class AdminKey:
    access_key_id: str
    secret: Sensitive | None  # set only when generated now, to be shown once
    account: str = DEFAULT_ACCOUNT


def serving_account(settings: Settings, deps: Deps) -> AccountId:
    """--account-id if given, else the data directory's own account; DEFAULT_ACCOUNT on first start."""
    return AccountId(settings.account_id or principal_ops.home_account(deps.store) or DEFAULT_ACCOUNT)


def ensure_admin_key(settings: Settings, deps: Deps) -> AdminKey | None:
    """On first start, the account's admin access key: the one given in settings, or a generated one."""
    account = serving_account(settings, deps)
    given_id, given_secret = settings.admin_access_key_id, settings.admin_secret_access_key
    if given_id:
        if deps.store.get_access_key(given_id) is None:
            if not given_secret:
                raise principal_ops.AccessKeyError("TRENT_ADMIN_ACCESS_KEY_ID needs TRENT_ADMIN_SECRET_ACCESS_KEY")
            try:
                principal_ops.create_access_key(
                    deps, account, root_arn(account), given_id, Sensitive(given_secret.encode()), dev=settings.dev
                )
            except principal_ops.PrincipalError:
                if deps.store.get_access_key(given_id) is None:
                    raise
                # Another node sharing the store, started at the same moment, made it first.
        return AdminKey(given_id, None, account)
    if deps.store.list_access_keys(account):
        return None
    record, secret = principal_ops.create_access_key(deps, account, root_arn(account))
    return AdminKey(record.access_key_id, secret, account)


def site_for(
    front: AwsJsonFront,
    deps: Deps,
    extra: Mapping[tuple[str, str], Handler] | None = None,
    wrap: Callable[[Handler], Handler] | None = None,
    xks: XksFront | None = None,
) -> Site:
    """The route table. Each front is a sibling entry: the AWS JSON API, the XKS proxy API (a pattern:
    /{prefix}/kms/xks/v1/..., docs/xks.md) and the operations endpoints; a dev server's `extra` (/_trent/...),
    and its `wrap` around the API's handler and the XKS proxy API's (a reset's cache drop before each)."""

    def refuse(status: int, request: Request) -> Answer:
        # Aimed at the KMS API: its path, or any path with an operation named. Those get AWS's error shape
        # and an audit record; the XKS proxy API's paths get its own; anything else a plain answer.
        if xks is not None and xks.claims(request.path):
            return xks.refuse(status, request)
        if request.path == "/" or "x-amz-target" in request.headers:
            return front.refuse(status, request)
        return plain(status)

    api: Handler = front.prepare
    xks_api: Handler | None = None if xks is None else xks.prepare if wrap is None else wrap(xks.prepare)
    return Site(
        routes={
            ("POST", "/"): api if wrap is None else wrap(api),
            ("GET", "/healthz"): probes.health,
            ("GET", "/readyz"): probes.Readiness(deps),
            ("GET", "/metrics"): probes.exposition,
            **(extra or {}),
        },
        refuse=refuse,
        start=front.start,
        patterns={} if xks_api is None else {("POST", xks_codec.ROUTE): xks_api},
    )


def quota_rates(settings: Settings) -> dict[str, float]:
    """--quota NAME=RPS as quota name -> rate; SetupError naming the first NAME that is no quota."""
    rates = {}
    for name, rate in settings.quotas:
        try:
            rates[quota_named(name).name] = rate
        except KeyError:
            raise SetupError(
                f"--quota {name}={rate:g}: there is no quota {name!r}; the names are symmetric, rsa, ecc, ml-dsa, "
                "an operation's (CreateKey, DescribeKey, ...) and GenerateDataKeyPair:<KeyPairSpec> "
                "(docs/throttling.md)"
            ) from None
    return rates


def _buckets_path(settings: Settings) -> Path:
    return settings.data_dir / "throttle.buckets"


def _throttle(settings: Settings) -> Throttle | None:
    """A worker's view of the request quotas: the buckets file the server made at start, shared by all."""
    if settings.throttle != "aws":
        return None
    return Throttle(SharedBuckets(_buckets_path(settings)), quota_rates(settings))


def build_service(settings: Settings) -> Site:
    """Run in each worker process: its own store connection, root of trust and caches."""
    logs.configure(settings.log_level, settings.log_format)
    deps = replace(open_deps(settings, create=False, remote_audit=True), throttle=_throttle(settings))
    peers = None if settings.xks_client_ca is None else frozenset(settings.xks_client_names)  # mutual TLS
    if settings.dev:
        seed = None if settings.seed is None else seeds.load_seed(settings.seed)
        dev = devmode.dev_server(settings, deps, seed_hook_for(settings, seed), run_jobs)
        # SigV4's date window is checked against the real clock: clients sign with theirs.
        xks = XksFront(dev.deps, XksAuthenticator(dev.deps.root_of_trust), utc_now, peers)
        return site_for(AwsJsonFront(dev.deps, dev.authenticator, utc_now), dev.deps, dev.routes, dev.fresh, xks)
    front = AwsJsonFront(deps, Authenticator(deps.store, deps.root_of_trust), utc_now)
    return site_for(front, deps, xks=XksFront(deps, XksAuthenticator(deps.root_of_trust), utc_now, peers))


def seed_hook_for(settings: Settings, seed: seeds.Seed | None, *, chain: bool = False) -> SeedHook:
    """What a dev server applies to its store at start and to its empty store after every reset: its account,
    the admin access key TRENT_ADMIN_ACCESS_KEY_ID names if any, and the seed file's contents (idempotent).
    `chain`: the seed's audit records are chained here (the supervisor); else they wait in the store's outbox
    for the audit writer (a worker: app/seeds.py)."""
    return functools.partial(_dev_start_state, settings, seed, chain)


def _dev_start_state(settings: Settings, seed: seeds.Seed | None, chain: bool, deps: Deps) -> None:
    account = serving_account(settings, deps)
    principal_ops.create_account(deps, account)
    ensure_admin_key(settings, deps)
    if seed is not None:
        seeds.apply_seed(seed, deps, account, chain=chain)


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
    expired = material_ops.delete_expired_material(deps)
    if expired:
        log.info("deleted %d imported key material(s) whose ValidTo came", expired)


def serve(settings: Settings, announce: Callable[[str, AdminKey | None], None]) -> int:
    quota_rates(settings)  # a bad --quota is refused before anything starts
    seed = None if settings.seed is None else seeds.load_seed(settings.seed)  # so is a bad seed file
    supervisor.check_port_free(settings.host, settings.port)  # before a new data directory is made for nothing
    with _exclusive(settings.data_dir):
        return _serve_locked(settings, announce, seed)


def _serve_locked(
    settings: Settings, announce: Callable[[str, AdminKey | None], None], seed: seeds.Seed | None = None
) -> int:
    deps = open_deps(settings)
    jobs: Callable[[], None] = functools.partial(run_jobs, deps)
    if settings.dev:
        devmode.start_state(settings).close()  # the test clock at real time
        seed_hook_for(settings, seed, chain=True)(deps)  # idempotent: a kept --data-dir is seeded again
        jobs = devmode.dev_jobs(settings, deps, run_jobs)
        admin = None  # any credentials work
    else:
        admin = ensure_admin_key(settings, deps)
    settings = replace(settings, account_id=serving_account(settings, deps), audit_socket=_audit_socket(settings))
    if seed is not None and not settings.dev:
        seeds.apply_seed(seed, deps, settings.account_id)
    metrics.prepare(settings.data_dir / "metrics")  # before any worker or the audit writer starts
    if settings.throttle == "aws":
        SharedBuckets.create(_buckets_path(settings)).close()  # every bucket full again: quotas start afresh
    return supervisor.run(
        supervisor.Plan(
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            max_body_bytes=settings.max_body_bytes,
            job_interval=settings.job_interval,
            tls_cert=settings.tls_cert,
            tls_key=settings.tls_key,
            start_method="fork" if settings.dev else "spawn",
            tls_client_ca=settings.xks_client_ca,
        ),
        factory=build_service,
        factory_arg=settings,
        sidecar=run_audit_writer,
        jobs=jobs,
        announce=lambda endpoint: announce(endpoint, admin),
    )


@contextlib.contextmanager
def administration(settings: Settings) -> Iterator[Deps]:
    """The data directory opened for `trent admin` (it must exist): every change is seen by a running server."""
    deps = open_deps(settings, create=False)
    try:
        yield deps
    finally:
        deps.audit.close()  # first: it hands the store the key uses it holds
        deps.store.close()
        deps.root_of_trust.close()
