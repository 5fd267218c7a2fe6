"""Durability and secrecy of the data directory: restart (also after kill -9) loses nothing acknowledged,
and no private key, key material or access-key secret is stored in the clear."""

from __future__ import annotations

import base64
import json
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support import ACCOUNT, SECRET_ACCESS_KEY, TrentServer, iter_files, trent_command
from trent.rootoftrust.base import WrappedMaterial, material_aad
from trent.rootoftrust.software import SoftwareRoot


def _populate(kms: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"keys": {}, "blobs": {}}
    for spec, usage in (
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        ("RSA_2048", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P256", "KEY_AGREEMENT"),
        ("ECC_NIST_P384", "SIGN_VERIFY"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
        ("ML_DSA_44", "SIGN_VERIFY"),
    ):
        meta = kms.create_key(KeySpec=spec, KeyUsage=usage, Tags=[{"TagKey": "spec", "TagValue": spec}])["KeyMetadata"]
        state["keys"][spec] = meta
    sym = state["keys"]["SYMMETRIC_DEFAULT"]["KeyId"]
    kms.create_alias(AliasName="alias/durable", TargetKeyId=sym)
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}'
    kms.put_key_policy(KeyId=sym, PolicyName="default", Policy=policy)
    state["policy"] = policy
    for i in range(20):
        state["blobs"][f"p{i}".encode()] = kms.encrypt(
            KeyId=sym, Plaintext=f"p{i}".encode(), EncryptionContext={"i": str(i)}
        )["CiphertextBlob"]
    rsa_id = state["keys"]["RSA_2048"]["KeyId"]
    state["rsa_blob"] = kms.encrypt(KeyId=rsa_id, Plaintext=b"rsa", EncryptionAlgorithm="RSAES_OAEP_SHA_256")[
        "CiphertextBlob"
    ]
    kms.disable_key(KeyId=state["keys"]["HMAC_256"]["KeyId"])
    return state


def _check(kms: Any, state: dict[str, Any]) -> None:
    for spec, meta in state["keys"].items():
        now = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
        assert now["KeyState"] == ("Disabled" if spec == "HMAC_256" else "Enabled")
        assert kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"] == [{"TagKey": "spec", "TagValue": spec}]
    assert (
        kms.describe_key(KeyId="alias/durable")["KeyMetadata"]["KeyId"] == state["keys"]["SYMMETRIC_DEFAULT"]["KeyId"]
    )
    assert kms.get_key_policy(KeyId=state["keys"]["SYMMETRIC_DEFAULT"]["KeyId"])["Policy"] == state["policy"]
    for i, (plaintext, blob) in enumerate(state["blobs"].items()):
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"i": str(i)})["Plaintext"] == plaintext
    rsa_id = state["keys"]["RSA_2048"]["KeyId"]
    assert (
        kms.decrypt(CiphertextBlob=state["rsa_blob"], KeyId=rsa_id, EncryptionAlgorithm="RSAES_OAEP_SHA_256")[
            "Plaintext"
        ]
        == b"rsa"
    )
    public = kms.get_public_key(KeyId=state["keys"]["ECC_NIST_P256"]["KeyId"])["PublicKey"]
    assert public == state["ecdh_public"]


def _admin(data_dir: Path, *args: str) -> str:
    return subprocess.run(
        [*trent_command(), "admin", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def _add_user_key(data_dir: Path) -> tuple[str, str]:
    _admin(data_dir, "create-user", "alice")
    _admin(
        data_dir,
        "put-user-policy",
        "--user",
        "alice",
        "--policy-document",
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}',
    )
    created = json.loads(_admin(data_dir, "create-access-key", "--user", "alice", "--json"))
    assert created["Principal"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    return created["AccessKeyId"], created["SecretAccessKey"]


def test_restart_and_kill_9_lose_nothing_acknowledged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir) as first:
        kms = first.client()
        state = _populate(kms)
        state["ecdh_public"] = kms.get_public_key(KeyId=state["keys"]["ECC_NIST_P256"]["KeyId"])["PublicKey"]
        user = _add_user_key(data_dir)
        assert first.client(access_key=user[0], secret=user[1]).list_keys()["Keys"]
    with TrentServer(data_dir) as second:  # a clean restart
        _check(second.client(), state)
        late = second.client().encrypt(KeyId="alias/durable", Plaintext=b"acked just before the kill")
        second.stop(signal.SIGKILL)  # kill -9 the whole process group, right after the acknowledgement
    with TrentServer(data_dir) as third:
        kms = third.client()
        _check(kms, state)
        assert kms.decrypt(CiphertextBlob=late["CiphertextBlob"])["Plaintext"] == b"acked just before the kill"
        assert third.client(access_key=user[0], secret=user[1]).list_keys()["Keys"]


def _needles(data_dir: Path) -> dict[str, bytes]:
    """Every secret the data directory must not contain in the clear, recovered with the root key."""
    root = SoftwareRoot.open(data_dir / "root.key", create=False)
    needles: dict[str, bytes] = {"admin secret": SECRET_ACCESS_KEY.encode()}
    with sqlite3.connect(data_dir / "trent.db") as db:
        rows = db.execute(
            "SELECT m.key_id, m.version, m.wrapped, k.spec FROM key_material m JOIN keys k USING (key_id)"
        )
        for key_id, version, wrapped, spec in rows:
            material = root.unwrap(WrappedMaterial.from_bytes(wrapped), material_aad(key_id, version)).reveal()
            needles[f"{spec} material"] = material
            if spec in ("SYMMETRIC_DEFAULT",) or spec.startswith("HMAC"):
                continue
            private = serialization.load_der_private_key(material, None)
            if isinstance(private, ec.EllipticCurvePrivateKey):
                size = (private.curve.key_size + 7) // 8
                needles[f"{spec} scalar"] = private.private_numbers().private_value.to_bytes(size, "big")
            elif isinstance(private, rsa.RSAPrivateKey):
                numbers = private.private_numbers()
                needles[f"{spec} prime"] = numbers.p.to_bytes((numbers.p.bit_length() + 7) // 8, "big")
                needles[f"{spec} exponent"] = numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big")
    return needles


def test_no_secret_is_stored_in_the_clear(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir) as server:
        state = _populate(server.client())
        user = _add_user_key(data_dir)
    assert (data_dir / "root.key").stat().st_mode & 0o777 == 0o600
    needles = _needles(data_dir)
    needles["user secret"] = user[1].encode()
    assert len([n for n in needles if n.endswith("material")]) == len(state["keys"])
    haystacks = {p.name: p.read_bytes() for p in iter_files(data_dir) if p.name != "root.key"}
    assert "trent.db" in haystacks
    for name, needle in needles.items():
        assert len(needle) >= 16, name
        for variant in (needle, base64.b64encode(needle), needle.hex().encode()):
            for file_name, content in haystacks.items():
                assert variant not in content, f"{name} found in {file_name}"
