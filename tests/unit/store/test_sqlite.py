"""The SQLite adapter beyond the port's contract: what cross-process freshness rests on, the per-process memo
(decision 0006) and how many statements the many-record reads cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.records import ACCOUNT, NOW, REGION, alias
from tests.contract.records import key as _key
from trent.kms.ids import AliasName
from trent.kms.keys import AccessKey, Alias, Grant, User
from trent.kms.specs import KeyState
from trent.store.sqlite import SqliteStore


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


def test_get_keys_costs_one_statement_per_chunk_and_shares_the_memo_with_get_key(tmp_path: Path) -> None:
    writer, reader = SqliteStore(tmp_path / "batch.db"), SqliteStore(tmp_path / "batch.db")
    try:
        stored = [_key(n) for n in range(100, 800, 2)]
        with writer.transaction() as tx:
            for k in stored:
                tx.insert_key(k, b"w", "{}", [])
        asked = [_key(n).key_id for n in range(100, 800)]  # 700 ids: 3 chunks of at most 300
        statements: list[str] = []
        reader._c.set_trace_callback(statements.append)
        assert len(reader.get_keys(asked)) == len(stored)
        assert len(statements) == 3 and all(" IN (" in s for s in statements)
        statements.clear()
        assert len(reader.get_keys(asked)) == len(stored) and reader.get_key(asked[0]) == stored[0]
        assert reader.get_key(asked[1]) is None and statements == []  # absences are remembered too
        assert reader.get_keys([_key(900).key_id]) == {} and len(statements) == 1  # only what it lacks
        with writer.transaction() as tx:
            tx.update_key(stored[0].evolve(state=KeyState.DISABLED), stored[0].revision)
        statements.clear()
        assert reader.get_keys(asked[:1])[asked[0]].state is KeyState.DISABLED and len(statements) == 1
    finally:
        writer.close()
        reader.close()


def test_get_aliases_costs_one_statement_per_chunk(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aliases.db")
    try:
        target = _key(1)
        with store.transaction() as tx:
            tx.insert_key(target, b"w", "{}", [])
            for n in range(0, 400, 4):
                tx.insert_alias(alias(f"n{n}", target))
        statements: list[str] = []
        store._c.set_trace_callback(statements.append)
        found = store.get_aliases([(ACCOUNT, REGION, AliasName(f"alias/n{n}")) for n in range(400)])
        assert len(found) == 100 and len(statements) == 2
        plan = store._c.execute("EXPLAIN QUERY PLAN " + statements[0]).fetchall()  # traced with its values
        assert not any(str(step[3]).startswith("SCAN a") for step in plan)  # a key search per alias, no scan
    finally:
        store.close()
