"""Seed files end to end: `trent serve --seed FILE` (and TRENT_SEED) against boto3.

Two servers on separate data directories given the same seed (key material included) accept each other's
ciphertexts, signatures and MACs; aliases, users with identity policies and their access keys, and grants work
as seeded; a restart with the same seed and data directory changes nothing; a bad seed is refused at start with
the file, the entry and the reason, and no traceback.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support import ACCOUNT, TrentServer, error_of, kms_client, trent_command
from trent.crypto import ciphertext, context, symmetric

SYMMETRIC = "11111111-2222-3333-4444-555555555555"
RSA_KEY = "22222222-3333-4444-5555-666666666666"
ECC_KEY = "33333333-4444-5555-6666-777777777777"
HMAC_KEY = "44444444-5555-6666-7777-888888888888"
GENERATED = "55555555-6666-7777-8888-999999999999"
ALICE_KEY_ID, ALICE_SECRET = "AKIAALICE00000000000", "alice-secret-alice-secret-alice-secret00"
BOB_KEY_ID, BOB_SECRET = "AKIABOB0000000000000", "bob-secret-bob-secret-bob-secret-bob-sec"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
CONTEXT = {"purpose": "seeds"}


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _seed_document() -> dict[str, Any]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ecc_der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{SYMMETRIC}"
    alice_policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": arn}],
    }
    return {
        "users": [{"name": "alice", "policy": alice_policy}, {"name": "bob"}],
        "access_keys": [
            {"access_key_id": ALICE_KEY_ID, "secret_access_key": ALICE_SECRET, "user": "alice"},
            {"access_key_id": BOB_KEY_ID, "secret_access_key": BOB_SECRET, "user": "bob"},
        ],
        "keys": [
            {
                "key_id": SYMMETRIC,
                "description": "seeded",
                "aliases": ["alias/seeded"],
                "material": base64.b64encode(os.urandom(32)).decode(),
                "tags": {"team": "payments"},
                "rotation_enabled": True,
                "rotation_period_days": 180,
            },
            {"key_id": RSA_KEY, "key_spec": "RSA_2048", "key_usage": "SIGN_VERIFY", "material": _pem(rsa_key)},
            {
                "key_id": ECC_KEY,
                "key_spec": "ECC_NIST_P256",
                "key_usage": "SIGN_VERIFY",
                "material": base64.b64encode(ecc_der).decode(),
                "aliases": ["alias/signer"],
            },
            {
                "key_id": HMAC_KEY,
                "key_spec": "HMAC_256",
                "material": base64.b64encode(os.urandom(48)).decode(),
                "grants": [
                    {
                        "grantee_principal": BOB,
                        "operations": ["GenerateMac", "VerifyMac"],
                        "name": "bob-macs",
                    }
                ],
            },
            {"key_id": GENERATED, "description": "fresh material, made once", "enabled": False},
        ],
    }


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "seed.yaml"
    path.write_text(yaml.safe_dump(_seed_document()))
    return path


def _seeded(data_dir: Path, seed: Path) -> TrentServer:
    return TrentServer(data_dir, workers=1, env={"TRENT_SEED": str(seed)})


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, seed_file: Path) -> dict[str, Any]:
    """What a first server, on its own data directory, made with the seeded keys; then it is stopped."""
    with _seeded(tmp_path_factory.mktemp("first"), seed_file) as server:
        kms = server.client()
        made = {
            "ciphertext": kms.encrypt(KeyId="alias/seeded", Plaintext=b"secret", EncryptionContext=CONTEXT)[
                "CiphertextBlob"
            ],
            "rsa_signature": kms.sign(KeyId=RSA_KEY, Message=b"message", SigningAlgorithm="RSASSA_PSS_SHA_256")[
                "Signature"
            ],
            "ecc_signature": kms.sign(KeyId="alias/signer", Message=b"message", SigningAlgorithm="ECDSA_SHA_256")[
                "Signature"
            ],
            "mac": kms.generate_mac(KeyId=HMAC_KEY, Message=b"message", MacAlgorithm="HMAC_SHA_256")["Mac"],
            "rsa_public": kms.get_public_key(KeyId=RSA_KEY)["PublicKey"],
        }
    return made


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory, seed_file: Path) -> Iterator[TrentServer]:
    """A second server, on another data directory, with the same seed."""
    with _seeded(tmp_path_factory.mktemp("second"), seed_file) as server:
        yield server


def test_a_ciphertext_of_one_run_decrypts_in_another(first_run: dict[str, Any], second: TrentServer) -> None:
    kms = second.client()
    done = kms.decrypt(CiphertextBlob=first_run["ciphertext"], EncryptionContext=CONTEXT)
    assert done["Plaintext"] == b"secret"
    assert done["KeyId"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{SYMMETRIC}"


def test_signatures_of_one_run_verify_in_another(first_run: dict[str, Any], second: TrentServer) -> None:
    kms = second.client()
    for key, signature, algorithm in (
        (RSA_KEY, first_run["rsa_signature"], "RSASSA_PSS_SHA_256"),
        (ECC_KEY, first_run["ecc_signature"], "ECDSA_SHA_256"),
    ):
        verified = kms.verify(KeyId=key, Message=b"message", Signature=signature, SigningAlgorithm=algorithm)
        assert verified["SignatureValid"] is True
    assert kms.get_public_key(KeyId=RSA_KEY)["PublicKey"] == first_run["rsa_public"]


def test_a_mac_of_one_run_is_the_mac_of_another(first_run: dict[str, Any], second: TrentServer) -> None:
    kms = second.client()
    assert kms.generate_mac(KeyId=HMAC_KEY, Message=b"message", MacAlgorithm="HMAC_SHA_256")["Mac"] == first_run["mac"]


def test_seeded_keys_are_described_as_seeded(second: TrentServer) -> None:
    kms = second.client()
    meta = kms.describe_key(KeyId="alias/seeded")["KeyMetadata"]
    assert (meta["KeyId"], meta["Description"], meta["Origin"], meta["KeyState"]) == (
        SYMMETRIC,
        "seeded",
        "AWS_KMS",
        "Enabled",
    )
    assert kms.get_key_rotation_status(KeyId=SYMMETRIC)["RotationPeriodInDays"] == 180
    assert kms.list_resource_tags(KeyId=SYMMETRIC)["Tags"] == [{"TagKey": "team", "TagValue": "payments"}]
    assert kms.describe_key(KeyId=GENERATED)["KeyMetadata"]["KeyState"] == "Disabled"
    hmac_meta = kms.describe_key(KeyId=HMAC_KEY)["KeyMetadata"]
    assert (hmac_meta["KeySpec"], hmac_meta["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    names = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert names == {"alias/seeded": SYMMETRIC, "alias/signer": ECC_KEY}


def test_a_seeded_user_may_do_what_its_identity_policy_allows(second: TrentServer) -> None:
    alice = kms_client(second.endpoint, access_key=ALICE_KEY_ID, secret=ALICE_SECRET)
    blob = alice.encrypt(KeyId=SYMMETRIC, Plaintext=b"by alice")["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=blob)["Plaintext"] == b"by alice"
    for call in (
        lambda: alice.describe_key(KeyId=SYMMETRIC),
        lambda: alice.sign(KeyId=RSA_KEY, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256"),
        lambda: alice.create_key(),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        code, message = error_of(caught)
        assert code == "AccessDeniedException" and message.startswith(f"User: {ALICE} is not authorized")


def test_a_seeded_grant_allows_its_operations(second: TrentServer) -> None:
    bob = kms_client(second.endpoint, access_key=BOB_KEY_ID, secret=BOB_SECRET)
    mac = bob.generate_mac(KeyId=HMAC_KEY, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert bob.verify_mac(KeyId=HMAC_KEY, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"] is True
    with pytest.raises(ClientError) as caught:
        bob.encrypt(KeyId=SYMMETRIC, Plaintext=b"x")  # bob has no identity policy and no grant for it
    assert error_of(caught)[0] == "AccessDeniedException"
    (grant,) = second.client().list_grants(KeyId=HMAC_KEY)["Grants"]
    assert (grant["Name"], grant["GranteePrincipal"], sorted(grant["Operations"])) == (
        "bob-macs",
        BOB,
        ["GenerateMac", "VerifyMac"],
    )


def _state(kms: Any) -> dict[str, Any]:
    keys = sorted(k["KeyId"] for k in kms.list_keys()["Keys"])
    return {
        "keys": keys,
        "dates": [kms.describe_key(KeyId=k)["KeyMetadata"]["CreationDate"] for k in keys],
        "aliases": sorted(a["AliasName"] for a in kms.list_aliases()["Aliases"]),
        "grants": [g["GrantId"] for k in keys for g in kms.list_grants(KeyId=k)["Grants"]],
    }


def test_a_restart_with_the_same_seed_and_data_directory_changes_nothing(
    tmp_path: Path, seed_file: Path, first_run: dict[str, Any]
) -> None:
    data_dir = tmp_path / "data"
    with _seeded(data_dir, seed_file) as server:
        kms = server.client()
        before = _state(kms)
        kms.enable_key(KeyId=GENERATED)
        blob = kms.encrypt(KeyId=GENERATED, Plaintext=b"generated once")["CiphertextBlob"]
        kms.update_key_description(KeyId=SYMMETRIC, Description="changed while running")
    with _seeded(data_dir, seed_file) as server:
        kms = server.client()
        assert _state(kms) == before
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"generated once"  # its material was not remade
        assert kms.describe_key(KeyId=SYMMETRIC)["KeyMetadata"]["Description"] == "changed while running"
        assert kms.describe_key(KeyId=GENERATED)["KeyMetadata"]["KeyState"] == "Enabled"
        assert kms.decrypt(CiphertextBlob=first_run["ciphertext"], EncryptionContext=CONTEXT)["Plaintext"] == b"secret"
    # What the seed made is in the audit trail, once (the second start made nothing), and the trail is intact.
    audit = [*trent_command(), "audit", "query", "--data-dir", str(data_dir), "--event-name", "CreateKey"]
    done = subprocess.run(audit, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    created = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(created) == 5 and {r["userAgent"] for r in created} == {"trent-seed"}
    assert {r["responseElements"]["keyMetadata"]["keyId"] for r in created} == {
        SYMMETRIC,
        RSA_KEY,
        ECC_KEY,
        HMAC_KEY,
        GENERATED,
    }
    seeded = [k["material"] for k in yaml.safe_load(seed_file.read_text())["keys"] if "material" in k]
    pieces = [line for m in seeded for line in m.splitlines() if line and not line.startswith("-----")]
    trail = subprocess.run([*audit[:-2]], capture_output=True, text=True, timeout=60).stdout
    assert pieces and not any(piece in trail for piece in pieces)  # no key material in any record
    raw = base64.b64decode(seeded[0])  # the symmetric key's 32 bytes: stored only wrapped by the root of trust
    stored = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.name.startswith(("trent.db", "audit.db")))
    assert len(raw) == 32 and raw not in stored and seeded[0].encode() not in stored
    verify = [*trent_command(), "audit", "verify", "--data-dir", str(data_dir)]
    assert subprocess.run(verify, capture_output=True, text=True, timeout=60).returncode == 0


def test_the_toml_of_the_issue_works_as_it_reads(tmp_path: Path) -> None:
    material = os.urandom(32)
    seed = tmp_path / "seed.toml"
    seed.write_text(
        "[[keys]]\n"
        f'key_id = "{SYMMETRIC}"\n'
        'description = "seeded"\n'
        'aliases = ["alias/seeded"]\n'
        f'material = "{base64.b64encode(material).decode()}"\n'
    )
    with TrentServer(tmp_path / "data", workers=1, args=("--seed", str(seed))) as server:
        kms = server.client()
        meta = kms.describe_key(KeyId="alias/seeded")["KeyMetadata"]
        assert (meta["KeyId"], meta["Description"], meta["Origin"]) == (SYMMETRIC, "seeded", "AWS_KMS")
        blob = kms.encrypt(KeyId="alias/seeded", Plaintext=b"x")["CiphertextBlob"]
    # The ciphertext opens with the seed's material alone (the crypto layer, no server): it is the key's material.
    assert symmetric.decrypt(material, ciphertext.unpack(blob), context.to_aad({})) == b"x"


BAD_SEEDS = [
    (
        "keys:\n  - key_id: 11111111-2222-3333-4444-555555555555\n    materiel: x\n",
        "keys[0]",
        "unknown field 'materiel'",
    ),
    ("keys:\n  - key_id: not-a-key-id\n", "keys[0]", "is not a key id"),
    (
        "keys:\n  - key_id: 11111111-2222-3333-4444-555555555555\n  - key_id: 22222222-3333-4444-5555-666666666666\n"
        "    material: AAAA\n",
        "keys[1]",
        "material does not fit key_spec SYMMETRIC_DEFAULT: symmetric key material must be 32 bytes",
    ),
    ("keys:\n  - key_id: 11111111-2222-3333-4444-555555555555\n    aliases: [seeded]\n", "keys[0]", "alias/"),
    (
        "keys:\n  - key_id: 11111111-2222-3333-4444-555555555555\n  - key_id: 11111111-2222-3333-4444-555555555555\n",
        "keys[1]",
        "duplicate key_id",
    ),
    ("keys:\n  - key_id: 11111111-2222-3333-4444-555555555555\n    policy: '{oops'\n", "keys[0]", "not valid JSON"),
]


@pytest.mark.parametrize(("text", "entry", "reason"), BAD_SEEDS)
def test_a_bad_seed_is_refused_at_start(tmp_path: Path, text: str, entry: str, reason: str) -> None:
    seed = tmp_path / "bad.yaml"
    seed.write_text(text)
    done = subprocess.run(
        [*trent_command(), "serve", "--data-dir", str(tmp_path / "data"), "--port", "0", "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("TRENT_")},
    )
    assert done.returncode != 0
    assert f"seed file {seed}: {entry}: " in done.stderr and reason in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_a_seed_the_store_contradicts_is_refused_at_start(tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(f'[[keys]]\nkey_id = "{SYMMETRIC}"\nmaterial = "{base64.b64encode(os.urandom(32)).decode()}"\n')
    with _seeded(tmp_path / "data", seed):
        pass
    seed.write_text(f'[[keys]]\nkey_id = "{SYMMETRIC}"\nmaterial = "{base64.b64encode(os.urandom(32)).decode()}"\n')
    server = _seeded(tmp_path / "data", seed)
    with pytest.raises(RuntimeError) as caught:
        server.start()
    assert f"seed file {seed}: keys[0]: key {SYMMETRIC} exists already with other key material" in str(caught.value)
    assert "Traceback" not in str(caught.value)
