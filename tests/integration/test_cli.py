"""`trent serve` and `trent admin` as a new user meets them: first start, credentials, accounts, settings."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support import TrentServer, error_of, kms_client, trent_command


def _admin(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [*trent_command(), "admin", *args, "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


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
        assert error_of(exc) == (
            "AccessDeniedException",
            f"User: arn:aws:iam::777788889999:root is not authorized to perform: kms:Encrypt on resource: "
            f"{key['Arn']} because no resource-based policy allows the kms:Encrypt action",
        )
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
