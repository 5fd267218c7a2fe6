"""The store port's contract, run against every adapter (SQLite, file and in memory, and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trent.kms.ids import AccountId, AliasName, KeyId, Region
from trent.kms.keys import AccessKey, Alias, Grant, Key, MaterialVersion, Tag, User
from trent.kms.specs import KeySpec, KeyState, KeyUsage, Origin
from trent.store.base import ConflictError, DuplicateError, Store
from trent.store.postgres import PostgresStore
from trent.store.sqlite import SqliteStore

ACCOUNT, REGION = AccountId("111122223333"), Region("us-east-1")
NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    adapter: Store
    if request.param == "postgresql":
        adapter = PostgresStore(request.getfixturevalue("postgres_url"))
    else:
        adapter = SqliteStore(tmp_path / "t.db" if request.param == "sqlite-file" else ":memory:")
    yield adapter
    adapter.close()


def _key(n: int, **changes: object) -> Key:
    base = Key(
        key_id=KeyId(f"00000000-0000-4000-8000-{n:012d}"),
        account=ACCOUNT,
        region=REGION,
        spec=KeySpec.SYMMETRIC_DEFAULT,
        usage=KeyUsage.ENCRYPT_DECRYPT,
        origin=Origin.AWS_KMS,
        state=KeyState.ENABLED,
        creation_date=NOW,
    )
    return base.evolve(**changes) if changes else base


def test_key_round_trip_and_compare_and_set(store: Store) -> None:
    key = _key(1, description="d", deletion_date=NOW + timedelta(days=7), pending_window_days=7)
    with store.transaction() as tx:
        tx.insert_key(key, b"wrapped-1", "{}", [Tag("a", "1")])
    assert store.get_key(key.key_id) == key
    assert store.get_material(key.key_id, 1) == b"wrapped-1" and store.get_material(key.key_id, 2) is None
    assert store.get_policy(key.key_id) == "{}"
    assert store.get_tags(key.key_id) == (Tag("a", "1"),)
    changed = key.evolve(state=KeyState.DISABLED)
    with store.transaction() as tx:
        tx.update_key(changed, key.revision)
    assert store.get_key(key.key_id) == changed
    with pytest.raises(ConflictError), store.transaction() as tx:
        tx.update_key(changed.evolve(description="stale"), key.revision)  # lost the race
    assert store.get_key(key.key_id) == changed


def test_rollback_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_key(_key(2), b"w", "{}", [])
        raise RuntimeError("boom")
    assert store.get_key(_key(2).key_id) is None


def test_list_keys_is_scoped_and_paged(store: Store) -> None:
    with store.transaction() as tx:
        for n in range(5):
            tx.insert_key(_key(n), b"w", "{}", [])
        tx.insert_key(_key(9).evolve(region=Region("eu-west-1")), b"w", "{}", [])
    first = store.list_keys(ACCOUNT, REGION, None, 3)
    assert [k.key_id[-1] for k in first.items] == ["0", "1", "2"] and first.next_marker is not None
    rest = store.list_keys(ACCOUNT, REGION, first.next_marker, 3)
    assert [k.key_id[-1] for k in rest.items] == ["3", "4"] and rest.next_marker is None


def test_delete_key_cascades(store: Store) -> None:
    key = _key(3)
    with store.transaction() as tx:
        tx.insert_key(key, b"w", "{}", [Tag("t", "v")])
        tx.add_material(MaterialVersion(key.key_id, 2, NOW, "ON_DEMAND"), b"w2")
        tx.insert_alias(Alias(ACCOUNT, REGION, AliasName("alias/x"), key.key_id, NOW, NOW))
    with store.transaction() as tx:
        tx.delete_key(key.key_id)
    assert store.get_key(key.key_id) is None
    assert store.get_material(key.key_id, 2) is None and store.get_tags(key.key_id) == ()
    assert store.get_alias(ACCOUNT, REGION, AliasName("alias/x")) is None


def test_aliases(store: Store) -> None:
    key = _key(4)
    alias = Alias(ACCOUNT, REGION, AliasName("alias/a"), key.key_id, NOW, NOW)
    with store.transaction() as tx:
        tx.insert_key(key, b"w", "{}", [])
        tx.insert_alias(alias)
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.insert_alias(alias)
    assert store.get_alias(ACCOUNT, REGION, AliasName("alias/a")) == alias
    assert store.get_alias(ACCOUNT, Region("eu-west-1"), AliasName("alias/a")) is None
    assert store.list_aliases(ACCOUNT, REGION, key.key_id, None, 10).items == (alias,)


def test_deletion_due(store: Store) -> None:
    due = _key(5, state=KeyState.PENDING_DELETION, deletion_date=NOW - timedelta(seconds=1))
    later = _key(6, state=KeyState.PENDING_DELETION, deletion_date=NOW + timedelta(days=1))
    with store.transaction() as tx:
        tx.insert_key(due, b"w", "{}", [])
        tx.insert_key(later, b"w", "{}", [])
    assert [k.key_id for k in store.keys_due_for_deletion(NOW)] == [due.key_id]


def test_access_keys(store: Store) -> None:
    record = AccessKey("AKIAEXAMPLE000000001", ACCOUNT, "arn:aws:iam::111122223333:root", b"wrapped", NOW)
    with store.transaction() as tx:
        tx.put_access_key(record)
    with pytest.raises(DuplicateError), store.transaction() as tx:
        tx.put_access_key(record)
    assert store.get_access_key(record.access_key_id) == record
    assert store.list_access_keys(ACCOUNT) == (record,) and store.list_access_keys(AccountId("999999999999")) == ()
    assert "wrapped" not in repr(record)


def test_a_commit_is_visible_to_another_connection_at_once(tmp_path: Path) -> None:
    """What cross-worker consistency rests on: every read sees each commit that returned before it."""
    writer, reader = SqliteStore(tmp_path / "shared.db"), SqliteStore(tmp_path / "shared.db")
    key = _key(7)
    with writer.transaction() as tx:
        tx.insert_key(key, b"w", "{}", [])
    assert reader.get_key(key.key_id) == key
    with writer.transaction() as tx:
        tx.update_key(key.evolve(state=KeyState.DISABLED), key.revision)
    got = reader.get_key(key.key_id)
    assert got is not None and got.state is KeyState.DISABLED
    writer.close()
    reader.close()


def test_every_remembered_read_sees_a_commit_from_another_process_at_once(tmp_path: Path) -> None:
    """Each read the per-process memo answers (decision 0006) is re-read after another store's commit."""
    writer, reader = SqliteStore(tmp_path / "shared.db"), SqliteStore(tmp_path / "shared.db")
    key = _key(8)
    alias = AliasName("alias/remembered")
    user_arn = "arn:aws:iam::111122223333:user/u"
    access = AccessKey("AKIAEXAMPLE000000008", ACCOUNT, user_arn, b"wrapped", NOW)

    def reads() -> tuple[object, ...]:
        return (
            reader.get_key(key.key_id),
            reader.get_alias(ACCOUNT, REGION, alias),
            reader.get_user(user_arn),
            reader.get_access_key(access.access_key_id),
            reader.get_policy(key.key_id),
            reader.list_grants(key.key_id),
        )

    assert reads() == (None, None, None, None, None, ())  # absences are remembered too
    with writer.transaction() as tx:
        tx.insert_key(key, b"w", '{"v": 1}', [])
        tx.insert_alias(Alias(ACCOUNT, REGION, alias, key.key_id, NOW, NOW))
        tx.insert_user(User(user_arn, ACCOUNT, "u", NOW))
        tx.put_access_key(access)
        tx.insert_grant(Grant("g1", key.key_id, user_arn, ("Encrypt",), ACCOUNT, NOW))
    got = reads()
    assert got[0] == key and got[1] is not None and got[2] is not None and got[3] == access
    assert got[4] == '{"v": 1}' and [g.grant_id for g in got[5]] == ["g1"]  # type: ignore[attr-defined]
    with writer.transaction() as tx:
        tx.update_key(key.evolve(state=KeyState.DISABLED), key.revision)
        tx.put_policy(key.key_id, '{"v": 2}')
        tx.delete_alias(ACCOUNT, REGION, alias)
        tx.put_user_policy(user_arn, "{}")
        tx.delete_grant("g1")
    after = reads()
    assert after[0].state is KeyState.DISABLED  # type: ignore[union-attr]
    assert after[1] is None and after[2].policy_revision == 1  # type: ignore[union-attr]
    assert after[3] == access and after[4] == '{"v": 2}' and after[5] == ()  # type: ignore[union-attr]
    writer.close()
    reader.close()


def test_repeated_reads_with_no_commit_between_run_no_sql(tmp_path: Path) -> None:
    """The point of the memo: a hot key's second read costs no statement; a commit anywhere ends that."""
    writer, reader = SqliteStore(tmp_path / "shared.db"), SqliteStore(tmp_path / "shared.db")
    key = _key(9)
    with writer.transaction() as tx:
        tx.insert_key(key, b"w", "{}", [])
    statements: list[str] = []
    reader._c.set_trace_callback(statements.append)
    assert reader.get_key(key.key_id) == key and statements
    statements.clear()
    assert reader.get_key(key.key_id) == key and reader.get_key(key.key_id) == key
    assert statements == []
    with writer.transaction() as tx:
        tx.update_key(key.evolve(description="new"), key.revision)
    assert reader.get_key(key.key_id).description == "new"  # type: ignore[union-attr]
    assert statements
    writer.close()
    reader.close()


def test_reads_inside_a_transaction_ask_the_database(tmp_path: Path) -> None:
    """A read-modify-write must see the database under its write lock, never a remembered answer."""
    store = SqliteStore(tmp_path / "t.db")
    other = SqliteStore(tmp_path / "t.db")
    key = _key(10)
    with store.transaction() as tx:
        tx.insert_key(key, b"w", "{}", [])
    assert store.get_key(key.key_id) == key
    # Another process's write, whose epoch change is then undone, so only the database knows of it.
    epoch = store._epoch.read()
    with other.transaction() as tx:
        tx.update_key(key.evolve(description="theirs"), key.revision)
    store._epoch._map[:16] = epoch
    assert store.get_key(key.key_id) == key  # outside a transaction: remembered
    with store.transaction() as tx:
        fresh = tx.get_key(key.key_id)
        assert fresh is not None and fresh.description == "theirs"
    store.close()
    other.close()


def test_a_unit_commits_its_transactions_and_journal_together(store: Store) -> None:
    with store.unit() as unit:
        assert not unit.wrote()
        with store.transaction() as tx:
            tx.insert_key(_key(40), b"w", "{}", [])
        with store.transaction() as tx:
            tx.put_tags(_key(40).key_id, [Tag("t", "1")])
        assert unit.wrote()
        unit.journal("event-1", b"row-1")
    assert store.get_key(_key(40).key_id) is not None
    assert store.get_tags(_key(40).key_id) == (Tag("t", "1"),)
    with store.transaction() as tx:
        tx.insert_key(_key(41), b"w", "{}", [])
    with store.unit() as unit:
        with store.transaction() as tx:
            tx.delete_key(_key(41).key_id)
        unit.journal("event-2", b"row-2")
    assert store.outbox(10) == (("event-1", b"row-1"), ("event-2", b"row-2"))
    assert store.outbox(1) == (("event-1", b"row-1"),)
    with store.transaction() as tx:
        tx.delete_outbox(["event-1"])
    assert store.outbox(10) == (("event-2", b"row-2"),)


def test_a_unit_that_raises_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.unit() as unit:
        with store.transaction() as tx:
            tx.insert_key(_key(42), b"w", "{}", [])  # this block ended normally, but the unit did not
        unit.journal("event-3", b"row-3")
        raise RuntimeError("the commit of the record failed")
    assert store.get_key(_key(42).key_id) is None
    assert store.outbox(10) == ()


def test_a_failed_transaction_in_a_unit_undoes_only_itself(store: Store) -> None:
    with store.unit() as unit:
        with store.transaction() as tx:
            tx.insert_key(_key(43), b"w", "{}", [])
        with pytest.raises(DuplicateError), store.transaction() as tx:
            tx.put_tags(_key(43).key_id, [Tag("undone", "1")])
            tx.insert_alias(Alias(ACCOUNT, REGION, AliasName("alias/a"), _key(43).key_id, NOW, NOW))
            tx.insert_alias(Alias(ACCOUNT, REGION, AliasName("alias/a"), _key(43).key_id, NOW, NOW))
        unit.journal("event-4", b"row-4")
    assert store.get_key(_key(43).key_id) is not None
    assert store.get_tags(_key(43).key_id) == ()
    assert store.get_alias(ACCOUNT, REGION, AliasName("alias/a")) is None
    assert store.outbox(10) == (("event-4", b"row-4"),)


def test_a_unit_that_only_reads_writes_nothing(store: Store) -> None:
    with store.unit() as unit:
        assert store.get_key(_key(44).key_id) is None
        with store.transaction() as tx:
            assert tx.get_key(_key(44).key_id) is None
        assert not unit.wrote()
        with pytest.raises(RuntimeError):
            unit.journal("event-5", b"row-5")  # never done: there is no change to record
    assert store.outbox(10) == ()


def test_a_unit_holds_no_lock_before_its_first_transaction_nor_shows_its_writes(tmp_path: Path) -> None:
    store, other = SqliteStore(tmp_path / "u.db"), SqliteStore(tmp_path / "u.db")
    try:
        with store.unit():
            with other.transaction() as tx:  # would wait for the busy timeout, then fail, if the unit held it
                tx.insert_key(_key(45), b"w", "{}", [])
            assert store.get_key(_key(45).key_id) is not None
            with store.transaction() as tx:
                tx.update_key(_key(45).evolve(description="in the unit"), 1)
            assert store.get_key(_key(45).key_id).description == "in the unit"  # type: ignore[union-attr]
            assert other.get_key(_key(45).key_id).description == ""  # type: ignore[union-attr]
        assert other.get_key(_key(45).key_id).description == "in the unit"  # type: ignore[union-attr]
    finally:
        store.close()
        other.close()


def test_a_rolled_back_unit_leaves_no_stale_memo(tmp_path: Path) -> None:
    store, other = SqliteStore(tmp_path / "m.db"), SqliteStore(tmp_path / "m.db")
    try:
        with store.transaction() as tx:
            tx.insert_key(_key(46), b"w", "{}", [])
        with pytest.raises(RuntimeError), store.unit():
            with store.transaction() as tx:
                tx.update_key(_key(46).evolve(description="never"), 1)
            assert store.get_key(_key(46).key_id).description == "never"  # type: ignore[union-attr]
            raise RuntimeError
        with other.transaction() as tx:  # the same revision, with other contents
            tx.update_key(_key(46).evolve(description="real"), 1)
        assert store.get_key(_key(46).key_id).description == "real"  # type: ignore[union-attr]
    finally:
        store.close()
        other.close()
