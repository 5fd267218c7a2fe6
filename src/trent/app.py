"""Composition root: Settings → store, root of trust, deps, the fronts and their routes, the server.

The only module that names concrete adapters (SQLite or PostgreSQL, the software root of trust).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from trent import logs, metrics
from trent.audit import cloudtrail as ct
from trent.audit import writer
from trent.audit.anchor import BASE, CHAIN_ID_BYTES, CHECKPOINT, Checkpointer, Identity, Position, later, unseal
from trent.audit.export import Exported
from trent.audit.export import export as export_records
from trent.audit.export import prune as prune_records
from trent.audit.exported import ExportTally, verify_export
from trent.audit.port import Archive, AuditFormatError, AuditLog, AuditQuery, AuditWriteError
from trent.audit.remote import RemoteAuditLog
from trent.audit.rows import Use
from trent.audit.sqlite import ChainWriter, SqliteArchive, SqliteAuditLog
from trent.audit.uses import LastUses
from trent.audit.verify import Problem, Tally
from trent.auth.principals import Authenticator
from trent.config import DEFAULT_ACCOUNT, Settings, redact_database
from trent.kms.ids import AccountId
from trent.kms.principals import root_arn
from trent.kms.sensitive import Sensitive
from trent.ops import keys as key_ops
from trent.ops import principals as principal_ops
from trent.ops import rotation as rotation_ops
from trent.ops.deps import Deps, utc_now
from trent.ops.keyring import Keyring
from trent.protocol import probes
from trent.protocol.awsjson.front import AwsJsonFront
from trent.rootoftrust.base import RootOfTrust, UnwrapError, WrappedMaterial, audit_key_aad
from trent.rootoftrust.check import make_check, opens_check
from trent.rootoftrust.software import RootKeyFileError, SoftwareRoot
from trent.server import supervisor
from trent.server.types import Answer, Request, Site, plain
from trent.store.base import KeyUse, SchemaTooNewError, Store
from trent.store.postgres import PostgresStore
from trent.store.postgres_ops import connect as postgres_connect
from trent.store.postgres_schema import migrate as postgres_migrate
from trent.store.postgres_schema import schema_version as postgres_schema_version
from trent.store.sqlite import SqliteStore, read_blobs
from trent.store.sqlite import schema_version as sqlite_schema_version

log = logging.getLogger("trent")


class SetupError(Exception):
    """The data directory cannot be used as it is; the message says what is wrong and how to put it right."""


# What an operator can cause (bad files, modes, settings, a busy port or data directory): one line, exit 1.
OPERATOR_ERRORS: tuple[type[Exception], ...] = (
    SetupError,
    RootKeyFileError,
    AuditFormatError,
    AuditWriteError,
    SchemaTooNewError,  # a newer Trent migrated the store: run that one
    sqlite3.Error,
    psycopg.OperationalError,  # the PostgreSQL server went away while a command ran: its text names no secret
    OSError,
    ValueError,
)


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
    try:
        if create and not settings.root_key_path.exists():
            _refuse_a_new_root_for_old_data(settings, store)
        root = SoftwareRoot.open(settings.root_key_path, create=create)
        # PostgreSQL: before the chain is made, so a node with another root key leaves nothing behind.
        check_root(settings, root, store, write=settings.database_kind == "postgresql")
        if remote_audit:
            assert settings.audit_socket is not None
            audit = RemoteAuditLog(settings.audit_socket)
        else:
            chain = open_chain(settings, root, store)
            # Only now, for a data directory of a version before the check value: the audit log's key opened.
            check_root(settings, root, store, write=True)
            uses = LastUses(StoreKeyUses(store))
            audit = SqliteAuditLog(settings.audit_database_path, chain.key, checkpointer(chain, store), uses)
    except (sqlite3.DatabaseError, AuditFormatError) as exc:
        store.close()
        raise SetupError(f"audit log {settings.audit_database_path} cannot be opened: {exc}") from None
    except BaseException:
        store.close()
        raise
    for path in (settings.audit_database_path, *([settings.database_path] if settings.postgres_url is None else [])):
        _restrict(path)
    return Deps(store=store, root_of_trust=root, keyring=Keyring(root), audit=audit)


def database_name(settings: Settings) -> str:
    """The store as messages name it: the SQLite file, or the PostgreSQL URL without its password."""
    url = settings.postgres_url
    return str(settings.database_path) if url is None else f"PostgreSQL database {redact_database(url)}"


def open_store(settings: Settings) -> Store:
    """The store the settings name: the SQLite file (trent.db in the data directory unless told otherwise), or
    the PostgreSQL database of the URL, shared by every node given it. Either is migrated to this version."""
    url = settings.postgres_url
    if url is None:
        try:
            return SqliteStore(settings.database_path)
        except sqlite3.DatabaseError as exc:
            raise SetupError(f"database {settings.database_path} cannot be opened: {exc}") from None
    with _reaching(settings):
        return PostgresStore(url)


@contextlib.contextmanager
def _reaching(settings: Settings) -> Iterator[None]:
    """A PostgreSQL server that cannot be reached, or a URL libpq cannot use, is one line without the password."""
    try:
        yield
    except psycopg.Error as exc:
        raise SetupError(f"{database_name(settings)} cannot be opened: {_without_secrets(settings, exc)}") from None


def _without_secrets(settings: Settings, exc: Exception) -> str:
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
    url = settings.postgres_url or ""
    for secret in (url, urlsplit(url).password if "://" in url else None):
        if secret:
            text = text.replace(secret, "***")
    return redact_database(text)


def migrate_store(settings: Settings) -> tuple[int, int]:
    """`trent admin migrate`: bring the store's schema to this version without serving; (before, after)."""
    url = settings.postgres_url
    if url is None:
        path = settings.database_path
        if not path.exists():
            raise SetupError(f"database {path} does not exist: nothing to migrate (`trent serve` creates it)")
        try:
            before = sqlite_schema_version(path)
        except sqlite3.DatabaseError as exc:
            raise SetupError(f"database {path} cannot be opened: {exc}") from None
        open_store(settings).close()
        return before, sqlite_schema_version(path)
    with _reaching(settings):
        conn = postgres_connect(url)
        try:
            return postgres_migrate(conn), postgres_schema_version(conn)
        finally:
            conn.close()


def _refuse_a_new_root_for_old_data(settings: Settings, store: Store) -> None:
    """A root key is made only for a store (and data directory) that holds nothing: a new one could unwrap none
    of the stored key material, secrets or the audit log's key, so replacing a lost one would only hide the
    loss. The check value counts as data: some node made the store with a root key already."""
    held: list[str] = []
    if not store.is_empty() or store.get_blob(ROOT_CHECK_BLOB) is not None:
        held.append(database_name(settings))
    if settings.audit_database_path.exists():
        held.append(str(settings.audit_database_path))
    if held:
        raise SetupError(
            f"root key file {settings.root_key_path} is missing, but {' and '.join(held)} hold data wrapped by it; "
            f"restore it from your backup to {settings.root_key_path} (chmod 600), or start with an empty "
            "store and data directory (Trent never makes a new root key for existing data)"
        )


# The key check value (trent/rootoftrust/check.py): the root of trust's wrap of a fixed probe.
ROOT_CHECK_BLOB = "root-check"


def check_root(settings: Settings, root: RootOfTrust, store: Store, *, write: bool = False) -> None:
    """Refuse a root key file other than the one the store was made with. `write`: store the check value if
    there is none yet (the first writer wins when nodes race; the others are then checked against it)."""
    stored = store.get_blob(ROOT_CHECK_BLOB)
    if stored is None and write:
        mine = make_check(root)
        stored = store.update_blob(ROOT_CHECK_BLOB, lambda old: mine if old is None else None)
    _refuse_another_root(settings, root, stored)


def _refuse_another_root(settings: Settings, root: RootOfTrust, check: bytes | None) -> None:
    if check is not None and not opens_check(root, check):
        raise SetupError(
            f"root key file {settings.root_key_path} does not match the root key {database_name(settings)} was "
            "created with: give every node the root key file the store was made with"
        )


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


# The audit chain's anchor in the store database (docs/decisions/0008-audit-retention.md): its identity,
# made once with the chain, and the checkpoint of its head that writers refresh every few seconds.
CHAIN_BLOB, CHECKPOINT_BLOB = "audit.chain", "audit.checkpoint"


class AuditChainError(ValueError):
    """The audit database is not the chain the store anchors: missing, replaced or rolled back."""


@dataclass(frozen=True)
class Chain:
    key: bytes = field(repr=False)
    chain_id: bytes
    checkpoint_blob: str = CHECKPOINT_BLOB


def open_archive(settings: Settings) -> Archive:
    """The audit chain at rest, for the settings: today audit.db in the node's data directory, whatever the
    store. The one place to choose another (the chain in the PostgreSQL store, issue 12)."""
    return SqliteArchive(settings.audit_database_path)


def anchor_blobs(settings: Settings, chain_id: bytes) -> tuple[str, str]:
    """Where the store keeps a chain's identity and checkpoint. A SQLite store belongs to one data directory,
    so to one chain. A PostgreSQL store is shared by nodes that each keep their own audit.db (until the chain
    moves into PostgreSQL too), so each chain is anchored under its own id."""
    if settings.postgres_url is None:
        return CHAIN_BLOB, CHECKPOINT_BLOB
    return f"{CHAIN_BLOB}.{chain_id.hex()}", f"{CHECKPOINT_BLOB}.{chain_id.hex()}"


def open_chain(settings: Settings, root: RootOfTrust, store: Store) -> Chain:
    """The audit chain of this data directory, made on first start; refuse an audit database that is missing,
    replaced or older than the checkpoint (fail closed: no request is served without its trail)."""
    path = settings.audit_database_path
    archive = open_archive(settings)
    facts = archive.facts()
    new_id = os.urandom(CHAIN_ID_BYTES)
    chain_blob, checkpoint_blob = anchor_blobs(settings, facts.chain_id or new_id)
    stored = store.get_blob(chain_blob)
    if stored is None:
        if facts.chain_id is not None:
            raise AuditChainError(
                f"{path} holds audit chain {facts.chain_id.hex()}, which {database_name(settings)} does not "
                "anchor: the store database was replaced"
            )
        # First start, or a data directory of a version before 0008, whose key the chain keeps.
        wrapped = facts.legacy_key or root.wrap(Sensitive(os.urandom(32)), audit_key_aad()).to_bytes()
        mine = Identity(new_id, wrapped).to_bytes()
        stored = store.update_blob(chain_blob, lambda old: mine if old is None else None)
        assert stored is not None
    identity = Identity.from_bytes(stored)
    key = _audit_key(settings, root, identity.wrapped_key)
    checkpoint = store.get_blob(checkpoint_blob)
    point = Position(0, b"") if checkpoint is None else unseal(CHECKPOINT, key, identity.chain_id, checkpoint)
    where = f"audit chain {identity.chain_id.hex()}, checkpointed at record {point.seq}"
    if facts.chain_id is None:
        if facts.head_seq is not None and facts.legacy_key != identity.wrapped_key:
            raise AuditChainError(f"{path} holds records of another audit chain than {where}: it was replaced")
        if facts.head_seq is None and point.seq > 0:
            raise AuditChainError(
                f"the audit database {path} is missing or empty ({where}): restore it from a backup (docs/audit.md)"
            )
        named = archive.name(identity.chain_id)
    else:
        named = facts.chain_id
    if named != identity.chain_id:
        raise AuditChainError(f"{path} holds audit chain {named.hex()}, not {where}: it was replaced")
    if (facts.head_seq or 0) < point.seq:
        raise AuditChainError(
            f"{path} ends at record {facts.head_seq or 0}, below the checkpoint ({where}): it was truncated or "
            "rolled back to an older copy; restore the latest copy (docs/audit.md)"
        )
    return Chain(key, identity.chain_id, checkpoint_blob)


def _audit_key(settings: Settings, root: RootOfTrust, wrapped: bytes) -> bytes:
    try:
        return root.unwrap(WrappedMaterial.from_bytes(wrapped), audit_key_aad()).reveal()
    except (UnwrapError, ValueError):
        raise SetupError(
            f"root key file {settings.root_key_path} does not open the audit log {settings.audit_database_path} "
            "(it was made with another root key): restore the root key file this data directory was made with"
        ) from None


def checkpointer(chain: Chain, store: Store) -> Checkpointer:
    def save(blob: bytes) -> None:
        store.update_blob(chain.checkpoint_blob, lambda old: later(old, blob))

    return Checkpointer(chain.key, chain.chain_id, save)


def _restrict(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if candidate.exists():
            os.chmod(candidate, 0o600)


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
                    deps, account, root_arn(account), given_id, Sensitive(given_secret.encode())
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


def site_for(front: AwsJsonFront, deps: Deps) -> Site:
    """The route table. Each front is a sibling entry: the AWS JSON API and the operations endpoints."""

    def refuse(status: int, request: Request) -> Answer:
        # Aimed at the KMS API: its path, or any path with an operation named. Those get AWS's error shape
        # and an audit record; anything else a plain answer.
        if request.path == "/" or "x-amz-target" in request.headers:
            return front.refuse(status, request)
        return plain(status)

    return Site(
        routes={
            ("POST", "/"): front.prepare,
            ("GET", "/healthz"): probes.health,
            ("GET", "/readyz"): probes.Readiness(deps),
            ("GET", "/metrics"): probes.exposition,
        },
        refuse=refuse,
        start=front.start,
    )


def build_service(settings: Settings) -> Site:
    """Run in each worker process: its own store connection, root of trust and caches."""
    logs.configure(settings.log_level, settings.log_format)
    deps = open_deps(settings, create=False, remote_audit=True)
    return site_for(AwsJsonFront(deps, Authenticator(deps.store, deps.root_of_trust), utc_now), deps)


class StoreKeyUses:
    """The store's record of key uses, handed to the audit writers (which import no store)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, uses: Sequence[Use]) -> None:
        self._store.record_key_uses(
            [
                KeyUse(u.key_arn, datetime.fromtimestamp(u.when, UTC), u.operation, u.event_id, u.request_id)
                for u in uses
            ]
        )


class StoreOutbox:
    """The store's audit outbox, handed to the audit writer (which imports no store) to drain."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def pending(self, limit: int) -> tuple[tuple[str, bytes], ...]:
        return self._store.outbox(limit)

    def forget(self, event_ids: Sequence[str]) -> None:
        with self._store.transaction() as tx:
            tx.delete_outbox(event_ids)


def run_audit_writer(settings: Settings, ready: Callable[[], None]) -> None:
    """The audit writer process: it alone appends the workers' events to the chain, and drains the outbox."""
    assert settings.audit_socket is not None
    logs.configure(settings.log_level, settings.log_format)
    root = SoftwareRoot.open(settings.root_key_path, create=False)
    store = open_store(settings)
    try:
        check_root(settings, root, store)
        chain = open_chain(settings, root, store)
    except BaseException:
        store.close()
        raise
    writer_ = ChainWriter(settings.audit_database_path, chain.key, checkpointer(chain, store))
    try:
        writer.serve(
            writer_, writer.listen(settings.audit_socket), ready, StoreOutbox(store), LastUses(StoreKeyUses(store))
        )
    finally:
        writer_.close()
        store.close()


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
    supervisor.check_port_free(settings.host, settings.port)  # before a new data directory is made for nothing
    with _exclusive(settings.data_dir):
        return _serve_locked(settings, announce)


def _serve_locked(settings: Settings, announce: Callable[[str, AdminKey | None], None]) -> int:
    deps = open_deps(settings)
    admin = ensure_admin_key(settings, deps)
    settings = replace(settings, account_id=serving_account(settings, deps), audit_socket=_audit_socket(settings))
    metrics.prepare(settings.data_dir / "metrics")  # before any worker or the audit writer starts
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
        deps.audit.close()  # first: it hands the store the key uses it holds
        deps.store.close()


def _anchor(settings: Settings) -> tuple[bytes | None, bytes | None, RootOfTrust]:
    """The chain identity and checkpoint in the store, read without writing anything (a SQLite store may be a
    read-only copy), once the root key is known to be the store's."""
    root = SoftwareRoot.open(settings.root_key_path, create=False)
    chain_id = b""
    if settings.postgres_url is not None and settings.audit_database_path.exists():
        chain_id = open_archive(settings).facts().chain_id or b""
    chain_blob, checkpoint_blob = anchor_blobs(settings, chain_id)
    blobs = _read_blobs(settings, (ROOT_CHECK_BLOB, chain_blob, checkpoint_blob))
    _refuse_another_root(settings, root, blobs.get(ROOT_CHECK_BLOB))
    return blobs.get(chain_blob), blobs.get(checkpoint_blob), root


def _read_blobs(settings: Settings, names: Sequence[str]) -> dict[str, bytes]:
    if settings.postgres_url is None:
        found = read_blobs(settings.database_path) if settings.database_path.exists() else {}
        return {name: found[name] for name in names if name in found}
    store = open_store(settings)
    try:
        return {name: value for name in names if (value := store.get_blob(name)) is not None}
    finally:
        store.close()


def verify_audit(settings: Settings, tally: Tally) -> Iterator[Problem]:
    """Check the whole audit log, streaming: its chain identity, base, every record, the head and the checkpoint.
    Works on a read-only copy (point --audit-path at it); the data directory supplies the keys."""
    path = settings.audit_database_path
    stored, checkpoint, root = _anchor(settings)
    identity = None if stored is None else Identity.from_bytes(stored)
    if not path.exists():
        if identity is None:
            raise FileNotFoundError(f"no audit log at {path}")
        yield Problem(None, "database", f"the audit database {path} is missing (chain {identity.chain_id.hex()})")
        return
    archive = open_archive(settings)
    wrapped = identity.wrapped_key if identity is not None else _legacy_key(archive, path)
    key = _audit_key(settings, root, wrapped)
    tally.anchored = identity is not None
    yield from archive.verify(key, None if identity is None else identity.chain_id, checkpoint, tally)


def _legacy_key(archive: Archive, path: Path) -> bytes:
    try:
        value = archive.facts().legacy_key
    except sqlite3.Error as exc:
        raise ValueError(f"{path}: not a readable audit database ({exc})") from None
    if value is None:
        raise ValueError(f"{path}: the store database anchors no audit chain and the audit database holds no key")
    return value


def query_audit(settings: Settings, filters: AuditQuery) -> Iterator[bytes]:
    path = settings.audit_database_path
    if not path.exists():
        raise FileNotFoundError(f"no audit log at {path}")
    yield from open_archive(settings).query(filters)


EXPORT_KEY_BLOB = "audit.export-key"


def _export_key(store: Store, root: RootOfTrust) -> rsa.RSAPrivateKey:
    """The RSA key that signs export digests, made on first export; its private part wrapped by the root."""

    def make(old: bytes | None) -> bytes | None:
        if old is not None:
            return None
        der = ct.new_signing_key().private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return root.wrap(Sensitive(der), ct.EXPORT_KEY_AAD).to_bytes()

    wrapped = store.update_blob(EXPORT_KEY_BLOB, make)
    assert wrapped is not None
    key = serialization.load_der_private_key(
        root.unwrap(WrappedMaterial.from_bytes(wrapped), ct.EXPORT_KEY_AAD).reveal(), None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def export_audit(settings: Settings, directory: Path, until: datetime | None, prune: bool) -> Exported:
    """Export the records not yet in `directory` (up to `until`), sign their digest; with `prune`, delete from
    audit.db every record the directory's export holds, keeping the chain provable across the cut."""
    if not directory.is_dir():
        raise FileNotFoundError(f"no directory at {directory}; create it first")
    if not settings.data_dir.exists():
        raise FileNotFoundError(f"data directory {settings.data_dir} does not exist")
    root = SoftwareRoot.open(settings.root_key_path, create=False)
    store = open_store(settings)
    try:
        check_root(settings, root, store)
        chain = open_chain(settings, root, store)
        signer = _export_key(store, root)
        archive = open_archive(settings)
        result, end = export_records(
            archive,
            directory,
            signer,
            chain.key,
            chain.chain_id,
            settings.account_id or principal_ops.home_account(store) or DEFAULT_ACCOUNT,
            None if until is None else until.timestamp(),
        )
        if prune:
            result = replace(result, pruned_through=end.last.seq)
            prune_records(archive, end.last, chain.key, chain.chain_id)
    finally:
        store.close()
    return result


def verify_exported(
    settings: Settings, directory: Path, public_key: Path | None, tally: ExportTally
) -> Iterator[Problem]:
    """Check an export offline; when this data directory's audit log is there too, that it continues the export."""
    given = None if public_key is None else ct.load_public(public_key.read_bytes())
    yield from verify_export(directory, given, tally)
    path = settings.audit_database_path
    if tally.digests == 0:
        yield Problem(None, "export", f"{directory} holds no digest: nothing was exported there")
        return
    if not path.exists() or (settings.postgres_url is None and not settings.database_path.exists()):
        return
    stored, _, root = _anchor(settings)
    if stored is None:
        return
    identity = Identity.from_bytes(stored)
    if identity.chain_id.hex() != tally.chain_id:
        return  # an export of another server: nothing to compare it with
    key = root.unwrap(WrappedMaterial.from_bytes(identity.wrapped_key), audit_key_aad()).reveal()
    try:
        base = open_archive(settings).facts().base
        start = Position(0, b"") if base is None else unseal(BASE, key, identity.chain_id, base)
        if start.seq > tally.last.seq:
            yield Problem(
                None,
                "export",
                f"the live log was pruned through record {start.seq}, but the export ends at record "
                f"{tally.last.seq}: records {tally.last.seq + 1}-{start.seq} are in neither",
            )
        elif start.seq == tally.last.seq and start.seq and start.digest != tally.last.digest:
            yield Problem(None, "export", f"the live log's base is not the export's record {start.seq}")
        tally.continued_from = start.seq
    except sqlite3.Error as exc:
        yield Problem(None, "database", f"the audit database cannot be read: {exc}")
