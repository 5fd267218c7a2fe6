"""`trent admin xks ...`: logical key stores, their credentials (generated in the specification's lengths and
shown once, or given), rotation, exposures of Trent keys, and the refusals an operator meets."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.xks_client import XksClient, data_dir_of
from tests.support import TrentServer, trent_command


def _run(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*trent_command(), "admin", "xks", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
    )


def _ok(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    done = _run(data_dir, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _refused(data_dir: Path, *args: str) -> str:
    done = _run(data_dir, *args)
    assert done.returncode == 1 and "Traceback" not in done.stderr, (done.stdout, done.stderr)
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    with TrentServer(tmp_path_factory.mktemp("xks-admin"), workers=1) as running:
        yield running


def _listed(data_dir: Path) -> dict[str, dict[str, Any]]:
    return {s["UriPrefix"]: s for s in json.loads(_ok(data_dir, "list-keystores"))}


def test_a_generated_credential_has_the_specifications_shape_and_is_shown_once(server: TrentServer) -> None:
    out = _ok(data_dir_of(server), "create-keystore", "--uri-prefix", "/gen/one/")
    key_id = re.search(r"AccessKeyId\s+= (\S+)", out)
    secret = re.search(r"RawSecretAccessKey\s+= (\S+)", out)
    assert key_id and re.fullmatch(r"[A-Z2-7]{20,30}", key_id.group(1)), out
    assert secret and re.fullmatch(r"[A-Za-z0-9/+=]{43,64}", secret.group(1)), out
    assert "/gen/one/kms/xks/v1" in out
    listed = _listed(data_dir_of(server))["gen/one"]
    assert listed["AccessKeyId"] == key_id.group(1) and listed["Enabled"] is True
    assert secret.group(1) not in json.dumps(listed) and listed["XksProxyUriPath"] == "/gen/one/kms/xks/v1"


def test_a_given_credential_is_checked_and_kept(server: TrentServer) -> None:
    given = ("--access-key-id", "GIVENKEYID234567ABCD", "--secret-access-key", "A" * 43)
    out = _ok(data_dir_of(server), "create-keystore", "--uri-prefix", "given", *given)
    assert "GIVENKEYID234567ABCD" in out and "RawSecretAccessKey" not in out
    assert "already" in _refused(data_dir_of(server), "create-keystore", "--uri-prefix", "given")
    assert "already" in _refused(data_dir_of(server), "create-keystore", "--uri-prefix", "given2", *given)
    bad_id = ("--access-key-id", "AKIA0000000000000000", "--secret-access-key", "A" * 43)  # 0 is not base32
    assert "20-30 characters" in _refused(data_dir_of(server), "create-keystore", "--uri-prefix", "x1", *bad_id)
    short = ("--access-key-id", "GIVENKEYID234567ABCE", "--secret-access-key", "A" * 42)
    assert "43-64 characters" in _refused(data_dir_of(server), "create-keystore", "--uri-prefix", "x2", *short)
    assert "go together" in _refused(
        data_dir_of(server), "create-keystore", "--uri-prefix", "x3", "--access-key-id", "A" * 20
    )
    assert "URI prefix" in _refused(data_dir_of(server), "create-keystore", "--uri-prefix", "bad prefix!")
    assert "URI prefix" in _refused(data_dir_of(server), "create-keystore", "--uri-prefix", "a" * 117)


def test_a_secret_is_read_from_a_file_or_standard_input_off_the_command_line(
    server: TrentServer, tmp_path: Path
) -> None:
    secret_file, secret = tmp_path / "secret", "B" * 22 + "c" * 22
    secret_file.write_text(secret + "\n")
    given = ("--access-key-id", "FILEKEYID234567ABCDE", "--secret-access-key-file", str(secret_file))
    out = _ok(data_dir_of(server), "create-keystore", "--uri-prefix", "from/file", *given)
    assert "FILEKEYID234567ABCDE" in out and "RawSecretAccessKey" not in out
    assert XksClient(server.endpoint, "from/file", "FILEKEYID234567ABCDE", secret).health().status == 200
    rotated = "D" * 50
    stdin = ("--access-key-id", "STDINKEYID234567ABCD", "--secret-access-key-file", "-")
    _ok(data_dir_of(server), "rotate-credential", "--uri-prefix", "from/file", *stdin, stdin=rotated + "\n")
    assert XksClient(server.endpoint, "from/file", "STDINKEYID234567ABCD", rotated).health().status == 200
    both = (*given, "--secret-access-key", secret)
    done = _run(data_dir_of(server), "create-keystore", "--uri-prefix", "from/both", *both)
    assert done.returncode == 2 and "not both" in done.stderr
    help_text = _ok(data_dir_of(server), "create-keystore", "--help")
    assert "--secret-access-key-file" in help_text and "Preferred" in help_text


def test_rotation_keeps_the_previous_credential_until_retired(server: TrentServer) -> None:
    _ok(data_dir_of(server), "create-keystore", "--uri-prefix", "rot")
    first = _listed(data_dir_of(server))["rot"]["AccessKeyId"]
    out = _ok(data_dir_of(server), "rotate-credential", "--uri-prefix", "rot")
    listed = _listed(data_dir_of(server))["rot"]
    assert listed["PreviousAccessKeyId"] == first and listed["AccessKeyId"] != first and "RawSecretAccessKey" in out
    _ok(data_dir_of(server), "retire-credential", "--uri-prefix", "rot")
    assert _listed(data_dir_of(server))["rot"]["PreviousAccessKeyId"] is None
    assert "no XKS key store" in _refused(data_dir_of(server), "rotate-credential", "--uri-prefix", "nothere")


def test_expose_disable_and_delete(server: TrentServer) -> None:
    kms = server.client()
    key = kms.create_key()["KeyMetadata"]
    hmac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    _ok(data_dir_of(server), "create-keystore", "--uri-prefix", "exp")
    _ok(data_dir_of(server), "expose", "--uri-prefix", "exp", "--key-id", key["Arn"], "--usage", "ENCRYPT")
    _ok(
        data_dir_of(server),
        *("expose", "--uri-prefix", "exp", "--key-id", key["KeyId"], "--allow-principal", "arn:aws:iam::1:user/A"),
    )
    (exposed,) = _listed(data_dir_of(server))["exp"]["Keys"]
    assert exposed == {
        "KeyId": key["KeyId"],
        "KeyUsage": "ENCRYPT,DECRYPT",
        "AllowedPrincipals": ["arn:aws:iam::1:user/A"],
        "AllowedOperations": [],
    }
    assert "SYMMETRIC_DEFAULT" in _refused(
        data_dir_of(server), "expose", "--uri-prefix", "exp", "--key-id", hmac["KeyId"]
    )
    assert "no key" in _refused(data_dir_of(server), "expose", "--uri-prefix", "exp", "--key-id", "nope")
    mrk = kms.create_key(MultiRegion=True)["KeyMetadata"]
    assert "multi-Region" in _refused(data_dir_of(server), "expose", "--uri-prefix", "exp", "--key-id", mrk["Arn"])
    assert "--usage" in _refused(
        data_dir_of(server), "expose", "--uri-prefix", "exp", "--key-id", key["KeyId"], "--usage", "SIGN"
    )
    assert "no XKS key store" in _refused(
        data_dir_of(server), "expose", "--uri-prefix", "none", "--key-id", key["KeyId"]
    )
    _ok(data_dir_of(server), "disable-keystore", "--uri-prefix", "exp")
    assert _listed(data_dir_of(server))["exp"]["Enabled"] is False
    _ok(data_dir_of(server), "enable-keystore", "--uri-prefix", "exp")
    assert _listed(data_dir_of(server))["exp"]["Enabled"] is True
    _ok(data_dir_of(server), "unexpose", "--uri-prefix", "exp", "--key-id", key["KeyId"])
    assert "not exposed" in _refused(data_dir_of(server), "unexpose", "--uri-prefix", "exp", "--key-id", key["KeyId"])
    _ok(data_dir_of(server), "delete-keystore", "--uri-prefix", "exp")
    assert "exp" not in _listed(data_dir_of(server))
    assert "no XKS key store" in _refused(data_dir_of(server), "delete-keystore", "--uri-prefix", "exp")


def test_every_change_has_an_audit_record_without_the_secret(server: TrentServer) -> None:
    secret = "S" * 44
    given = ("--access-key-id", "AUDITEDKEYID234567AB", "--secret-access-key", secret)
    _ok(data_dir_of(server), "create-keystore", "--uri-prefix", "audited", *given)
    _ok(data_dir_of(server), "disable-keystore", "--uri-prefix", "audited")
    _ok(data_dir_of(server), "delete-keystore", "--uri-prefix", "audited")
    done = subprocess.run(
        [*trent_command(), "audit", "query", "--data-dir", str(data_dir_of(server))],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert secret not in done.stdout
    records = [json.loads(line) for line in done.stdout.splitlines()]
    mine = [r for r in records if r["requestParameters"] and r["requestParameters"].get("uriPrefix") == "audited"]
    assert [r["eventName"] for r in mine] == ["CreateXksKeyStore", "DisableXksKeyStore", "DeleteXksKeyStore"]
    assert mine[0]["eventSource"] == "kms-xks-proxy" and mine[0]["requestParameters"]["accessKeyId"] == given[1]
