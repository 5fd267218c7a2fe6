"""Real `trent serve` nodes on one PostgreSQL database and one root key file (TRENT_DATABASE_URL,
TRENT_ROOT_KEY_FILE), each with its own data directory and port: what one node stores survives its restart,
and what one node changes, every other node obeys from its next request on."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.postgres import database_name, url_of
from tests.support import ACCOUNT, TrentServer, error_of, kms_client, trent_command
from trent.rootoftrust.software import SoftwareRoot

ROOT = f"arn:aws:iam::{ACCOUNT}:root"


@pytest.fixture
def shared(postgres_url: str, tmp_path: Path) -> dict[str, str]:
    """What every node is given: the database and the root key file (made by the first node to start)."""
    return {"TRENT_DATABASE_URL": url_of(postgres_url), "TRENT_ROOT_KEY_FILE": str(tmp_path / "keys" / "root.key")}


def _admin(shared: dict[str, str], data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")} | shared
    done = subprocess.run(
        [*trent_command(), "admin", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _policy(*extra: dict[str, Any]) -> str:
    allow = {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [allow, *extra]})


def test_one_node_on_postgresql_keeps_everything_across_a_restart(
    shared: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "a"
    with TrentServer(data_dir, env=shared) as node:
        kms = node.client()
        key = kms.create_key(Description="on postgresql")["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key, Plaintext=b"kept")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
        kms.create_alias(AliasName="alias/kept", TargetKeyId=key)
        grant = kms.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/bob", Operations=["Decrypt"])
        policy = _policy({"Sid": "extra", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:Decrypt"})
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy)
        disabled = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.disable_key(KeyId=disabled)
        doomed = kms.create_key()["KeyMetadata"]["KeyId"]
        deletion = kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)["DeletionDate"]
        made = json.loads(_admin(shared, data_dir, "create-access-key", "--json"))
        assert made["AccessKeyId"] in _admin(shared, data_dir, "list-access-keys")
        extra = kms_client(node.endpoint, access_key=made["AccessKeyId"], secret=made["SecretAccessKey"])
        assert {k["KeyId"] for k in extra.list_keys()["Keys"]} == {key, disabled, doomed}
        deadline = time.monotonic() + 10  # a use reaches the store once the audit writer chained it
        while "KeyLastUsage" not in (usage := kms.get_key_last_usage(KeyId=key)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert usage["KeyLastUsage"]["Operation"] == "Decrypt"
        first = node.output[0]
        assert f"(data directory: {data_dir}, store: PostgreSQL database postgresql://" in first
        assert database_name(postgres_url) in first
    assert not (data_dir / "trent.db").exists()
    with TrentServer(data_dir, env=shared) as again:
        kms = again.client()
        assert kms.describe_key(KeyId="alias/kept")["KeyMetadata"]["Description"] == "on postgresql"
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
        assert [g["GrantId"] for g in kms.list_grants(KeyId=key)["Grants"]] == [grant["GrantId"]]
        assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]) == json.loads(policy)
        assert kms.describe_key(KeyId=disabled)["KeyMetadata"]["KeyState"] == "Disabled"
        meta = kms.describe_key(KeyId=doomed)["KeyMetadata"]
        assert meta["KeyState"] == "PendingDeletion" and meta["DeletionDate"] == deletion
        assert kms.get_key_last_usage(KeyId=key)["KeyLastUsage"]["Operation"] == "Decrypt"
        extra = kms_client(again.endpoint, access_key=made["AccessKeyId"], secret=made["SecretAccessKey"])
        assert len(extra.list_keys()["Keys"]) == 3


@pytest.fixture
def nodes(shared: dict[str, str], tmp_path: Path) -> Iterator[tuple[TrentServer, TrentServer]]:
    with TrentServer(tmp_path / "a", env=shared) as a, TrentServer(tmp_path / "b", env=shared) as b:
        yield a, b


def _fails_on_every_worker(clients: list[Any], call: Callable[[Any], object]) -> set[str]:
    """The error codes of `call` on every client (separate connections: spread over the node's workers)."""
    codes = set()
    for client in clients:
        with pytest.raises(ClientError) as exc:
            call(client)
        codes.add(error_of(exc)[0])
    return codes


def _warm(node: TrentServer, call: Callable[[Any], object], **client: str) -> list[Any]:
    """Clients of `node` whose call succeeded: each worker has the key, alias or secret in its caches now."""
    clients = [node.client(**client) for _ in range(6)]
    for c in clients:
        call(c)
    return clients


def test_what_one_node_changes_the_other_obeys_at_once(
    nodes: tuple[TrentServer, TrentServer], shared: dict[str, str], tmp_path: Path
) -> None:
    a, b = nodes
    on_a = a.client()
    key = on_a.create_key()["KeyMetadata"]["KeyId"]
    blob = a.client().encrypt(KeyId=key, Plaintext=b"shared")["CiphertextBlob"]
    assert b.client().decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"  # made on A, usable on B

    # DisableKey on A: B's next Encrypt fails.
    def encrypt(c: Any) -> object:
        return c.encrypt(KeyId=key, Plaintext=b"x")

    on_b = _warm(b, encrypt)
    on_a.disable_key(KeyId=key)
    assert _fails_on_every_worker(on_b, encrypt) == {"DisabledException"}
    on_a.enable_key(KeyId=key)
    _warm(b, encrypt)

    # UpdateAlias, then DeleteAlias on A.
    other = on_a.create_key()["KeyMetadata"]["KeyId"]
    on_a.create_alias(AliasName="alias/moving", TargetKeyId=key)

    def by_alias(c: Any) -> object:
        return c.encrypt(KeyId="alias/moving", Plaintext=b"x")["KeyId"]

    on_b = _warm(b, by_alias)
    on_a.update_alias(AliasName="alias/moving", TargetKeyId=other)
    assert {by_alias(c) for c in on_b} == {f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{other}"}
    on_a.delete_alias(AliasName="alias/moving")
    assert _fails_on_every_worker(on_b, by_alias) == {"NotFoundException"}

    # RevokeGrant on A: the grantee's next Encrypt on B is denied.
    _admin(shared, a.data_dir, "create-user", "bob")
    bob = json.loads(_admin(shared, a.data_dir, "create-access-key", "--user", "bob", "--json"))
    grant = on_a.create_grant(KeyId=key, GranteePrincipal=bob["Principal"], Operations=["Encrypt"])
    as_bob = {"access_key": bob["AccessKeyId"], "secret": bob["SecretAccessKey"]}
    bobs = _warm(b, encrypt, **as_bob)
    on_a.revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    assert _fails_on_every_worker(bobs, encrypt) == {"AccessDeniedException"}

    # PutKeyPolicy on A that denies Encrypt: B's next Encrypt is denied.
    on_b = _warm(b, encrypt)
    deny = {"Sid": "no", "Effect": "Deny", "Principal": {"AWS": ROOT}, "Action": "kms:Encrypt", "Resource": "*"}
    on_a.put_key_policy(KeyId=key, PolicyName="default", Policy=_policy(deny))
    assert _fails_on_every_worker(on_b, encrypt) == {"AccessDeniedException"}
    on_a.put_key_policy(KeyId=key, PolicyName="default", Policy=_policy())

    # An access key made Inactive by `trent admin` (through node A's data directory): B refuses it next.
    made = json.loads(_admin(shared, a.data_dir, "create-access-key", "--json"))
    as_made = {"access_key": made["AccessKeyId"], "secret": made["SecretAccessKey"]}
    clients = _warm(b, encrypt, **as_made)
    _admin(shared, a.data_dir, "update-access-key", made["AccessKeyId"], "--status", "Inactive")
    assert _fails_on_every_worker(clients, encrypt) == {"UnrecognizedClientException"}


def test_a_node_with_another_or_a_missing_root_key_file_is_refused(shared: dict[str, str], tmp_path: Path) -> None:
    other, lost = tmp_path / "other.key", tmp_path / "lost.key"
    SoftwareRoot.open(other)  # a valid root key file, of some other installation
    with TrentServer(tmp_path / "a", env=shared):
        for given, expected in (
            (other, f"root key file {other} does not match the root key PostgreSQL database "),
            (lost, f"root key file {lost} is missing, but PostgreSQL database "),
        ):
            node = TrentServer(tmp_path / "c", workers=1, env=shared | {"TRENT_ROOT_KEY_FILE": str(given)})
            with pytest.raises(RuntimeError) as refused:
                node.start()
            assert expected in str(refused.value)
            assert not (tmp_path / "c" / "audit.db").exists()
    assert not lost.exists()  # never made for a store that holds data


def _readyz(node: TrentServer, path: str = "/readyz") -> tuple[int, str, float]:
    url = urllib.parse.urlsplit(node.endpoint)
    started = time.monotonic()
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode(), time.monotonic() - started
    finally:
        conn.close()


def _metric(node: TrentServer, name: str) -> float:
    text = _readyz(node, "/metrics")[1]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.split("{")[0].split(" ")[0] == name)


def test_a_node_whose_database_goes_away_is_not_ready_fails_requests_and_recovers(
    postgres_server: str, postgres_url: str, shared: dict[str, str], tmp_path: Path
) -> None:
    """Connections cut while the server stays up are replaced unnoticed. The database refusing connections (and
    every open one cut): /readyz answers 503 within the check timeout, requests fail with KMSInternalException
    (never a hang, never a success), and once the database takes connections again the node serves again by
    itself."""
    name = database_name(postgres_url)
    with TrentServer(tmp_path / "a", env=shared) as node:
        kms = node.client()
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        clients = _warm(node, lambda c: c.encrypt(KeyId=key, Plaintext=b"x"))
        assert _readyz(node)[0] == 200
        opened = _metric(node, "trent_store_connections_opened_total")
        assert (
            _metric(node, "trent_store_round_trips_total") > 0 and _metric(node, "trent_read_batch_requests_count") > 0
        )
        # Every connection cut while the server stays up (a restart, a failover): nobody notices.
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        for client in clients:
            assert client.encrypt(KeyId=key, Plaintext=b"x")["KeyId"].endswith(key)
        assert kms.create_key()["KeyMetadata"]["KeyState"] == "Enabled"
        # Then the database refuses connections.
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            time.sleep(1.1)  # past the readiness answer's reuse
            status, body, took = _readyz(node)
            assert status == 503 and "store failed" in body, body
            assert took < 5
            for client in clients:
                started = time.monotonic()
                with pytest.raises(ClientError) as exc:
                    client.encrypt(KeyId=key, Plaintext=b"x")
                assert error_of(exc)[0] == "KMSInternalException" and time.monotonic() - started < 10
        finally:
            with psycopg.connect(postgres_server, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        time.sleep(1.1)
        deadline = time.monotonic() + 10
        while _readyz(node)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _readyz(node)[0] == 200
        for client in clients:
            assert client.encrypt(KeyId=key, Plaintext=b"x")["KeyId"].endswith(key)
        assert kms.create_key()["KeyMetadata"]["KeyState"] == "Enabled"  # writes too
        assert _metric(node, "trent_store_connections_opened_total") > opened  # /metrics shows the reconnections
