"""The dev server's shared state file (trent/devstate.py): the test clock's offset and the reset generation,
seen at once by every process that maps it; and the settings a dev server is refused with."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from trent.config import ConfigError, load_settings
from trent.devstate import DevState


def test_the_clock_moves_forward_for_every_mapping(tmp_path: Path) -> None:
    one = DevState.create(tmp_path / "dev.state")
    other = DevState(tmp_path / "dev.state")
    before = other.clock()()
    assert one.advance(7 * 86400) == 7 * 86400
    moved = other.clock()()
    assert 7 * 86400 <= (moved - before).total_seconds() < 7 * 86400 + 5
    assert abs((moved - datetime.now(UTC)).total_seconds() - 7 * 86400) < 5
    with pytest.raises(ValueError):
        one.advance(-1)


def test_a_reset_brings_the_clock_back_and_counts(tmp_path: Path) -> None:
    one = DevState.create(tmp_path / "dev.state")
    other = DevState(tmp_path / "dev.state")
    one.advance(60)
    assert other.generation == 0
    assert one.reset() == 1
    assert other.generation == 1 and other.offset == 0.0
    assert "offset=0s" in repr(other) and "generation=1" in repr(other)


def test_a_new_file_starts_at_real_time(tmp_path: Path) -> None:
    DevState.create(tmp_path / "dev.state").advance(100)
    assert DevState.create(tmp_path / "dev.state").offset == 0.0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com", "::"])
def test_dev_mode_refuses_a_reachable_host(host: str) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        load_settings({"dev": True, "host": host}, environ={})
    assert load_settings({"dev": True, "host": host, "dev_allow_remote": True}, environ={}).dev


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1"])
def test_dev_mode_takes_a_loopback_host(host: str) -> None:
    assert load_settings({"dev": True, "host": host}, environ={}).host == host


def test_admin_access_key_ids_follow_awss_rule_and_dev_takes_short_ones() -> None:
    for short in ("FOOBARKEY", "test"):
        with pytest.raises(ConfigError, match="16-128 word characters.*--dev"):
            load_settings(environ={"TRENT_ADMIN_ACCESS_KEY_ID": short})
        assert load_settings(environ={"TRENT_ADMIN_ACCESS_KEY_ID": short, "TRENT_DEV": "true"}).dev
    assert load_settings(environ={"TRENT_ADMIN_ACCESS_KEY_ID": "my_key_id_of_16chars"}).admin_access_key_id
    with pytest.raises(ConfigError, match="word characters"):
        load_settings(environ={"TRENT_ADMIN_ACCESS_KEY_ID": "bad-id!", "TRENT_DEV": "1"})


def test_a_forked_process_makes_other_ids() -> None:
    """Dev servers fork their workers: request and event ids must still differ from process to process."""
    import os

    from trent.kms.ids import unique_id

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, to the parent
        os.write(write, unique_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert child != unique_id()
    assert child[:24] != unique_id()[:24]  # another process prefix, not just another count


def test_dev_mode_refuses_a_postgresql_store() -> None:
    with pytest.raises(ConfigError, match="reset would empty the PostgreSQL database"):
        load_settings({"dev": True, "database": "postgresql://trent@db.example/trent"}, environ={})
    assert load_settings({"dev": True, "database": "sqlite:///tmp/dev.db"}, environ={}).dev
