"""`trent serve` and `trent admin` as a new user meets them: first start, credentials, accounts, settings."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.integration.principals import unseen
from tests.support import TrentServer, error_of, kms_client, trent_command
from trent.rootoftrust.software import SoftwareRoot


def _admin(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [*trent_command(), "admin", *args, "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _trent(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")} | (env or {})
    return subprocess.run([*trent_command(), *args], capture_output=True, text=True, timeout=timeout, env=environ)


def _fails(
    data_dir: Path, *args: str, code: int = 1, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a `trent` command that must fail as an operator error: one line on stderr, no traceback."""
    done = _trent(*args, "--data-dir", str(data_dir), env=env)
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    # Exit 1: the one line alone; exit 2 (click's usage errors): the one line after click's usage hint.
    assert len(errors) == 1 and (code == 2 or done.stderr.strip() == errors[0]), done.stderr
    return done


def test_first_start_generates_and_shows_the_admin_key_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    with TrentServer(data_dir, admin_from_env=False) as server:
        out = "".join(server.output)
        key_id = re.search(r"aws_access_key_id\s+= (\S+)", out)
        secret = re.search(r"aws_secret_access_key\s+= (\S+)", out)
        assert key_id and secret, out
        kms = kms_client(server.endpoint, access_key=key_id.group(1), secret=secret.group(1))
        key = kms.create_key()["KeyMetadata"]
        assert key["Arn"].startswith("arn:aws:kms:us-east-1:111122223333:key/")
    assert (data_dir / "root.key").stat().st_mode & 0o777 == 0o600
    assert data_dir.stat().st_mode & 0o777 == 0o700
    with TrentServer(data_dir, admin_from_env=False) as again:
        assert "aws_secret_access_key" not in "".join(again.output)
        kms = kms_client(again.endpoint, access_key=key_id.group(1), secret=secret.group(1))
        assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    listed = _admin(data_dir, "list-access-keys")
    assert key_id.group(1) in listed and secret.group(1) not in listed


def test_accounts_are_isolated_and_keys_added_without_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "accounts"
    with TrentServer(data_dir, env={"TRENT_ACCOUNT_ID": "444455556666"}) as server:
        owner = server.client()
        key = owner.create_key()["KeyMetadata"]
        assert key["AWSAccountId"] == "444455556666"
        refused = _fails(data_dir, "admin", "create-access-key", "--account-id", "777788889999")
        assert "account 777788889999 does not exist" in refused.stderr  # only create-account makes accounts
        assert _admin(data_dir, "list-accounts").split() == ["444455556666"]
        _admin(data_dir, "create-account", "777788889999", "--no-access-key")
        other = json.loads(
            _admin(
                data_dir,
                "create-access-key",
                "--account-id",
                "777788889999",
                "--access-key-id",
                "AKIAOTHERACCOUNT0001",
                "--secret-access-key",
                "other-account-secret-0001",
                "--json",
            )
        )
        assert other == {
            "AccessKeyId": "AKIAOTHERACCOUNT0001",
            "SecretAccessKey": "other-account-secret-0001",
            "Account": "777788889999",
            "Principal": "arn:aws:iam::777788889999:root",
        }
        stranger = kms_client(server.endpoint, access_key=other["AccessKeyId"], secret=other["SecretAccessKey"])
        assert stranger.list_keys()["Keys"] == []  # works at once: no restart
        with pytest.raises(ClientError) as exc:
            stranger.describe_key(KeyId=key["KeyId"])
        assert error_of(exc)[0] == "NotFoundException"  # a bare key id means "in my account"
        with pytest.raises(ClientError) as exc:
            stranger.encrypt(KeyId=key["Arn"], Plaintext=b"x")
        assert error_of(exc) == unseen("arn:aws:iam::777788889999:root", "kms:Encrypt")  # another account's key
        mine = stranger.create_key()["KeyMetadata"]
        assert mine["Arn"].startswith("arn:aws:kms:us-east-1:777788889999:key/")
        assert [k["KeyId"] for k in owner.list_keys()["Keys"]] == [key["KeyId"]]
    duplicate = subprocess.run(
        [
            *trent_command(),
            "admin",
            "create-access-key",
            "--data-dir",
            str(data_dir),
            "--access-key-id",
            "AKIAOTHERACCOUNT0001",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr


def test_host_and_port_from_the_environment(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with TrentServer(tmp_path / "env", env={"TRENT_PORT": str(port), "TRENT_HOST": "127.0.0.1"}) as server:
        assert server.endpoint == f"http://127.0.0.1:{port}"
        assert server.client().list_keys()["Truncated"] is False


def test_bad_settings_are_named(tmp_path: Path) -> None:
    done = subprocess.run(
        [*trent_command(), "serve", "--data-dir", str(tmp_path), "--port", "70000"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "'port'" in done.stderr and "70000" in done.stderr


def _port_of(server: TrentServer) -> int:
    return int(server.endpoint.rsplit(":", 1)[1])


def _still_serves(server: TrentServer) -> None:
    for _ in range(6):  # fresh connections, spread over the workers by the kernel
        assert server.client().list_keys()["Truncated"] is False


def test_a_second_server_on_the_same_port_is_refused(tmp_path: Path) -> None:
    with TrentServer(tmp_path / "first") as first:
        port = _port_of(first)
        second = tmp_path / "second"
        done = _fails(second, "serve", "--port", str(port), "--workers", "1")
        assert done.stderr.strip() == f"Error: port {port} on 127.0.0.1 is already in use (another trent serve?)"
        assert not second.exists()  # refused before anything was made for it
        _still_serves(first)
    with TrentServer(tmp_path / "first", port=port) as again:  # the port is free again once the first stops
        _still_serves(again)


def test_a_second_server_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    with TrentServer(data_dir) as first:
        assert first.process is not None
        done = _fails(data_dir, "serve", "--port", "0", "--workers", "1")
        assert done.stderr.strip() == (
            f"Error: data directory {data_dir} is in use by another trent serve (pid {first.process.pid}); "
            "stop it first, or choose another --data-dir"
        )
        _still_serves(first)
        assert "AKIAIOSFODNN7EXAMPLE" in _admin(data_dir, "list-access-keys")  # admin works beside the server
        _still_serves(first)


def test_admin_acts_on_the_data_directory_s_account(tmp_path: Path) -> None:
    data_dir = tmp_path / "own"
    with TrentServer(data_dir, env={"TRENT_ACCOUNT_ID": "444455556666"}):
        created = json.loads(_admin(data_dir, "create-user", "erin"))
        assert created["Arn"] == "arn:aws:iam::444455556666:user/erin"
        key = json.loads(_admin(data_dir, "create-access-key", "--json"))
        assert key["Principal"] == "arn:aws:iam::444455556666:root"
        _admin(data_dir, "create-account", "777788889999", "--no-access-key")  # a later account is not the default
        assert json.loads(_admin(data_dir, "create-user", "fay"))["Account"] == "444455556666"
        refused = _fails(data_dir, "admin", "create-user", "--account-id", "111122223333", "gus")
        assert refused.stderr.strip() == (
            "Error: account 111122223333 does not exist (trent admin create-account 111122223333 makes it)"
        )
        _fails(data_dir, "admin", "list-access-keys", "--account-id", "111122223333")
    with TrentServer(data_dir):  # restarted without --account-id: still the data directory's account
        pass
    assert _admin(data_dir, "list-accounts").split() == ["444455556666", "777788889999"]


@pytest.fixture(scope="module")
def used_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory a server has run on (keys, an access key, an audit log), to copy and damage."""
    data_dir = tmp_path_factory.mktemp("used") / "data"
    with TrentServer(data_dir, workers=1) as server:
        server.client().create_key()
    return data_dir


def _copy(used: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(used, copy, ignore=shutil.ignore_patterns("*.sock", "serve.lock"))
    copy.chmod(0o700)
    return copy


def test_a_missing_root_key_beside_existing_data_is_refused_not_replaced(used_data_dir: Path, tmp_path: Path) -> None:
    data_dir = _copy(used_data_dir, tmp_path)
    (data_dir / "root.key").unlink()
    done = _fails(data_dir, "serve", "--port", "0", "--workers", "1")
    assert f"root key file {data_dir / 'root.key'} is missing, but {data_dir / 'trent.db'}" in done.stderr
    assert f"restore it from your backup to {data_dir / 'root.key'} (chmod 600)" in done.stderr
    assert not (data_dir / "root.key").exists()  # no new root key for the old data
    done = _fails(data_dir, "admin", "list-access-keys")
    assert "does not exist; restore it from your backup (mode 0600)" in done.stderr


def _damage_mode(data_dir: Path) -> str:
    (data_dir / "root.key").chmod(0o644)
    return f"has mode 644; it must not be readable by others (chmod 600 {data_dir / 'root.key'})"


def _damage_content(data_dir: Path) -> str:
    (data_dir / "root.key").write_text("{not json")
    return "is malformed; restore it from your backup"


def _damage_database(data_dir: Path) -> str:
    for extra in ("-wal", "-shm"):
        (data_dir / ("trent.db" + extra)).unlink(missing_ok=True)
    (data_dir / "trent.db").write_bytes(b"this is not a database" * 100)
    return f"database {data_dir / 'trent.db'} cannot be opened"


@pytest.mark.parametrize("damage", [_damage_mode, _damage_content, _damage_database], ids=["mode", "content", "db"])
@pytest.mark.parametrize("command", [("serve", "--port", "0", "--workers", "1"), ("admin", "list-access-keys")])
def test_a_damaged_data_directory_is_one_line(
    used_data_dir: Path, tmp_path: Path, damage: Callable[[Path], str], command: tuple[str, ...]
) -> None:
    data_dir = _copy(used_data_dir, tmp_path)
    expected = damage(data_dir)
    assert expected in _fails(data_dir, *command).stderr


def test_a_root_key_of_another_data_directory_is_one_line(used_data_dir: Path, tmp_path: Path) -> None:
    data_dir = _copy(used_data_dir, tmp_path)
    stranger = SoftwareRoot.open(tmp_path / "stranger.key")  # a valid root key file, of no data directory
    assert stranger.active_key_id
    shutil.copy(tmp_path / "stranger.key", data_dir / "root.key")
    for command in (("serve", "--port", "0", "--workers", "1"), ("audit", "verify"), ("admin", "list-accounts")):
        done = _fails(data_dir, *command)
        expected = f"root key file {data_dir / 'root.key'} does not match the root key {data_dir / 'trent.db'} was"
        assert expected in done.stderr


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (("serve",), {"TRENT_LOG_LEVEL": "loud"}, "TRENT_LOG_LEVEL"),
        (("serve",), {"TRENT_PORT": "ninety"}, "TRENT_PORT"),
        (("serve", "--workers", "0"), {}, "'workers'"),
        (("serve",), {"TRENT_WORKERS": "-2"}, "TRENT_WORKERS"),
        (("admin", "list-accounts"), {"TRENT_LOG_LEVEL": "loud"}, "TRENT_LOG_LEVEL"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    assert named in _fails(tmp_path / "never", *args, code=2, env=env).stderr
    assert not (tmp_path / "never").exists()


def test_a_bad_config_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "trent.toml"
    config.write_text("port = [")
    assert str(config) in _fails(tmp_path / "never", "serve", "--config", str(config), code=2).stderr


def test_admin_without_a_data_directory_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    done = _fails(missing, "admin", "list-access-keys")
    assert done.stderr.strip() == (
        f"Error: data directory {missing} does not exist; start `trent serve` with it once first"
    )
    assert not missing.exists()


def test_a_root_key_file_outside_the_data_directory(tmp_path: Path) -> None:
    """--root-key-file / TRENT_ROOT_KEY_FILE: the first start makes it there (0600), never in the data directory,
    and every later command must be given it; another root key file is refused, saying so."""
    data_dir, shared = tmp_path / "data", tmp_path / "keys" / "root.key"
    with TrentServer(data_dir, workers=1, env={"TRENT_ROOT_KEY_FILE": str(shared)}) as server:
        server.client().create_key()
    assert shared.stat().st_mode & 0o777 == 0o600
    assert not (data_dir / "root.key").exists()
    listed = _trent("admin", "list-access-keys", "--data-dir", str(data_dir), "--root-key-file", str(shared))
    assert listed.returncode == 0 and "AKIA" in listed.stdout, listed.stderr
    done = _fails(data_dir, "admin", "list-access-keys")  # without it: the default place holds none
    assert f"root key file {data_dir / 'root.key'} does not exist" in done.stderr
    other = tmp_path / "other.key"
    SoftwareRoot.open(other, create=True)  # a root key file of some other installation
    done = _fails(data_dir, "serve", "--port", "0", "--workers", "1", "--root-key-file", str(other))
    assert f"root key file {other} does not match the root key {data_dir / 'trent.db'} was created" in done.stderr
