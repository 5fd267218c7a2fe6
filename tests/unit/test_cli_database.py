"""--database reaches the settings of every command that opens the store (serve, admin, audit)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from trent.cli import main
from trent.rootoftrust.software import SoftwareRoot


@pytest.mark.parametrize("command", [["serve"], ["admin", "list-accounts"], ["audit", "verify"]])
def test_a_bad_database_flag_is_refused_before_anything_opens(command: list[str], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    given = [*command, "--data-dir", str(data_dir), "--database", "mysql://trent:hunter2@db.example/trent"]
    result = CliRunner().invoke(main, given)
    assert result.exit_code == 2, result.output
    assert "'database'" in result.output and "postgresql://" in result.output
    assert "hunter2" not in result.output and not data_dir.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "0"],
        ["admin", "list-accounts"],
        ["admin", "migrate"],
        ["audit", "verify"],
        ["audit", "export", "--to", "."],
    ],
)
def test_every_command_opens_the_postgresql_database_it_is_given(command: list[str], tmp_path: Path) -> None:
    """Never a quiet fallback to the SQLite store when PostgreSQL was asked for: the command goes to the server
    (here one that is not there, so it fails saying which database), and makes no trent.db."""
    data_dir = tmp_path / "d"
    data_dir.mkdir(mode=0o700)
    SoftwareRoot.open(data_dir / "root.key")
    url = "postgresql://trent:hunter2@127.0.0.1:1/trent"
    result = CliRunner().invoke(main, [*command, "--data-dir", str(data_dir), "--database", url])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: PostgreSQL database postgresql://trent:***@127.0.0.1:1/trent cannot be")
    assert "hunter2" not in result.output and not (data_dir / "trent.db").exists()
