"""The store the settings name, and the root of trust every user of it must share: the key check value.

In process (app.open_deps, the CLI through click's runner), on both backends: SQLite (the data directory's
trent.db) and PostgreSQL (one database, several data directories).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from tests.postgres import url_of
from trent import app
from trent.audit.exported import ExportTally
from trent.audit.verify import Tally
from trent.cli import main
from trent.config import Settings
from trent.kms.ids import AccountId
from trent.kms.keys import AccessKey
from trent.ops import principals
from trent.ops.deps import Deps
from trent.rootoftrust.software import SoftwareRoot
from trent.store.base import Store
from trent.store.postgres import PostgresStore
from trent.store.postgres_schema import SCHEMA as POSTGRES_SCHEMA
from trent.store.sqlite import _SCHEMA as SQLITE_SCHEMA
from trent.store.sqlite import SqliteStore

MISMATCH = "does not match the root key"
ROOT_ARN = "arn:aws:iam::111122223333:root"


@dataclass
class Backend:
    kind: str
    url: str | None  # None: SQLite, trent.db in each data directory

    def settings(self, data_dir: Path, root_key_file: Path | None = None) -> Settings:
        return Settings(data_dir=data_dir, root_key_file=root_key_file, database=self.url, workers=1)

    def blob_names(self, settings: Settings) -> set[str]:
        if self.url is None:
            with sqlite3.connect(settings.database_path) as conn:
                return {name for (name,) in conn.execute("SELECT name FROM blobs")}
        with psycopg.connect(self.url) as conn:
            return {name for (name,) in conn.execute("SELECT name FROM blobs")}

    def drop_blob(self, settings: Settings, name: str) -> None:
        if self.url is None:
            with sqlite3.connect(settings.database_path) as conn:
                conn.execute("DELETE FROM blobs WHERE name = ?", (name,))
        else:
            with psycopg.connect(self.url) as conn:
                conn.execute("DELETE FROM blobs WHERE name = %s", (name,))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", None)
    return Backend("postgresql", url_of(request.getfixturevalue("postgres_url")))


def _first_start(settings: Settings) -> None:
    """What `trent serve` does before it listens: open (create) everything, make the admin key."""
    deps = app.open_deps(settings)
    try:
        assert app.ensure_admin_key(settings, deps) is not None
    finally:
        _close(deps)


def _close(deps: Deps) -> None:
    deps.audit.close()
    deps.store.close()


def test_the_settings_choose_the_store(backend: Backend, tmp_path: Path) -> None:
    settings = backend.settings(tmp_path / "a")
    _first_start(settings)
    with app.administration(settings) as deps:
        assert isinstance(deps.store, SqliteStore if backend.url is None else PostgresStore)
        assert deps.store.list_access_keys(None)
    assert (tmp_path / "a" / "trent.db").exists() == (backend.url is None)
    # SQLite: the chain in the data directory; PostgreSQL: every writer's chain in the store's database.
    assert (tmp_path / "a" / "audit.db").exists() == (backend.url is None)
    if backend.url is not None:
        assert app.open_archive(settings).chains()


def test_audit_verify_and_export_find_the_chain_s_anchor_in_the_store(backend: Backend, tmp_path: Path) -> None:
    settings = backend.settings(tmp_path / "a")
    _first_start(settings)
    with app.administration(settings) as deps:
        record, _ = principals.create_access_key(deps, "111122223333", "arn:aws:iam::111122223333:root")
        principals.update_access_key(deps, AccountId("111122223333"), record.access_key_id, "Inactive")  # audited
    tally = Tally()
    assert list(app.verify_audit(settings, tally)) == []
    assert tally.anchored and tally.records >= 1
    exported = tmp_path / "export"
    exported.mkdir()
    result = app.export_audit(settings, exported, None, prune=True)
    assert result.records == tally.records
    assert list(app.verify_audit(settings, Tally())) == []  # pruned, still provable
    shown = ExportTally()
    assert list(app.verify_exported(settings, exported, None, shown)) == []
    assert shown.records == tally.records
    if backend.url is None:  # one chain: compared with the live, pruned log, it continues the export
        assert result.pruned_through == tally.last.seq
        assert shown.continued_from == tally.last.seq


def test_two_data_directories_share_one_postgresql_store_and_root_key(postgres_url: str, tmp_path: Path) -> None:
    backend = Backend("postgresql", url_of(postgres_url))
    shared_key = tmp_path / "keys" / "root.key"
    a, b = backend.settings(tmp_path / "a", shared_key), backend.settings(tmp_path / "b", shared_key)
    _first_start(a)
    assert shared_key.stat().st_mode & 0o777 == 0o600
    made = shared_key.read_bytes()
    deps = app.open_deps(b)  # the second node: the store holds data, and its root key file opens the check
    try:
        assert app.ensure_admin_key(b, deps) is None  # it sees the first node's admin key
        assert [k.principal_arn for k in deps.store.list_access_keys(None)] == ["arn:aws:iam::111122223333:root"]
    finally:
        _close(deps)
    assert shared_key.read_bytes() == made
    # One trail (its identity and key in the store, once), a chain per writer in the database; one check value.
    names = backend.blob_names(a)
    assert app.ROOT_CHECK_BLOB in names and app.CHAIN_BLOB in names
    assert len(app.open_archive(a).chains()) >= 2


class _Raced:
    """A store whose first look for an access key misses it: another node made it just after that look."""

    def __init__(self, store: Store) -> None:
        self._store, self._looked = store, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        if not self._looked:
            self._looked = True
            return None
        return self._store.get_access_key(access_key_id)


def test_nodes_started_at_once_with_the_same_given_admin_key_all_start(postgres_url: str, tmp_path: Path) -> None:
    given = {"admin_access_key_id": "AKIAGIVENADMINKEY000", "admin_secret_access_key": "s" * 40}
    url, shared_key = url_of(postgres_url), tmp_path / "root.key"
    a = replace(Backend("postgresql", url).settings(tmp_path / "a", shared_key), **given)
    b = replace(a, data_dir=tmp_path / "b")
    _first_start(a)
    deps = app.open_deps(b)
    try:
        raced = replace(deps, store=_Raced(deps.store))
        assert app.ensure_admin_key(b, raced) == app.AdminKey("AKIAGIVENADMINKEY000", None)
        with pytest.raises(principals.PrincipalError, match="already exists"):  # not a race: still an error
            principals.create_access_key(deps, "111122223333", ROOT_ARN, "AKIAGIVENADMINKEY000", None)
    finally:
        _close(deps)


def test_another_root_key_file_is_refused_saying_so(backend: Backend, tmp_path: Path) -> None:
    first = backend.settings(tmp_path / "a")
    _first_start(first)
    other = tmp_path / "other.key"
    SoftwareRoot.open(other)  # a valid root key file of some other installation
    # The same data directory (SQLite), or a new node's (PostgreSQL: it would leave nothing behind).
    node = tmp_path / ("a" if backend.url is None else "b")
    second = backend.settings(node, other)
    for command in (lambda: _close(app.open_deps(second)), lambda: list(app.verify_audit(second, Tally()))):
        with pytest.raises(app.SetupError) as refused:
            command()
        assert f"root key file {other} {MISMATCH} " in str(refused.value)
    if backend.url is not None:  # the refused node started no chain of its own
        assert not (node / "audit.db").exists()
        before = app.open_archive(first).chains()
        with pytest.raises(app.SetupError):
            _close(app.open_deps(second))
        assert app.open_archive(first).chains() == before


def test_a_missing_root_key_file_for_a_store_with_data_is_refused_not_created(backend: Backend, tmp_path: Path) -> None:
    _first_start(backend.settings(tmp_path / "a", tmp_path / "root.key"))
    gone = tmp_path / "lost.key"
    node = tmp_path / ("a" if backend.url is None else "b")
    with pytest.raises(app.SetupError) as refused:
        app.open_deps(backend.settings(node, gone))
    assert f"root key file {gone} is missing, but" in str(refused.value)
    assert "never makes a new root key for existing data" in str(refused.value)
    assert not gone.exists()


def test_a_data_directory_from_before_the_check_value_gets_one_once_its_audit_key_opens(tmp_path: Path) -> None:
    backend = Backend("sqlite", None)
    settings = backend.settings(tmp_path / "a")
    _first_start(settings)
    backend.drop_blob(settings, app.ROOT_CHECK_BLOB)  # as a version before the check value left it
    other = tmp_path / "other.key"
    SoftwareRoot.open(other)
    with pytest.raises(app.SetupError) as refused:
        app.open_deps(backend.settings(tmp_path / "a", other))
    assert "does not open the audit log" in str(refused.value)  # the older check still holds the line
    assert app.ROOT_CHECK_BLOB not in backend.blob_names(settings)  # and no check value of the wrong key
    _close(app.open_deps(settings))
    assert app.ROOT_CHECK_BLOB in backend.blob_names(settings)
    with pytest.raises(app.SetupError, match=MISMATCH):
        app.open_deps(backend.settings(tmp_path / "a", other))


def test_the_first_check_value_stored_wins(postgres_url: str, tmp_path: Path) -> None:
    """Two nodes with different root keys start on a new database at once: one stores its check value, and the
    other is then refused, never overwriting it."""
    url = url_of(postgres_url)
    settings = Settings(data_dir=tmp_path / "a", database=url)
    one, two = SoftwareRoot.open(tmp_path / "one.key"), SoftwareRoot.open(tmp_path / "two.key")
    first, second = PostgresStore(url), PostgresStore(url)
    try:
        app.check_root(settings, one, first, write=True)
        stored = first.get_blob(app.ROOT_CHECK_BLOB)
        with pytest.raises(app.SetupError, match=MISMATCH):
            app.check_root(settings, two, second, write=True)
        assert second.get_blob(app.ROOT_CHECK_BLOB) == stored
        app.check_root(settings, one, second, write=True)
    finally:
        first.close()
        second.close()


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_admin_migrate_prints_the_versions(backend: Backend, tmp_path: Path) -> None:
    data_dir = tmp_path / "a"
    where = ["--data-dir", str(data_dir)] + ([] if backend.url is None else ["--database", backend.url])
    if backend.url is None:
        code, out = _cli("admin", "migrate", *where)
        assert code == 1 and "does not exist: nothing to migrate" in out, out
        data_dir.mkdir()
        sqlite3.connect(data_dir / "trent.db").close()  # an empty file: version 0
    code, out = _cli("admin", "migrate", *where)
    newest = len(SQLITE_SCHEMA if backend.url is None else POSTGRES_SCHEMA)
    assert code == 0 and out.endswith(f"schema version 0 -> {newest}\n"), out
    code, again = _cli("admin", "migrate", *where)
    assert code == 0 and again.endswith(", already current\n"), again
    _first_start(backend.settings(data_dir))  # a migrated store serves as any other


def _too_new(backend: Backend, settings: Settings) -> None:
    if backend.url is None:
        with sqlite3.connect(settings.database_path) as conn:
            conn.execute("PRAGMA user_version = 99")
    else:
        with psycopg.connect(backend.url) as conn:
            conn.execute("UPDATE trent_schema SET version = 99")


@pytest.mark.parametrize(
    "command", [("serve", "--port", "0"), ("admin", "list-accounts"), ("admin", "migrate"), ("audit", "verify")]
)
def test_a_store_of_a_newer_schema_is_one_line(backend: Backend, tmp_path: Path, command: tuple[str, ...]) -> None:
    settings = backend.settings(tmp_path / "a")
    _first_start(settings)
    _too_new(backend, settings)
    where = ["--data-dir", str(settings.data_dir)] + ([] if backend.url is None else ["--database", backend.url])
    code, out = _cli(*command, *where)
    assert code == 1 and "has schema version 99, newer than this Trent knows" in out, out
    assert out.count("\n") == 1 and "Traceback" not in out


@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("admin", "list-accounts"), ("admin", "migrate")])
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://trent:hunter2@127.0.0.1:1/trent",  # nothing listens there
        "postgresql://trent:hunter2@127.0.0.1:5432/trent?sslmode=sometimes",  # libpq cannot use it
        "postgresql://trent:hunter2%zz@127.0.0.1:1/trent",  # not even a URL libpq parses
    ],
    ids=["unreachable", "bad-option", "bad-url"],
)
def test_a_postgresql_store_that_cannot_be_opened_is_one_line_without_the_password(
    tmp_path: Path, command: tuple[str, ...], url: str
) -> None:
    data_dir = tmp_path / "a"
    data_dir.mkdir()
    code, out = _cli(*command, "--data-dir", str(data_dir), "--database", url)
    assert code == 1, out
    assert out.startswith("Error: PostgreSQL database postgresql://trent:***@127.0.0.1:") and "cannot be opened" in out
    assert out.count("\n") == 1 and "hunter2" not in out, out
    assert not (data_dir / "root.key").exists() and not (data_dir / "audit.db").exists()
