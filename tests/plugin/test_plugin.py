"""Trent's pytest plugin (trent/pytest_plugin.py), as a user meets it: a suite that only names its fixtures,
run by a pytest of its own with the plugin loaded as the pytest11 entry point loads it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = Path(__file__).parent / "example_suite"


def run_suite(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TRENT_", "AWS_", "PYTEST_"))},
        # The plugin as its entry point would load it, and no other, whatever this environment installed.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "trent.pytest_plugin", "-p", "no:cacheprovider", "-q", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_plugin_is_the_packages_pytest11_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"trent": "trent.pytest_plugin"}


def test_a_suite_uses_the_fixtures_with_no_other_set_up(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "suite")
    done = run_suite(tmp_path / "suite")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b5 passed\b", done.stdout), done.stdout


def test_account_and_region_from_the_command_line_and_the_ini_file(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "suite")
    (tmp_path / "suite" / "pytest.ini").write_text("[pytest]\ntrent_region = eu-west-1\n")
    (tmp_path / "suite" / "test_where.py").write_text(
        "def test_where(kms_client):\n"
        "    arn = kms_client.create_key()['KeyMetadata']['Arn']\n"
        "    assert arn.startswith('arn:aws:kms:eu-west-1:444455556666:key/')\n"
    )
    done = run_suite(tmp_path / "suite", "--trent-account", "444455556666")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b6 passed\b", done.stdout), done.stdout


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """Every pytest run of a project that installs trent-kms loads the plugin: it must cost nothing until used."""
    code = "import sys, trent.pytest_plugin; print(sorted(m for m in sys.modules if m.startswith(('boto', 'trent.'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['trent.pytest_plugin']"


def test_a_running_dev_server_can_be_named(tmp_path: Path) -> None:
    from trent.pytest_plugin import start_dev_server

    server = start_dev_server()
    try:
        (tmp_path / "test_named.py").write_text(
            "def test_named(kms_endpoint, kms_client):\n"
            f"    assert kms_endpoint == {server.endpoint!r}\n"
            "    assert kms_client.list_keys()['Keys'] == []\n"
        )
        server.client().create_key()
        done = run_suite(tmp_path, "--trent-endpoint", server.endpoint)
        assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr
    finally:
        server.stop()
