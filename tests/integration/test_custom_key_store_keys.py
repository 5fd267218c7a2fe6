"""KMS keys in an AWS_CLOUDHSM custom key store, with boto3 against a real `trent serve` (2 workers): made inside
the store's SoftHSM2 token, used there by Encrypt, Decrypt, ReEncrypt and GenerateDataKey*, Unavailable while the
store is disconnected (every worker obeys at once), refused what AWS refuses; and a scan: nothing outside the
token opens them."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.keystores import REGIONS, Clusters, admin, fails
from tests.softhsm import Token, in_token
from tests.support import TrentServer, iter_files
from trent.rootoftrust.base import WrappedMaterial

pytestmark = pytest.mark.integration
_REGIONS = iter(REGIONS[::-1])


@pytest.fixture
def kms(clusters: Clusters) -> Any:
    return clusters.server.client(region=next(_REGIONS))


def _store(kms: Any, clusters: Clusters, *, connect: bool = True) -> tuple[str, str, Token]:
    store_id, cluster, token = clusters.create_store(kms, prefix="keys")
    if connect:
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    return store_id, cluster, token


def _key(kms: Any, store_id: str) -> dict[str, Any]:
    return dict(kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"])


def _attributes(token: Token, key_id: str) -> list[str]:
    return in_token(
        token,
        "from pkcs11 import Attribute, ObjectClass, exceptions as e\n"
        f"key = session.get_key(object_class=ObjectClass.SECRET_KEY, id={key_id.encode()!r})\n"
        "for a in (Attribute.EXTRACTABLE, Attribute.NEVER_EXTRACTABLE, Attribute.SENSITIVE, Attribute.TOKEN):\n"
        "    print(a.name, bool(key[a]))\n"
        "try:\n    key[Attribute.VALUE]\nexcept e.AttributeSensitive:\n    print('VALUE sensitive')\n",
    ).splitlines()


def test_a_key_is_made_in_the_token_and_described_as_aws_does(clusters: Clusters, kms: Any) -> None:
    store_id, cluster, token = _store(kms, clusters)
    meta = _key(kms, store_id)
    assert (meta["Origin"], meta["CustomKeyStoreId"], meta["CloudHsmClusterId"]) == ("AWS_CLOUDHSM", store_id, cluster)
    assert (meta["KeySpec"], meta["KeyUsage"], meta["KeyState"], meta["Enabled"]) == (
        "SYMMETRIC_DEFAULT",
        "ENCRYPT_DECRYPT",
        "Enabled",
        True,
    )
    assert "CurrentKeyMaterialId" not in meta  # only for AWS_KMS and EXTERNAL origins (KeyMetadata)
    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    assert (described["CustomKeyStoreId"], described["CloudHsmClusterId"]) == (store_id, cluster)
    assert _attributes(token, meta["KeyId"]) == [
        "EXTRACTABLE False",
        "NEVER_EXTRACTABLE True",
        "SENSITIVE True",
        "TOKEN True",
        "VALUE sensitive",
    ]
    assert len(token.objects()) == 1


def test_create_key_refuses_what_aws_refuses(clusters: Clusters, kms: Any) -> None:
    store_id, _, _ = _store(kms, clusters, connect=False)
    create = kms.create_key
    fails(create, "CustomKeyStoreInvalidStateException", CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    fails(create, "CustomKeyStoreNotFoundException", CustomKeyStoreId="cks-0123456789abcdef0", Origin="AWS_CLOUDHSM")
    fails(
        create,
        "UnsupportedOperationException",
        CustomKeyStoreId=store_id,
        Origin="AWS_CLOUDHSM",
        KeySpec="RSA_2048",
        KeyUsage="ENCRYPT_DECRYPT",
    )
    fails(
        create,
        "UnsupportedOperationException",
        CustomKeyStoreId=store_id,
        Origin="AWS_CLOUDHSM",
        KeySpec="HMAC_256",
        KeyUsage="GENERATE_VERIFY_MAC",
    )
    fails(create, "UnsupportedOperationException", CustomKeyStoreId=store_id)  # Origin AWS_KMS
    fails(create, "UnsupportedOperationException", CustomKeyStoreId=store_id, Origin="EXTERNAL")
    fails(create, "UnsupportedOperationException", Origin="AWS_CLOUDHSM")  # no store


def test_cryptography_runs_in_the_token_with_the_usual_blobs_and_context(clusters: Clusters, kms: Any) -> None:
    store_id, _, _ = _store(kms, clusters)
    key = _key(kms, store_id)["KeyId"]
    software = kms.create_key()["KeyMetadata"]["KeyId"]
    context = {"purpose": "test", "tenant": "a"}
    blob = kms.encrypt(KeyId=key, Plaintext=b"in the token", EncryptionContext=context)["CiphertextBlob"]
    assert blob[:2] == b"TK"  # the one symmetric blob format
    opened = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)  # no KeyId: the blob names the key
    assert (opened["Plaintext"], opened["KeyId"].endswith(key)) == (b"in the token", True)
    fails(kms.decrypt, "InvalidCiphertextException", CiphertextBlob=blob, EncryptionContext={"purpose": "other"})
    fails(
        kms.decrypt,
        "InvalidCiphertextException",
        CiphertextBlob=blob[:-1] + bytes([blob[-1] ^ 1]),
        EncryptionContext=context,
    )
    fails(kms.decrypt, "IncorrectKeyException", CiphertextBlob=blob, EncryptionContext=context, KeyId=software)
    # ReEncrypt out of the token and back in.
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=context, DestinationKeyId=software)
    back = kms.re_encrypt(
        CiphertextBlob=out["CiphertextBlob"], DestinationKeyId=key, DestinationEncryptionContext={"again": "1"}
    )
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"], EncryptionContext={"again": "1"})["Plaintext"] == (
        b"in the token"
    )
    data = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=context)
    assert len(data["Plaintext"]) == 32
    assert (
        kms.decrypt(CiphertextBlob=data["CiphertextBlob"], EncryptionContext=context)["Plaintext"]
        == (data["Plaintext"])
    )
    bare = kms.generate_data_key_without_plaintext(KeyId=key, NumberOfBytes=48)
    assert len(kms.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 48
    assert len(kms.generate_random(NumberOfBytes=24, CustomKeyStoreId=store_id)["Plaintext"]) == 24


def test_what_keys_in_a_custom_key_store_cannot_do(clusters: Clusters, kms: Any) -> None:
    store_id, _, _ = _store(kms, clusters)
    key = _key(kms, store_id)["KeyId"]
    fails(kms.enable_key_rotation, "UnsupportedOperationException", KeyId=key)
    fails(kms.rotate_key_on_demand, "UnsupportedOperationException", KeyId=key)
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    fails(kms.generate_data_key_pair, "UnsupportedOperationException", KeyId=key, KeyPairSpec="ECC_NIST_P256")
    fails(
        kms.get_parameters_for_import,
        "UnsupportedOperationException",
        KeyId=key,
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    )
    # A store with keys cannot be deleted.
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    fails(kms.delete_custom_key_store, "CustomKeyStoreHasCMKsException", CustomKeyStoreId=store_id)


def test_a_disconnected_store_makes_its_keys_unavailable_on_every_worker(clusters: Clusters, kms: Any) -> None:
    store_id, _, _ = _store(kms, clusters)
    key = _key(kms, store_id)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    unavailable = f"{key['Arn']} is unavailable."
    region = kms.meta.region_name
    for _ in range(8):  # fresh connections: the kernel spreads them over both workers
        other = clusters.server.client(region=region)
        assert other.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Unavailable"
        assert fails(other.encrypt, "KMSInvalidStateException", KeyId=key["KeyId"], Plaintext=b"x") == unavailable
        assert fails(other.decrypt, "KMSInvalidStateException", CiphertextBlob=blob) == unavailable
        fails(other.generate_data_key, "KMSInvalidStateException", KeyId=key["KeyId"], KeySpec="AES_256")
        fails(other.generate_random, "CustomKeyStoreInvalidStateException", NumberOfBytes=8, CustomKeyStoreId=store_id)
    # Managing the key still works; its own state shows again once the store is connected.
    kms.disable_key(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Unavailable"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    deletion = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert deletion["KeyState"] == "PendingDeletion"
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_a_token_that_fails_while_serving_gives_internal_errors_then_recovers(clusters: Clusters, kms: Any) -> None:
    store_id, _, token = _store(kms, clusters)
    key = _key(kms, store_id)["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"before")["CiphertextBlob"]
    aside = clusters.first.tokens.parent / "tokens-aside"
    mine = _token_dir(token)
    shutil.copytree(token.tokens / mine, aside / mine)
    shutil.rmtree(token.tokens / mine)  # this token goes away, the others stay
    try:
        started = time.monotonic()
        for _ in range(4):
            fails(kms.decrypt, "KMSInternalException", CiphertextBlob=blob)
            fails(kms.encrypt, "KMSInternalException", KeyId=key, Plaintext=b"during")
        assert time.monotonic() - started < 60
    finally:
        shutil.copytree(aside / mine, token.tokens / mine)
        shutil.rmtree(aside)
    deadline = time.monotonic() + 30
    while True:  # each worker re-initialises the module on its next failure, and finds the token back
        try:
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
            break
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _token_dir(token: Token) -> str:
    """The directory of one token (SoftHSM2 keeps each token in a directory named by its serial)."""
    out = in_token(token, "print(session.token.serial.decode().strip())").strip()
    for directory in token.tokens.iterdir():
        if (directory / "token.object").exists() and out in (directory / "token.object").read_bytes().decode("latin-1"):
            return directory.name
    raise AssertionError(f"no directory for token {token.label}")


def test_nothing_outside_the_token_opens_a_key(clusters: Clusters, kms: Any, tmp_path: Any) -> None:
    """The scan: the store holds no material of the key (no key_material row, no wrapped blob); a copy of the
    data directory with the token gone cannot decrypt; the token object is non-extractable (asserted above)."""
    store_id, _, token = _store(kms, clusters)
    key = _key(kms, store_id)["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"secret")["CiphertextBlob"]
    copy = tmp_path / "copy"
    shutil.copytree(clusters.data, copy, ignore=shutil.ignore_patterns("*.sock", "serve.lock"))
    with sqlite3.connect(copy / "trent.db") as db:
        assert db.execute("SELECT count(*) FROM key_material WHERE key_id = ?", (key,)).fetchone() == (0,)
        assert db.execute("SELECT custom_key_store_id FROM keys WHERE key_id = ?", (key,)).fetchone() == (store_id,)
        # The only secret the store holds for the store is its password, wrapped by the root of trust.
        (config,) = db.execute(
            "SELECT config FROM custom_key_stores WHERE custom_key_store_id = ?", (store_id,)
        ).fetchone()
        assert token.pin not in config
    db.close()
    for path in iter_files(copy):
        assert token.pin.encode() not in path.read_bytes(), path
    # A server on the copy, with the token gone: the key cannot be used.
    moved = token.tokens.parent / "moved"
    token.tokens.rename(moved)
    try:
        with TrentServer(copy, workers=1, env=token.env()) as server:
            other = server.client(region=kms.meta.region_name)
            fails(other.decrypt, "KMSInternalException", CiphertextBlob=blob)
    finally:
        moved.rename(token.tokens)


def test_rotating_the_root_key_rewraps_the_store_passwords(clusters: Clusters, kms: Any) -> None:
    store_id, _, _ = _store(kms, clusters)
    key = _key(kms, store_id)["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"kept")["CiphertextBlob"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    done = admin(clusters.data, "rotate-root-key")
    assert done.returncode == 0, done.stderr
    found = re.search(r"(\d+) custom key store password\(s\)", done.stdout)
    assert found and int(found.group(1)) >= 1, done.stdout
    with sqlite3.connect(clusters.data / "trent.db") as db:
        configs = [json.loads(c) for (c,) in db.execute("SELECT config FROM custom_key_stores")]
    db.close()
    roots = {WrappedMaterial.from_bytes(base64.b64decode(c["wrapped_password"])).root_key_id for c in configs}
    assert len(roots) == 1  # every password under the new root key
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)  # the password opens under the new root key
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
