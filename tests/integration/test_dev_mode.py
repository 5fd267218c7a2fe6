"""`trent serve --dev` (docs/dev-mode.md): any credentials, an account per 12-digit access key id, SigV4 still
checked as a request, everything else real; a throwaway data directory; loopback only; /_trent/ endpoints.

One dev server (2 workers) for the module; each test resets it first."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support import TrentServer, dev_call, error_of, http, kms_client, trent_command

pytestmark = pytest.mark.integration
_DATA_DIR = re.compile(r"data directory: (\S+), removed at exit")


@pytest.fixture(scope="module")
def dev() -> Iterator[TrentServer]:
    with TrentServer(None, args=("--dev",), admin_from_env=False) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(dev: TrentServer) -> None:
    assert dev_call(dev.endpoint, "POST", "/_trent/reset")[0] == 200


def test_the_start_says_authentication_is_off_and_which_credentials_to_use(dev: TrentServer) -> None:
    text = "".join(dev.output)
    assert "AUTHENTICATION IS OFF" in text
    assert f"AWS_ENDPOINT_URL={dev.endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test" in text
    assert "aws_secret_access_key" not in text  # no admin key is made: none is needed


@pytest.mark.parametrize(("key_id", "secret"), [("FOOBARKEY", "FOOBARSECRET"), ("test", "test"), ("AKIA" * 5, "x")])
def test_any_credentials_act_as_the_default_accounts_root(dev: TrentServer, key_id: str, secret: str) -> None:
    kms = dev.client(access_key=key_id, secret=secret)
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    assert arn.startswith("arn:aws:kms:us-east-1:111122223333:key/")
    blob = kms.encrypt(KeyId=arn, Plaintext=b"hi")["CiphertextBlob"]
    other = dev.client(access_key="somebody-else", secret="anything")  # the same account, so the same key
    assert other.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hi"


def test_a_12_digit_access_key_id_selects_that_account(dev: TrentServer) -> None:
    a = dev.client(access_key="444455556666", secret="test")
    b = dev.client(access_key="777788889999", secret="test")
    key = a.create_key()["KeyMetadata"]
    assert key["AWSAccountId"] == "444455556666"
    assert [k["KeyId"] for k in a.list_keys()["Keys"]] == [key["KeyId"]]
    assert b.list_keys()["Keys"] == []
    with pytest.raises(ClientError) as exc:  # policies are real: another account's key is not B's to use
        b.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    assert error_of(exc)[0] == "AccessDeniedException"


def test_a_key_policy_is_enforced(dev: TrentServer) -> None:
    kms = dev.client(access_key="test", secret="test")
    root = "arn:aws:iam::111122223333:root"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": root}, "Action": "kms:Encrypt", "Resource": "*"},
        ],
    }
    key_id = kms.create_key(Policy=json.dumps(policy), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error_of(exc)[0] == "AccessDeniedException"
    kms.disable_key(KeyId=key_id)  # key states too
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert error_of(exc)[0] == "DisabledException"


def test_a_session_token_is_accepted(dev: TrentServer) -> None:
    import boto3

    kms = boto3.client(
        "kms",
        endpoint_url=dev.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        aws_session_token="test",
    )
    assert kms.create_key()["KeyMetadata"]["Arn"].startswith("arn:aws:kms:eu-west-1:111122223333:")


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "MissingAuthenticationTokenException"),
        ("AWS4-HMAC-SHA256 Credential=test", "IncompleteSignatureException"),
        (
            "AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date;"
            "x-amz-target, Signature=00",
            "InvalidSignatureException",  # signed five years ago: the date is still checked
        ),
    ],
)
def test_a_request_is_still_checked_as_sigv4(dev: TrentServer, authorization: str | None, code: str) -> None:
    headers = {
        "X-Amz-Target": "TrentService.ListKeys",
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Date": "20200101T000000Z",
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    status, body = http(dev.endpoint, "POST", "/", b"{}", headers)
    assert status in (400, 403) and json.loads(body)["__type"].endswith(code)


def test_a_wrong_region_in_the_scope_is_refused(dev: TrentServer) -> None:
    kms = kms_client(dev.endpoint, access_key="test", secret="test", region="US-EAST-1")
    with pytest.raises(ClientError) as exc:
        kms.list_keys()
    assert error_of(exc)[0] == "InvalidSignatureException"


def test_an_access_key_the_store_holds_is_still_verified(dev: TrentServer, tmp_path: Path) -> None:
    data_dir = _DATA_DIR.search("".join(dev.output))
    assert data_dir is not None
    made = subprocess.run(
        [*trent_command(), "admin", "create-access-key", "--data-dir", data_dir.group(1)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key_id = re.search(r"AKIA\w+", made)
    assert key_id is not None
    with pytest.raises(ClientError) as exc:
        dev.client(access_key=key_id.group(0), secret="not its secret").list_keys()
    assert error_of(exc)[0] == "InvalidSignatureException"
    subprocess.run(
        [*trent_command(), "admin", "update-access-key", "--data-dir", data_dir.group(1), key_id.group(0)]
        + ["--status", "Inactive"],
        capture_output=True,
        check=True,
    )
    with pytest.raises(ClientError) as exc:  # a revoked key stays revoked: it does not become "any" key
        dev.client(access_key=key_id.group(0), secret="anything").list_keys()
    assert error_of(exc)[0] == "UnrecognizedClientException"


def test_the_throwaway_data_directory_is_removed_at_exit(tmp_path: Path) -> None:
    server = TrentServer(None, workers=1, args=("--dev",), admin_from_env=False).start()
    found = _DATA_DIR.search("".join(server.output))
    assert found is not None and Path(found.group(1)).is_dir()
    server.stop()
    assert not Path(found.group(1)).exists()


def test_a_given_data_directory_is_kept(tmp_path: Path) -> None:
    with TrentServer(tmp_path / "kept", workers=1, args=("--dev",), admin_from_env=False) as server:
        key_id = server.client(access_key="test", secret="test").create_key()["KeyMetadata"]["KeyId"]
        assert ", kept)" in "".join(server.output)
    with TrentServer(tmp_path / "kept", workers=1, args=("--dev",), admin_from_env=False) as server:
        assert server.client(access_key="test", secret="test").describe_key(KeyId=key_id)["KeyMetadata"]


def _serve_fails(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [*trent_command(), "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode != 0
    return done.stderr


def test_dev_mode_on_a_reachable_address_is_refused_unless_allowed(tmp_path: Path) -> None:
    err = _serve_fails("--dev", "--host", "0.0.0.0")
    assert "only on a loopback address" in err and "--dev-allow-remote" in err


def test_outside_dev_mode_short_admin_ids_are_refused_with_awss_rule(tmp_path: Path) -> None:
    env = {"TRENT_ADMIN_ACCESS_KEY_ID": "FOOBARKEY", "TRENT_ADMIN_SECRET_ACCESS_KEY": "FOOBARSECRET"}
    err = _serve_fails("--data-dir", str(tmp_path / "d"), env=env)
    assert "16-128 word characters" in err and "--dev" in err


def test_in_dev_mode_a_short_admin_id_is_the_admins(tmp_path: Path) -> None:
    env = {"TRENT_ADMIN_ACCESS_KEY_ID": "FOOBARKEY", "TRENT_ADMIN_SECRET_ACCESS_KEY": "FOOBARSECRET"}
    with TrentServer(None, workers=1, args=("--dev",), admin_from_env=False, env=env) as server:
        kms = server.client(access_key="FOOBARKEY", secret="FOOBARSECRET")
        assert kms.create_key()["KeyMetadata"]["AWSAccountId"] == "111122223333"
        with pytest.raises(ClientError) as exc:  # a stored key: its secret is checked
            server.client(access_key="FOOBARKEY", secret="wrong").list_keys()
        assert error_of(exc)[0] == "InvalidSignatureException"


def test_outside_dev_mode_there_is_no_trent_endpoint(server: TrentServer) -> None:
    for path in ("/_trent/reset", "/_trent/clock"):
        assert dev_call(server.endpoint, "POST", path, {"advance_seconds": 1})[0] == 404
        assert dev_call(server.endpoint, "GET", path)[0] in (404, 405)
