"""Crash trials on PostgreSQL (tests/crash_pg.py): two nodes under a mixed write load, two kill -9 of a node and
one immediate shutdown of PostgreSQL; nothing acknowledged is lost, every change has its audit record, every
acknowledged ciphertext decrypts on the other node, and nothing succeeded (or hung) while the database was
down. Its own cluster (fsync on), not TRENT_TEST_DATABASE_URL's: it stops the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import crash_pg
from tests.postgres import Cluster, fresh_database


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    running = Cluster(fsync=True).init()
    try:
        running.start()
        yield running
    finally:
        running.stop()
        running.remove()


def test_kill_9_of_a_node_and_of_postgresql_loses_nothing_acknowledged(cluster: Cluster, tmp_path: Path) -> None:
    with fresh_database(cluster.conninfo) as conninfo:
        o = crash_pg.trials(cluster, conninfo, tmp_path, ["node", "postgres", "node"], seed=3, sample=10_000)
    assert o.answered["200"] > 50, o.answered
    assert o.acked["keys"] > 0 and o.acked["aliases"] > 0 and o.acked["access keys"] > 0, o.acked
    assert o.missing == {kind: [] for kind in o.missing}, o.missing
    assert o.account.unrecorded == {kind: [] for kind in o.account.unrecorded}, o.account.unrecorded
    assert o.account.chained_twice == 0
    assert o.decrypted == o.acked["ciphertexts"] > 0 and o.undecrypted == [], o.undecrypted
    assert o.access_keys_refused == []
    assert o.verified, o.verify_output
    assert len(o.kills) == 2 and o.survivor_failures == 0
    assert len(o.outages) == 1 and set(o.answered_while_down) == {"500 KMSInternalException"}, o.answered_while_down
    assert o.acked_while_down == [] and o.slowest_while_down < 10, (o.acked_while_down, o.slowest_while_down)
