"""--database reaches the settings of every command that opens the store (serve, admin, audit)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from trent.cli import main


@pytest.mark.parametrize("command", [["serve"], ["admin", "list-accounts"], ["audit", "verify"]])
def test_a_bad_database_flag_is_refused_before_anything_opens(command: list[str], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    given = [*command, "--data-dir", str(data_dir), "--database", "mysql://trent:hunter2@db.example/trent"]
    result = CliRunner().invoke(main, given)
    assert result.exit_code == 2, result.output
    assert "'database'" in result.output and "postgresql://" in result.output
    assert "hunter2" not in result.output and not data_dir.exists()


def test_a_postgresql_database_is_refused_until_the_commands_open_it(tmp_path: Path) -> None:
    """Never a quiet fallback to the SQLite store when PostgreSQL was asked for."""
    given = ["admin", "list-accounts", "--data-dir", str(tmp_path / "d"), "--database", "postgresql://db.example/t"]
    result = CliRunner().invoke(main, given)
    assert result.exit_code == 2 and "not yet" in result.output and not (tmp_path / "d").exists()
