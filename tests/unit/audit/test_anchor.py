"""The chain's state outside audit.db: sealed positions, checkpoints that never move back, and a checkpointer
that saves on the first commit, then at most once per interval (never per commit), and on close."""

from __future__ import annotations

import os

import pytest

from trent.audit.anchor import BASE, CHECKPOINT, AnchorError, Checkpointer, Position, later, seal, unseal

KEY, CHAIN = os.urandom(32), os.urandom(16)


def test_a_position_round_trips_and_cannot_be_forged_or_moved() -> None:
    point = Position(42, os.urandom(32))
    blob = seal(CHECKPOINT, KEY, CHAIN, point)
    assert unseal(CHECKPOINT, KEY, CHAIN, blob) == point
    with pytest.raises(AnchorError, match="MAC"):
        unseal(CHECKPOINT, os.urandom(32), CHAIN, blob)
    with pytest.raises(AnchorError, match="MAC"):  # a checkpoint is not a base
        unseal(BASE, KEY, CHAIN, blob)
    with pytest.raises(AnchorError, match="belongs to chain"):
        unseal(CHECKPOINT, KEY, os.urandom(16), blob)
    with pytest.raises(AnchorError, match="malformed"):
        unseal(CHECKPOINT, KEY, CHAIN, blob[:-1])


def test_a_checkpoint_never_moves_back() -> None:
    old, new = (seal(CHECKPOINT, KEY, CHAIN, Position(n, os.urandom(32))) for n in (5, 9))
    assert later(None, old) == old
    assert later(old, new) == new
    assert later(new, old) is None
    assert later(new, new) is None


def test_the_checkpointer_saves_per_interval_not_per_commit() -> None:
    now, saved = [0.0], []
    checkpointer = Checkpointer(KEY, CHAIN, saved.append, interval=5.0, clock=lambda: now[0])
    for seq in range(1, 101):  # a burst of commits: saved once, on the first
        checkpointer.committed(seq, os.urandom(32))
    assert [unseal(CHECKPOINT, KEY, CHAIN, b).seq for b in saved] == [1]
    now[0] = 5.0
    checkpointer.tick()  # idle after the interval: the last head is saved
    assert unseal(CHECKPOINT, KEY, CHAIN, saved[-1]).seq == 100
    checkpointer.committed(101, os.urandom(32))
    checkpointer.flush()  # on close
    assert [unseal(CHECKPOINT, KEY, CHAIN, b).seq for b in saved] == [1, 100, 101]


def test_a_failing_save_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    def broken(blob: bytes) -> None:
        raise OSError("disk full")

    checkpointer = Checkpointer(KEY, CHAIN, broken, interval=0.0)
    checkpointer.committed(1, os.urandom(32))
    assert "could not save the audit checkpoint" in caplog.text
