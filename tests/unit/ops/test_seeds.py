"""The seed parser (ops/seeds.py): what a valid seed becomes, and each refusal naming its entry and reason."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from trent.crypto import imported
from trent.kms.specs import KEY_SPECS, GrantOperation, KeySpec, KeyUsage
from trent.ops.seeds import SeedError, parse_seed

KEY_ID = "11111111-2222-3333-4444-555555555555"
OTHER_ID = "22222222-3333-4444-5555-666666666666"
AES = base64.b64encode(b"\x01" * 32).decode()
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "kms:*", "Resource": "*"}
    ],
}


def _refusal(document: dict[str, Any]) -> SeedError:
    with pytest.raises(SeedError) as caught:
        parse_seed(document)
    return caught.value


def _pkcs8(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_the_issue_example_reads_as_it_says() -> None:
    seed = parse_seed(
        {"keys": [{"key_id": KEY_ID, "description": "seeded", "aliases": ["alias/seeded"], "material": AES}]}
    )
    (key,) = seed.keys
    assert (key.key_id, key.description, key.aliases) == (KEY_ID, "seeded", ("alias/seeded",))
    assert (key.spec, key.usage, key.enabled, key.account, key.region) == (
        KeySpec.SYMMETRIC_DEFAULT,
        KeyUsage.ENCRYPT_DECRYPT,
        True,
        None,
        "us-east-1",
    )
    assert key.material is not None and key.material.reveal() == b"\x01" * 32
    assert "\\x01" not in repr(seed) and AES not in repr(seed)  # material never in a repr


def test_a_full_seed() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    seed = parse_seed(
        {
            "account": "444455556666",
            "region": "eu-west-1",
            "accounts": ["777788889999"],
            "users": [{"name": "alice", "policy": POLICY}],
            "access_keys": [{"access_key_id": "AKIAALICE0000000000", "secret_access_key": secret, "user": "alice"}],
            "keys": [
                {
                    "key_id": KEY_ID,
                    "key_spec": "HMAC_256",
                    "tags": {"team": "a"},
                    "policy": json.dumps(KEY_POLICY),
                    "enabled": False,
                    "grants": [
                        {
                            "grantee_principal": "arn:aws:iam::444455556666:user/alice",
                            "operations": ["GenerateMac"],
                            "name": "g",
                        }
                    ],
                },
                {"key_id": OTHER_ID, "rotation_enabled": True, "rotation_period_days": 90, "account": 777788889999},
            ],
        }
    )
    assert seed.account == "444455556666" and seed.accounts == ("777788889999",)
    assert seed.users[0].account == "444455556666" and seed.users[0].policy == json.dumps(POLICY)
    assert seed.access_keys[0].secret.reveal() == secret.encode() and secret not in repr(seed)
    hmac_key, symmetric = seed.keys
    assert (hmac_key.usage, hmac_key.enabled, hmac_key.region) == (KeyUsage.GENERATE_VERIFY_MAC, False, "eu-west-1")
    assert hmac_key.grants[0].operations == (GrantOperation.GenerateMac,)
    assert (symmetric.rotation_period_days, symmetric.account) == (90, "777788889999")


@pytest.mark.parametrize(
    ("spec", "private"),
    [
        ("RSA_2048", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ECC_NIST_P256", lambda: ec.generate_private_key(ec.SECP256R1())),
        ("ECC_SECG_P256K1", lambda: ec.generate_private_key(ec.SECP256K1())),
    ],
)
def test_asymmetric_material_as_pem_or_base64_der(spec: str, private: Any) -> None:
    key = private()
    der = _pkcs8(key)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    for text in (pem, base64.b64encode(der).decode()):
        (seeded,) = parse_seed(
            {"keys": [{"key_id": KEY_ID, "key_spec": spec, "key_usage": "SIGN_VERIFY", "material": text}]}
        ).keys
        assert seeded.material is not None
        assert seeded.material.reveal() == imported.canonical(KEY_SPECS[KeySpec(spec)], der)


def _key(**fields: Any) -> dict[str, Any]:
    return {"keys": [{"key_id": KEY_ID}, {"key_id": OTHER_ID, **fields}]}


REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown top-level field", {"kyes": []}, "", "unknown field 'kyes'"),
    ("unknown key field", _key(materiel=AES), "keys[1]", "unknown field 'materiel'"),
    (
        "unknown grant field",
        _key(grants=[{"grantee_principal": "x", "operations": ["Decrypt"], "op": 1}]),
        "keys[1].grants[0]",
        "unknown field 'op'",
    ),
    ("unknown user field", {"users": [{"name": "a", "pw": "x"}]}, "users[0]", "unknown field 'pw'"),
    ("keys not a list", {"keys": {"key_id": KEY_ID}}, "keys", "must be a list"),
    ("key not a table", {"keys": ["x"]}, "keys[0]", "must be a table"),
    ("missing key id", {"keys": [{"description": "x"}]}, "keys[0]", "key_id is required"),
    ("key id not a UUID", _key(key_id="1234"), "keys[1]", "'1234' is not a key id"),
    ("key id upper case", _key(key_id="ABCDEF12-2222-3333-4444-555555555555"), "keys[1]", "is not a key id"),
    ("key id multi-Region", _key(key_id="mrk-" + "a" * 32), "keys[1]", "is not a key id"),
    ("duplicate key id", {"keys": [{"key_id": KEY_ID}, {"key_id": KEY_ID}]}, "keys[1]", "duplicate key_id"),
    ("unknown key spec", _key(key_spec="AES_256"), "keys[1]", "key_spec 'AES_256' is not one of"),
    ("usage needed", _key(key_spec="RSA_2048"), "keys[1]", "key_usage is required for key_spec RSA_2048"),
    ("usage of another spec", _key(key_spec="HMAC_256", key_usage="ENCRYPT_DECRYPT"), "keys[1]", "not compatible"),
    ("unsupported spec", _key(key_spec="SM2", key_usage="SIGN_VERIFY"), "keys[1]", "SM2"),
    (
        "symmetric material too short",
        _key(material=base64.b64encode(b"x" * 16).decode()),
        "keys[1]",
        "must be 32 bytes",
    ),
    ("material not base64", _key(material="not base64!"), "keys[1]", "not base64"),
    (
        "HMAC material too short",
        _key(key_spec="HMAC_256", material=AES[:20]),
        "keys[1]",
        "HMAC_256 key material must be 32 to 64 bytes",
    ),
    (
        "PEM for a symmetric key",
        _key(material="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
        "keys[1]",
        "not PEM",
    ),
    (
        "AES bytes for an RSA key",
        _key(key_spec="RSA_2048", key_usage="SIGN_VERIFY", material=AES),
        "keys[1]",
        "PKCS #8",
    ),
    (
        "material of an Ed25519 key",
        _key(key_spec="ECC_NIST_EDWARDS25519", key_usage="SIGN_VERIFY", material=AES),
        "keys[1]",
        "only for symmetric, HMAC, RSA and ECC",
    ),
    ("alias without alias/", _key(aliases=["seeded"]), "keys[1]", "does not start with alias/"),
    ("reserved alias", _key(aliases=["alias/aws/s3"]), "keys[1]", "alias/aws/ is reserved"),
    ("alias with a colon", _key(aliases=["alias/a:b"]), "keys[1]", "may hold only"),
    (
        "duplicate alias",
        {"keys": [{"key_id": KEY_ID, "aliases": ["alias/a"]}, {"key_id": OTHER_ID, "aliases": ["alias/a"]}]},
        "keys[1]",
        "duplicate alias 'alias/a'",
    ),
    ("policy not JSON", _key(policy="{not json"), "keys[1]", "policy is not valid JSON"),
    ("policy not a policy", _key(policy='{"Statement": 3}'), "keys[1]", "not a valid key policy"),
    ("identity policy not JSON", {"users": [{"name": "a", "policy": "nope"}]}, "users[0]", "policy is not valid JSON"),
    ("bad tags", _key(tags={"aws:x": "y"}), "keys[1]", "reserved"),
    ("tag value not a string", _key(tags={"a": 1}), "keys[1]", "tags must be a table of strings"),
    ("enabled not a boolean", _key(enabled="yes"), "keys[1]", "enabled must be true or false"),
    ("rotation of an HMAC key", _key(key_spec="HMAC_256", rotation_enabled=True), "keys[1]", "only SYMMETRIC_DEFAULT"),
    (
        "rotation period out of range",
        _key(rotation_enabled=True, rotation_period_days=30),
        "keys[1]",
        "between 90 and 2560",
    ),
    ("rotation period without rotation", _key(rotation_period_days=90), "keys[1]", "needs rotation_enabled"),
    ("bad account", _key(account="12345"), "keys[1]", "not an account id"),
    ("bad region", _key(region="Mars"), "keys[1]", "not a region name"),
    ("bad top-level account", {"account": "x"}, "", "not an account id"),
    ("duplicate account", {"accounts": ["444455556666", "444455556666"]}, "accounts[1]", "duplicate account"),
    (
        "grant without operations",
        _key(grants=[{"grantee_principal": "x"}]),
        "keys[1].grants[0]",
        "operations must be a list",
    ),
    (
        "unknown grant operation",
        _key(grants=[{"grantee_principal": "x", "operations": ["Fly"]}]),
        "keys[1].grants[0]",
        "operation 'Fly'",
    ),
    (
        "two grant constraints",
        _key(
            grants=[
                {
                    "grantee_principal": "x",
                    "operations": ["Decrypt"],
                    "constraints": {"encryption_context_equals": {}, "encryption_context_subset": {}},
                }
            ]
        ),
        "keys[1].grants[0].constraints",
        "give one of",
    ),
    ("bad user name", {"users": [{"name": "a b"}]}, "users[0]", "not a user name"),
    ("duplicate user", {"users": [{"name": "a"}, {"name": "a"}]}, "users[1]", "duplicate user"),
    (
        "short access key id",
        {"access_keys": [{"access_key_id": "AKIA", "secret_access_key": "x" * 40}]},
        "access_keys[0]",
        "not an access key id",
    ),
    (
        "short secret",
        {"access_keys": [{"access_key_id": "AKIA" + "A" * 16, "secret_access_key": "short"}]},
        "access_keys[0]",
        "at least 16",
    ),
    (
        "duplicate access key",
        {"access_keys": [{"access_key_id": "AKIA" + "A" * 16, "secret_access_key": "x" * 40}] * 2},
        "access_keys[1]",
        "duplicate access key id",
    ),
    (
        "access key of an unknown user",
        {"access_keys": [{"access_key_id": "AKIA" + "A" * 16, "secret_access_key": "x" * 40, "user": "bob"}]},
        "access_keys[0]",
        "user 'bob' is not among",
    ),
]


@pytest.mark.parametrize(("document", "entry", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusals_name_the_entry_and_the_reason(document: dict[str, Any], entry: str, reason: str) -> None:
    refusal = _refusal(document)
    assert refusal.entry == entry
    assert reason in refusal.reason


def test_a_refusal_never_shows_the_material_or_secret() -> None:
    short = base64.b64encode(os.urandom(16)).decode()
    refusal = _refusal(_key(material=short))
    assert short not in str(refusal)
    secret = "s3cr3t-s3cr3t-s3cr3t"
    refusal = _refusal({"access_keys": [{"access_key_id": "AKIA", "secret_access_key": secret}]})
    assert secret not in str(refusal)
