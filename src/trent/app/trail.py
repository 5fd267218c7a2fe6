"""The audit trail's wiring: which chain a node writes (SQLite's audit.db, or its own chain in PostgreSQL),
its anchor in the store, the writer process, and `trent audit verify` / `query`."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from trent import logs
from trent.app.roots import check_root, open_root, refuse_another_root, root_name
from trent.app.storage import ROOT_CHECK_BLOB, SetupError, database_name, open_store
from trent.audit import writer
from trent.audit.anchor import CHAIN_ID_BYTES, CHECKPOINT, Checkpointer, Identity, Position, later, seal, unseal
from trent.audit.port import Archive, AuditLog, AuditQuery
from trent.audit.port import Chain as Chain_
from trent.audit.rows import Use
from trent.audit.sqlite import ChainWriter, SqliteArchive, SqliteAuditLog
from trent.audit.uses import LastUses
from trent.audit.verify import Problem, Tally
from trent.config import Settings
from trent.kms.sensitive import Sensitive
from trent.rootoftrust.base import RootOfTrust, UnwrapError, WrappedMaterial, audit_key_aad
from trent.store.base import KeyUse, Store
from trent.store.sqlite import read_blobs

# The audit chain's anchor in the store database (docs/decisions/0008-audit-retention.md): its identity,
# made once with the chain, and the checkpoint of its head that writers refresh every few seconds.
CHAIN_BLOB, CHECKPOINT_BLOB = "audit.chain", "audit.checkpoint"

if TYPE_CHECKING:
    from trent.audit import postgres  # imported when a PostgreSQL store is used: psycopg only then


class AuditChainError(ValueError):
    """The audit database is not the chain the store anchors: missing, replaced or rolled back."""


@dataclass(frozen=True)
class Chain:
    key: bytes = field(repr=False)
    chain_id: bytes
    checkpoint_blob: str = CHECKPOINT_BLOB


def open_archive(settings: Settings) -> Archive:
    """The audit trail at rest: audit.db in the data directory beside a SQLite store; in a PostgreSQL store's
    database, every writer's chain and the anchors over them (docs/decisions/0011-audit-on-postgresql.md)."""
    url = settings.postgres_url
    if url is None:
        return SqliteArchive(settings.audit_database_path, durable=settings.durable)
    from trent.audit.postgres_archive import PostgresArchive  # psycopg only for a PostgreSQL store

    return PostgresArchive(url)


def trail_name(settings: Settings) -> str:
    """The trail as messages name it."""
    if settings.postgres_url is None:
        return str(settings.audit_database_path)
    return f"the audit tables of {database_name(settings)}"


def writer_name() -> str:
    """Who writes a PostgreSQL chain (each writer process starts one of its own): host and process."""
    return f"{socket.gethostname()}/{os.getpid()}"


def local_audit_log(settings: Settings, chain: Chain, store: Store) -> AuditLog:
    """The audit log written in this process (trent admin, the jobs), on the settings' trail."""
    uses = LastUses(StoreKeyUses(store))
    url = settings.postgres_url
    if url is None:
        return SqliteAuditLog(
            settings.audit_database_path, chain.key, checkpointer(chain, store), uses, durable=settings.durable
        )
    from trent.audit.postgres import PostgresAuditLog

    return PostgresAuditLog(url, chain.key, writer_name(), uses)


def open_chain(settings: Settings, root: RootOfTrust, store: Store) -> Chain:
    """The audit chain of this data directory, made on first start; refuse an audit database that is missing,
    replaced or older than the checkpoint (fail closed: no request is served without its trail)."""
    path = trail_name(settings)
    archive = open_archive(settings)
    facts = archive.facts()
    new_id = os.urandom(CHAIN_ID_BYTES)
    chain_blob, checkpoint_blob = CHAIN_BLOB, CHECKPOINT_BLOB
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
            f"{root_name(settings)} does not open the audit log {trail_name(settings)} (it was made with another "
            "root key): restore the root of trust this data directory was made with"
        ) from None


def checkpointer(chain: Chain, store: Store) -> Checkpointer:
    def save(blob: bytes) -> None:
        store.update_blob(chain.checkpoint_blob, lambda old: later(old, blob))

    return Checkpointer(chain.key, chain.chain_id, save)


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
    root = open_root(settings)
    store = open_store(settings)
    try:
        check_root(settings, root, store)
        chain = open_chain(settings, root, store)
    except BaseException:
        store.close()
        root.close()
        raise
    url = settings.postgres_url
    anchors: postgres.AnchorJob | None = None
    writer_: Chain_
    try:
        if url is None:
            writer_ = ChainWriter(
                settings.audit_database_path, chain.key, checkpointer(chain, store), durable=settings.durable
            )
        else:
            # A chain of its own; every node's writer also runs the anchor job (its try-lock makes one anchor
            # per round), whose anchors become the trail's checkpoint in the store (0011).
            from trent.audit import postgres as pg

            writer_ = pg.PostgresChain(url, chain.key, writer_name())
            anchors = pg.AnchorJob(url, chain.key, ANCHOR_SECONDS, _checkpoint_saver(settings, chain))
            anchors.start()
    except BaseException:
        store.close()
        root.close()
        raise
    try:
        writer.serve(
            writer_,
            writer.listen(settings.audit_socket),
            ready,
            StoreOutbox(store),
            LastUses(StoreKeyUses(store), every=0.0 if url is None else USES_SECONDS),
        )
    finally:
        if anchors is not None:
            anchors.stop()
        writer_.close()
        store.close()
        root.close()


ANCHOR_SECONDS = 5.0
USES_SECONDS = 0.25  # on PostgreSQL, each publish of key uses is a round trip: at most four a second


def _checkpoint_saver(settings: Settings, chain: Chain) -> Callable[[Position], None]:
    """Save each anchor the job makes, sealed, as the trail's checkpoint (on a store of the job's own thread)."""
    holder: list[Store] = []

    def save(position: Position) -> None:
        if not holder:
            holder.append(open_store(settings))
        sealed = seal(CHECKPOINT, chain.key, chain.chain_id, position)
        holder[0].update_blob(chain.checkpoint_blob, lambda old: later(old, sealed))

    return save


def read_anchor(settings: Settings) -> tuple[bytes | None, bytes | None, RootOfTrust]:
    """The chain identity and checkpoint in the store, read without writing anything (a SQLite store may be a
    read-only copy), once the root key is known to be the store's."""
    root = open_root(settings)
    chain_blob, checkpoint_blob = CHAIN_BLOB, CHECKPOINT_BLOB
    blobs = read_store_blobs(settings, (ROOT_CHECK_BLOB, chain_blob, checkpoint_blob))
    refuse_another_root(settings, root, blobs.get(ROOT_CHECK_BLOB))
    return blobs.get(chain_blob), blobs.get(checkpoint_blob), root


def read_store_blobs(settings: Settings, names: Sequence[str]) -> dict[str, bytes]:
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
    stored, checkpoint, root = read_anchor(settings)
    try:
        identity = None if stored is None else Identity.from_bytes(stored)
        if settings.postgres_url is not None:  # every writer's chain and the anchors, in the store's database
            if identity is None:
                raise FileNotFoundError(f"no audit trail in {database_name(settings)}")
            tally.anchored = True
            key = _audit_key(settings, root, identity.wrapped_key)
            archive: Archive = open_archive(settings)
        elif not path.exists():
            if identity is None:
                raise FileNotFoundError(f"no audit log at {path}")
            yield Problem(None, "database", f"the audit database {path} is missing (chain {identity.chain_id.hex()})")
            return
        else:
            archive = open_archive(settings)
            wrapped = identity.wrapped_key if identity is not None else _legacy_key(archive, path)
            key = _audit_key(settings, root, wrapped)
            tally.anchored = identity is not None
    finally:
        root.close()  # the audit key is all the rest needs
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
    if settings.postgres_url is None and not path.exists():
        raise FileNotFoundError(f"no audit log at {path}")
    yield from open_archive(settings).query(filters)
