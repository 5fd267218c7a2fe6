"""Rotation through boto3: rotation really adds key material, old ciphertexts keep decrypting, ReEncrypt moves
data to the newest material, and automatic rotation runs by itself on its schedule."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import TrentServer, error_of


def test_enable_disable_and_status(kms: Any, raw_kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    initial = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert initial["KeyRotationEnabled"] is False and "RotationPeriodInDays" not in initial
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90
    days = (status["NextRotationDate"] - key["CreationDate"]).total_seconds() / 86400
    assert 89.9 < days < 90.1
    kms.enable_key_rotation(KeyId=key["KeyId"])  # keeps the period it has
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["RotationPeriodInDays"] == 90
    for bad in (89, 2561):
        with pytest.raises(ClientError) as exc:
            raw_kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=bad)
        assert error_of(exc)[0] == "ValidationException"
    kms.disable_key_rotation(KeyId=key["KeyId"])
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False and "NextRotationDate" not in status
    asymmetric = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    for call in (kms.enable_key_rotation, kms.rotate_key_on_demand, kms.get_key_rotation_status):
        with pytest.raises(ClientError) as exc:
            call(KeyId=asymmetric)
        assert error_of(exc)[0] == "UnsupportedOperationException"


def test_on_demand_rotation_keeps_old_ciphertexts(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    key_id = key["KeyId"]
    blobs = [kms.encrypt(KeyId=key_id, Plaintext=b"v1")["CiphertextBlob"]]
    material_ids = [key["CurrentKeyMaterialId"]]
    for n in range(2, 4):
        assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == key["Arn"]
        current = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
        assert current not in material_ids
        material_ids.append(current)
        blobs.append(kms.encrypt(KeyId=key_id, Plaintext=f"v{n}".encode())["CiphertextBlob"])
    for n, blob in enumerate(blobs, 1):
        out = kms.decrypt(CiphertextBlob=blob)
        assert out["Plaintext"] == f"v{n}".encode() and out["KeyMaterialId"] == material_ids[n - 1]
    moved = kms.re_encrypt(CiphertextBlob=blobs[0], DestinationKeyId=key_id)
    assert moved["SourceKeyMaterialId"] == material_ids[0] and moved["DestinationKeyMaterialId"] == material_ids[-1]
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["KeyMaterialId"] == material_ids[-1]
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND", "ON_DEMAND"]
    assert [r["KeyMaterialId"] for r in rotations] == material_ids[1:]
    everything = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL", Limit=2)
    assert everything["Truncated"] is True and len(everything["Rotations"]) == 2
    rest = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL", Marker=everything["NextMarker"])
    assert [r["KeyMaterialState"] for r in everything["Rotations"] + rest["Rotations"]] == [
        "NON_CURRENT",
        "NON_CURRENT",
        "CURRENT",
    ]


def test_on_demand_rotation_limit_and_state(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    for _ in range(10):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    assert error_of(exc) == (
        "LimitExceededException",
        "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be "
        f"performed for this key: {key['Arn']}",
    )
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    assert error_of(exc) == ("DisabledException", f"{key['Arn']} is disabled.")


def test_automatic_rotation_runs_on_its_schedule(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir, env={"TRENT_JOB_INTERVAL": "0.2"}) as server:
        kms = server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        old = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
        next_date = kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"]
        time.sleep(0.6)
        assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []  # not due yet
        # 90 days pass: the store now sees the rotation date behind it.
        with sqlite3.connect(data_dir / "trent.db") as db:
            db.execute(
                "UPDATE keys SET next_rotation_date = next_rotation_date - 90 * 86400 - 60 WHERE key_id = ?", (key_id,)
            )
        deadline = time.monotonic() + 10
        while not kms.list_key_rotations(KeyId=key_id)["Rotations"]:
            assert time.monotonic() < deadline, "automatic rotation did not happen"
            time.sleep(0.1)
        time.sleep(1.0)  # several more job runs: still exactly one rotation for that due date
        rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
        assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]
        status = kms.get_key_rotation_status(KeyId=key_id)
        assert abs((status["NextRotationDate"] - next_date).total_seconds()) < 120  # the next one, 90 days on
        assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
        new = kms.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=new)["KeyMaterialId"] == rotations[0]["KeyMaterialId"]
