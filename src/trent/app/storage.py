"""The store the settings name, and the root of trust it was made with: opening, migrating, and the operator
errors both can cause."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from trent.audit.port import AuditFormatError, AuditWriteError
from trent.config import Settings, redact_database
from trent.rootoftrust.base import RootSetupError, RootUnavailable
from trent.rootoftrust.keyfile import RootKeyFileError
from trent.store.base import SchemaTooNewError, Store
from trent.store.sqlite import SqliteStore
from trent.store.sqlite import schema_version as sqlite_schema_version


class SetupError(Exception):
    """The data directory cannot be used as it is; the message says what is wrong and how to put it right."""


# What an operator can cause (bad files, modes, settings, a busy port or data directory): one line, exit 1.
OPERATOR_ERRORS: tuple[type[Exception], ...] = (
    SetupError,
    RootKeyFileError,
    RootSetupError,  # a PKCS#11 module, token, PIN, or a sealed root key file's passphrase
    RootUnavailable,  # the token stopped answering while a command ran
    AuditFormatError,
    AuditWriteError,
    SchemaTooNewError,  # a newer Trent migrated the store: run that one
    sqlite3.Error,
    OSError,
    ValueError,
)


def operator_errors() -> tuple[type[Exception], ...]:
    """OPERATOR_ERRORS, and psycopg's OperationalError (the PostgreSQL server went away while a command ran: its
    text names no secret) once psycopg is loaded: it is imported only for a PostgreSQL store, so that a SQLite
    server (a dev server above all) starts without it."""
    psycopg = sys.modules.get("psycopg")
    return OPERATOR_ERRORS if psycopg is None else (*OPERATOR_ERRORS, psycopg.OperationalError)


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
            return SqliteStore(settings.database_path, durable=settings.durable)
        except sqlite3.DatabaseError as exc:
            raise SetupError(f"database {settings.database_path} cannot be opened: {exc}") from None
    with _reaching(settings):
        from trent.store.postgres import PostgresStore

        return PostgresStore(url)


@contextlib.contextmanager
def _reaching(settings: Settings) -> Iterator[None]:
    """A PostgreSQL server that cannot be reached, or a URL libpq cannot use, is one line without the password."""
    import psycopg

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
        from trent.pgsession import connect as postgres_connect
        from trent.store.postgres_schema import migrate as postgres_migrate
        from trent.store.postgres_schema import schema_version as postgres_schema_version

        conn = postgres_connect(url)
        try:
            return postgres_migrate(conn), postgres_schema_version(conn)
        finally:
            conn.close()


def held_data(settings: Settings, store: Store) -> list[str]:
    """What holds data wrapped by some root key already: the store (its check value counts: some node made the
    store with a root key already) and the audit database. A new root key could unwrap none of it."""
    held: list[str] = []
    if not store.is_empty() or store.get_blob(ROOT_CHECK_BLOB) is not None:
        held.append(database_name(settings))
    if settings.audit_database_path.exists():
        held.append(str(settings.audit_database_path))
    return held


# The key check value (trent/rootoftrust/check.py): the root of trust's wrap of a fixed probe.
ROOT_CHECK_BLOB = "root-check"


def restrict_files(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if candidate.exists():
            os.chmod(candidate, 0o600)
