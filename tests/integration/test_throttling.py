"""`trent serve --throttle aws`: AWS KMS's request quotas, per account and Region, across the workers; what boto3
sees with its retries off (ThrottlingException, 400, AWS's text) and that its standard retry mode gets through.

The server runs AWS's defaults but for a few quotas made small with --quota, so a test can exceed them."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.principals import admin
from tests.postgres import url_of
from tests.support import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, TrentServer, trent_command

THROTTLED = (
    "ThrottlingException",
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
)
DESCRIBE_RPS = 4
RSA_RPS = 3
QUOTAS = f"DescribeKey={DESCRIBE_RPS},rsa={RSA_RPS},ListAliases=2"
OTHER = ("AKIATHROTTLEOTHER001", "throttle-other-secret-0001")  # the root of account 444455556666


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrentServer]:
    env = {"TRENT_THROTTLE": "aws", "TRENT_QUOTAS": QUOTAS}
    with TrentServer(tmp_path_factory.mktemp("throttle"), workers=2, env=env) as server:
        admin(
            server.data_dir,
            "create-account",
            "444455556666",
            "--access-key-id",
            OTHER[0],
            "--secret-access-key",
            OTHER[1],
        )
        yield server


def client(server: TrentServer, retries: dict[str, Any] | None = None, **credentials: str) -> Any:
    """A boto3 client of its own (its own connection), retries off unless given."""
    return boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name=credentials.get("region", REGION),
        aws_access_key_id=credentials.get("access_key", ACCESS_KEY_ID),
        aws_secret_access_key=credentials.get("secret", SECRET_ACCESS_KEY),
        config=Config(retries=retries or {"max_attempts": 0}),
    )


def _error(exc: ClientError) -> tuple[str, str]:
    error = exc.response["Error"]
    return error.get("Code", ""), error.get("Message", "")


def _burst(call: Any, count: int) -> tuple[int, list[tuple[str, str]], float]:
    """`count` calls as fast as they go: (successes, errors, seconds taken)."""
    ok, errors, started = 0, [], time.monotonic()
    for _ in range(count):
        try:
            call()
            ok += 1
        except ClientError as exc:
            errors.append(_error(exc))
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return ok, errors, time.monotonic() - started


def _refill(seconds: float = 1.1) -> None:
    time.sleep(seconds)  # every small bucket here is full again after a second


def test_a_quota_exceeded_is_throttlingexception_400_with_awss_text(throttled: TrentServer) -> None:
    kms = client(throttled)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    _refill()
    ok, errors, seconds = _burst(lambda: kms.describe_key(KeyId=key), 20)
    # A second's worth of burst, and what the quota refilled while the burst ran.
    assert DESCRIBE_RPS <= ok <= DESCRIBE_RPS + DESCRIBE_RPS * seconds + 1, (ok, seconds)
    assert errors and set(errors) == {THROTTLED}


def test_the_sdks_standard_retry_mode_gets_every_request_through(throttled: TrentServer) -> None:
    kms = client(throttled)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    _refill()
    retrying = client(throttled, {"mode": "standard", "max_attempts": 10})
    started = time.monotonic()
    for _ in range(3 * DESCRIBE_RPS):
        assert retrying.describe_key(KeyId=key)["KeyMetadata"]["KeyId"] == key
    # Three quotas' worth took at least the two seconds the quota needed to refill: the server did throttle.
    assert time.monotonic() - started >= 2 * 0.9
    _refill()
    ok, errors, _ = _burst(lambda: kms.describe_key(KeyId=key), 3 * DESCRIBE_RPS)  # the same, retries off
    assert ok < 3 * DESCRIBE_RPS and set(errors) == {THROTTLED}


def test_quotas_are_independent_of_each_other(throttled: TrentServer) -> None:
    kms = client(throttled)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    _refill()
    assert _burst(lambda: kms.describe_key(KeyId=key), 3 * DESCRIBE_RPS)[1]  # DescribeKey is exhausted
    # "requests for the CreateKey operation have no effect on the request quota for the CreateAlias operation"
    assert kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
    assert kms.encrypt(KeyId=key, Plaintext=b"x")["KeyId"].endswith(key)  # the shared symmetric quota: 100,000
    assert kms.list_keys(Limit=1)["Keys"]


def test_cryptographic_operations_share_the_quota_of_their_keys_type(throttled: TrentServer) -> None:
    kms = client(throttled)
    rsa_encrypting = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    rsa_signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    _refill()
    calls = [
        lambda: kms.sign(KeyId=rsa_signing, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256"),
        lambda: kms.encrypt(KeyId=rsa_encrypting, Plaintext=b"m", EncryptionAlgorithm="RSAES_OAEP_SHA_256"),
    ]
    ok, errors, started = 0, [], time.monotonic()
    for n in range(4 * RSA_RPS):  # Sign and Encrypt, by turns, on two RSA keys: one quota between them
        try:
            calls[n % 2]()
            ok += 1
        except ClientError as exc:
            errors.append(_error(exc))
    assert RSA_RPS <= ok <= RSA_RPS + RSA_RPS * (time.monotonic() - started) + 1, ok
    assert set(errors) == {THROTTLED}
    assert kms.encrypt(KeyId=symmetric, Plaintext=b"m")  # symmetric keys draw from another quota
    assert kms.get_public_key(KeyId=rsa_signing)["KeyId"]  # GetPublicKey has a quota of its own


def test_quotas_are_per_account_and_per_region(throttled: TrentServer) -> None:
    mine = client(throttled)
    _refill()
    assert _burst(lambda: mine.list_aliases(), 10)[1]  # ListAliases=2: exhausted for this account in us-east-1
    assert client(throttled, region="eu-west-1").list_aliases()["Aliases"] == []  # another Region
    other = client(throttled, access_key=OTHER[0], secret=OTHER[1])
    assert other.list_aliases()["Aliases"] == []  # another account


def test_one_quota_holds_across_the_workers(throttled: TrentServer) -> None:
    """Eight clients, each on its own connection (the kernel spreads connections over the 2 workers), draw
    together from one DescribeKey quota: together they get what one would, not twice."""
    key = client(throttled).create_key()["KeyMetadata"]["KeyId"]
    clients = [client(throttled) for _ in range(8)]
    for each in clients:
        each.list_keys(Limit=1)  # connect first
    _refill()
    counts: list[int] = []
    started = time.monotonic()

    def run(kms: Any) -> None:
        counts.append(_burst(lambda: kms.describe_key(KeyId=key), 6)[0])

    threads = [threading.Thread(target=run, args=(each,)) for each in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    seconds = time.monotonic() - started
    assert DESCRIBE_RPS <= sum(counts) <= DESCRIBE_RPS + DESCRIBE_RPS * seconds + 1, (counts, seconds)


def test_throttling_is_off_by_default(server: TrentServer) -> None:
    kms = server.client()
    for _ in range(12):  # AWS's CreateKey quota is 5 a second
        kms.create_key(Description="not throttled")


def test_a_quota_that_is_none_of_awss_is_refused_at_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [*trent_command(), "serve", "--data-dir", str(tmp_path / "d"), "--port", "0", "--throttle", "aws"]
        + ["--quota", "DescribeKey=5", "--quota", "Encrypt=5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "--quota Encrypt=5: there is no quota 'Encrypt'" in done.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was made


def test_the_throttled_request_is_audited(throttled: TrentServer) -> None:
    kms = client(throttled)
    _refill()
    assert _burst(lambda: kms.list_aliases(), 10)[1]
    done = subprocess.run(
        [*trent_command(), "audit", "query", "--data-dir", str(throttled.data_dir), "--error", "ThrottlingException"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records and {r["eventName"] for r in records} >= {"ListAliases"}
    assert {r["errorMessage"] for r in records} == {THROTTLED[1]}


def test_on_postgresql_each_node_holds_its_own_quota(postgres_url: str, tmp_path: Path) -> None:
    """Nodes share the store, not their buckets: a quota holds per node (docs/throttling.md, "Nodes"). The
    requests of a PostgreSQL node go through its read batcher; throttling is the same there."""
    env = {
        "TRENT_DATABASE_URL": url_of(postgres_url),
        "TRENT_ROOT_KEY_FILE": str(tmp_path / "keys" / "root.key"),
        "TRENT_THROTTLE": "aws",
        "TRENT_QUOTAS": "DescribeKey=3",
    }
    with TrentServer(tmp_path / "a", workers=1, env=env) as first, TrentServer(tmp_path / "b", workers=1, env=env) as b:
        kms = client(first)
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        _refill()
        ok, errors, seconds = _burst(lambda: kms.describe_key(KeyId=key), 12)
        assert 3 <= ok <= 3 + 3 * seconds + 1 and set(errors) == {THROTTLED}
        assert client(b).describe_key(KeyId=key)["KeyMetadata"]["KeyId"] == key  # the other node: its own bucket
