"""Imported material over time, through boto3: on-demand rotation of a symmetric key to newly imported material
(old ciphertexts keep decrypting while their material is there), ListKeyRotations with IncludeKeyMaterial, the
background job that deletes material at its ValidTo (once, with its DeleteExpiredKeyMaterial record), and import
tokens past their 24 hours."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.importing import import_material, wrap
from tests.support import TrentServer, error_of, trent_command


def _rotations(kms: Any, key_id: str, everything: bool = True) -> list[dict[str, Any]]:
    include = "ALL_KEY_MATERIAL" if everything else "ROTATIONS_ONLY"
    found: list[dict[str, Any]] = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial=include)["Rotations"]
    return found


def test_on_demand_rotation_to_imported_material(kms: Any) -> None:
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    key_id, arn = key["KeyId"], key["Arn"]
    first, second = os.urandom(32), os.urandom(32)
    v1 = import_material(kms, key_id, first, KeyMaterialDescription="first one")["KeyMaterialId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"under v1")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=key_id)  # no new material imported yet
    assert error_of(exc)[0] == "KMSInvalidStateException"
    with pytest.raises(ClientError) as exc:
        kms.enable_key_rotation(KeyId=key_id)  # imported material never rotates automatically
    assert error_of(exc) == (
        "UnsupportedOperationException",
        f"{arn} origin is EXTERNAL which is not valid for this operation.",
    )
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, first, ImportType="NEW_KEY_MATERIAL")  # already associated
    assert error_of(exc)[0] == "IncorrectKeyMaterialException"
    valid_to = (datetime.now(UTC) + timedelta(days=200)).replace(microsecond=0)
    v2 = import_material(
        kms,
        key_id,
        second,
        ImportType="NEW_KEY_MATERIAL",
        KeyMaterialDescription="second one",
        ExpirationModel="KEY_MATERIAL_EXPIRES",
        ValidTo=valid_to,
    )["KeyMaterialId"]
    assert v2 != v1
    listed = _rotations(kms, key_id)
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r["ImportState"]) for r in listed] == [
        (v1, "CURRENT", "IMPORTED"),
        (v2, "PENDING_ROTATION", "IMPORTED"),
    ]
    assert [r["KeyMaterialDescription"] for r in listed] == ["first one", "second one"]
    assert all("RotationDate" not in r and "RotationType" not in r for r in listed)
    assert listed[1]["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and listed[1]["ValidTo"] == valid_to
    assert _rotations(kms, key_id, everything=False) == []
    # Pending material is not used yet, and is not permanently associated: it does not set the key's ValidTo.
    assert (
        kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"])["KeyMaterialId"] == v1
    )
    assert "ValidTo" not in kms.describe_key(KeyId=key_id)["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")  # one pending at a time
    assert error_of(exc)[0] == "KMSInvalidStateException"
    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == arn
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["CurrentKeyMaterialId"] == v2 and described["ValidTo"] == valid_to
    new = kms.encrypt(KeyId=key_id, Plaintext=b"under v2")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new)["KeyMaterialId"] == v2
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"under v1"
    assert kms.decrypt(CiphertextBlob=old)["KeyMaterialId"] == v1
    rotated = _rotations(kms, key_id, everything=False)
    assert [(r["KeyMaterialId"], r["RotationType"], r["KeyMaterialState"]) for r in rotated] == [
        (v2, "ON_DEMAND", "CURRENT")
    ]
    assert abs((rotated[0]["RotationDate"] - datetime.now(UTC)).total_seconds()) < 60
    # Deleting the older material (by its id) stops the key until it is back: all its material must be there.
    assert kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=v1)["KeyMaterialId"] == v1
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert [r["ImportState"] for r in _rotations(kms, key_id)] == ["PENDING_IMPORT", "IMPORTED"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=old)
    assert error_of(exc) == ("KMSInvalidStateException", f"{arn} is pending import.")
    with pytest.raises(ClientError) as exc:
        import_material(kms, key_id, second, KeyMaterialId=v1)  # the id names other material
    assert error_of(exc)[0] == "IncorrectKeyMaterialException"
    import_material(kms, key_id, first, KeyMaterialId=v1)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert [r["KeyMaterialDescription"] for r in _rotations(kms, key_id)] == ["first one", "second one"]  # kept
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"under v1"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"under v2"


def test_pending_material_can_be_replaced(kms: Any) -> None:
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    import_material(kms, key_id, os.urandom(32))
    pending = import_material(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId=pending)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"  # it was never associated
    assert len(_rotations(kms, key_id)) == 1
    replacement = import_material(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == replacement
    with pytest.raises(ClientError) as exc:
        kms.delete_imported_key_material(KeyId=key_id, KeyMaterialId="0" * 64)
    assert error_of(exc)[0] == "NotFoundException"


def _records(server: TrentServer, event: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [*trent_command(), "audit", "query", "--event-name", event, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_material_is_deleted_at_its_valid_to_and_a_token_expires_after_24_hours(tmp_path: Path) -> None:
    with TrentServer(tmp_path / "data", env={"TRENT_JOB_INTERVAL": "0.2"}) as server:
        kms = server.client()
        keys = [kms.create_key(Origin="EXTERNAL")["KeyMetadata"] for _ in range(3)]
        material = os.urandom(32)
        soon = datetime.now(UTC) + timedelta(seconds=3)
        for key in keys[:2]:
            import_material(kms, key["KeyId"], material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=soon)
        import_material(kms, keys[2]["KeyId"], material)  # does not expire
        described = kms.describe_key(KeyId=keys[0]["KeyId"])["KeyMetadata"]
        assert described["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
        assert abs((described["ValidTo"] - soon).total_seconds()) < 0.01
        blob = kms.encrypt(KeyId=keys[0]["KeyId"], Plaintext=b"until then")["CiphertextBlob"]
        deadline = time.monotonic() + 20
        while kms.describe_key(KeyId=keys[1]["KeyId"])["KeyMetadata"]["KeyState"] != "PendingImport":
            assert time.monotonic() < deadline, "expired material was not deleted"
            time.sleep(0.2)
        assert datetime.now(UTC) >= soon
        time.sleep(1.0)  # several more runs of the job: nothing more happens
        states = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for k in keys]
        assert states == ["PendingImport", "PendingImport", "Enabled"]
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob)
        assert error_of(exc) == ("KMSInvalidStateException", f"{keys[0]['Arn']} is pending import.")
        events = _records(server, "DeleteExpiredKeyMaterial")
        assert sorted(e["resources"][0]["ARN"] for e in events) == sorted(k["Arn"] for k in keys[:2])
        assert all(e["userIdentity"]["type"] == "AWSService" and e["readOnly"] is False for e in events)
        import_material(kms, keys[0]["KeyId"], material)  # the same material brings the key back
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"until then"
        # A set whose 24 hours are over (the store says so) no longer imports.
        params = kms.get_parameters_for_import(
            KeyId=keys[1]["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
        with sqlite3.connect(server.data_dir / "trent.db") as db:
            db.execute("UPDATE import_parameters SET valid_to = valid_to - 86401 WHERE key_id = ?", (keys[1]["KeyId"],))
        with pytest.raises(ClientError) as exc:
            kms.import_key_material(
                KeyId=keys[1]["KeyId"],
                ImportToken=params["ImportToken"],
                EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", material),
                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
            )
        assert error_of(exc)[0] == "ExpiredImportTokenException"
