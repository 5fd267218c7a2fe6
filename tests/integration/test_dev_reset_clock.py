"""A dev server's /_trent/reset and /_trent/clock (docs/dev-mode.md) against a real `trent serve --dev` with two
workers: a reset empties it for every worker in milliseconds; the test clock moves deletion windows, rotation
periods, import tokens and material expiry for every process, and the jobs act on it."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.importing import import_material, wrap
from tests.support import TrentServer, dev_call, error_of, trent_command
from trent.devstate import DevState

pytestmark = pytest.mark.integration
DAY = 86400
_DATA_DIR = re.compile(r"data directory: (\S+), removed at exit")


@pytest.fixture(scope="module")
def dev() -> Iterator[TrentServer]:
    with TrentServer(None, args=("--dev",), admin_from_env=False) as running:
        yield running


@pytest.fixture
def kms(dev: TrentServer) -> Any:
    assert dev_call(dev.endpoint, "POST", "/_trent/reset")[0] == 200
    return dev.client(access_key="test", secret="test")


def advance(dev: TrentServer, seconds: float) -> dict[str, Any]:
    status, answer = dev_call(dev.endpoint, "POST", "/_trent/clock", {"advance_seconds": seconds})
    assert status == 200, answer
    return dict(answer)


# --- reset ----------------------------------------------------------------------------------------------


def test_a_reset_empties_the_server_for_every_worker(dev: TrentServer, kms: Any) -> None:
    key_id = kms.create_key(Description="before")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/before", TargetKeyId=key_id)
    other = dev.client(access_key="444455556666", secret="test")
    other.create_key()
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    started = time.monotonic()
    status, answer = dev_call(dev.endpoint, "POST", "/_trent/reset")
    assert status == 200 and answer["reset"] is True
    assert answer["milliseconds"] < 500 and time.monotonic() - started < 2
    for _ in range(8):  # new connections: the kernel spreads them over both workers
        fresh = dev.client(access_key="test", secret="test")
        assert fresh.list_keys()["Keys"] == []
        assert [a for a in fresh.list_aliases()["Aliases"] if a["AliasName"] == "alias/before"] == []
        with pytest.raises(ClientError) as exc:
            fresh.describe_key(KeyId=key_id)
        assert error_of(exc)[0] == "NotFoundException"
        with pytest.raises(ClientError) as exc:
            fresh.decrypt(CiphertextBlob=blob)
        assert error_of(exc)[0] == "AccessDeniedException"  # AWS: the ciphertext's key does not exist
    assert other.list_keys()["Keys"] == []
    assert kms.create_key()["KeyMetadata"]["KeyId"]  # and it serves on as before


def test_a_reset_forgets_multi_region_keys_in_every_region(dev: TrentServer, kms: Any) -> None:
    primary = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=primary, ReplicaRegion="eu-west-1")
    replicas = dev.client(access_key="test", secret="test", region="eu-west-1")
    assert [k["KeyId"] for k in replicas.list_keys()["Keys"]] == [primary]
    dev_call(dev.endpoint, "POST", "/_trent/reset")
    assert kms.list_keys()["Keys"] == [] and replicas.list_keys()["Keys"] == []
    again = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]  # and they can be made anew
    kms.replicate_key(KeyId=again, ReplicaRegion="eu-west-1")


def test_trent_admin_reset(dev: TrentServer, kms: Any, server: TrentServer) -> None:
    kms.create_key()
    done = subprocess.run(
        [*trent_command(), "admin", "reset", "--endpoint", dev.endpoint], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.startswith(f"reset {dev.endpoint} in ")
    assert kms.list_keys()["Keys"] == []
    done = subprocess.run(
        [*trent_command(), "admin", "reset", "--endpoint", server.endpoint], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "is not a dev server" in done.stderr


# --- the test clock -------------------------------------------------------------------------------------


def test_the_clock_is_read_and_moved_and_a_reset_brings_it_back(dev: TrentServer, kms: Any) -> None:
    status, now = dev_call(dev.endpoint, "GET", "/_trent/clock")
    assert status == 200 and now["offset_seconds"] == 0
    assert abs(datetime.fromisoformat(now["now"]) - datetime.now(UTC)) < timedelta(seconds=30)
    moved = advance(dev, 3 * DAY)
    assert moved["offset_seconds"] == 3 * DAY
    assert abs(datetime.fromisoformat(moved["now"]) - datetime.now(UTC) - timedelta(days=3)) < timedelta(seconds=30)
    created = kms.create_key()["KeyMetadata"]["CreationDate"]  # the server's time is the moved one
    assert created > datetime.now(UTC) + timedelta(days=2)
    for bad in ({"advance_seconds": -1}, {"advance_seconds": "1"}, {"advance_seconds": True}, {}, [1]):
        status, answer = dev_call(dev.endpoint, "POST", "/_trent/clock", bad)
        assert status == 400 and "advance_seconds" in answer["message"]
    dev_call(dev.endpoint, "POST", "/_trent/reset")
    assert dev_call(dev.endpoint, "GET", "/_trent/clock")[1]["offset_seconds"] == 0


def test_a_deletion_window_ends_when_the_clock_passes_it(dev: TrentServer, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    advance(dev, 6 * DAY)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    advance(dev, DAY + 60)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=key_id)
    assert error_of(exc)[0] == "NotFoundException"


def test_an_import_token_expires_after_24_hours(dev: TrentServer, kms: Any) -> None:
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    advance(dev, DAY + 60)
    with pytest.raises(ClientError) as exc:
        kms.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", b"k" * 32),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    assert error_of(exc)[0] == "ExpiredImportTokenException"


def test_imported_material_expires_at_its_valid_to(dev: TrentServer, kms: Any) -> None:
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    valid_to = datetime.now(UTC) + timedelta(hours=1)
    import_material(kms, key_id, b"k" * 32, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    advance(dev, 2 * 3600)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_automatic_rotation_happens_when_its_period_is_over(dev: TrentServer, kms: Any) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"old")["CiphertextBlob"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    advance(dev, 89 * DAY)
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []
    advance(dev, DAY + 3600)
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"old"
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["NextRotationDate"] > datetime.now(UTC) + timedelta(days=170)


def test_the_supervisors_jobs_run_on_the_moved_clock_too(dev: TrentServer, kms: Any) -> None:
    """The clock endpoint runs the jobs at once; here the clock is moved in the shared state file alone, so only
    the supervisor's own round of jobs (every 5 s) can destroy the key: it reads the moved clock too."""
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    found = _DATA_DIR.search("".join(dev.output))
    assert found is not None
    state = DevState(Path(found.group(1)) / "dev.state")
    try:
        state.advance(7 * DAY + 60)
    finally:
        state.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            kms.describe_key(KeyId=key_id)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "NotFoundException"
            return
        time.sleep(0.5)
    pytest.fail("the supervisor's jobs did not destroy the key on the moved clock")
