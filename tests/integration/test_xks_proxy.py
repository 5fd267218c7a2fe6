"""Trent as an XKS proxy: a real `trent serve` answering the AWS KMS External Key Store Proxy API
(aws/aws-kms-xksproxy-api-spec) to requests signed as AWS KMS signs them, for every operation and every error
the specification lists, with the four key kinds of AWS's test client (both, encrypt-only, decrypt-only and
"impotent"), AAD and ciphertextMetadata bound and tampered with, the integrity value, a disabled key store,
wrong credentials, rotation, the allow-list and the audit trail."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.integration.xks_client import XksClient, b64, data_dir_of, metadata
from tests.support import TrentServer, trent_command
from trent.rootoftrust.base import WrappedMaterial

ACCESS_KEY_ID = "XKSTESTKEYAAAAAAAAAA"
SECRET = base64.b64encode(b"x" * 32).decode()
OTHER_ACCESS_KEY_ID = "XKSOTHERKEYBBBBBBBBB"
OTHER_SECRET = base64.b64encode(b"y" * 32).decode()


def admin(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [*trent_command(), "admin", "xks", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Proxy:
    server: TrentServer
    xks: XksClient
    other: XksClient  # the decrypt-only store: the same key as `both`, exposed for DECRYPT alone
    keys: dict[str, str]  # kind -> Trent key id

    def admin(self, *args: str) -> str:
        return admin(data_dir_of(self.server), *args)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with TrentServer(tmp_path_factory.mktemp("xks"), workers=2) as server:
        kms = server.client()
        keys = {kind: kms.create_key()["KeyMetadata"]["KeyId"] for kind in ("both", "encrypt", "decrypt", "none")}
        keys |= {kind: kms.create_key()["KeyMetadata"]["KeyId"] for kind in ("disabled", "deleting", "guarded")}
        kms.disable_key(KeyId=keys["disabled"])
        kms.schedule_key_deletion(KeyId=keys["deleting"], PendingWindowInDays=7)
        data_dir = data_dir_of(server)
        admin(data_dir, "create-keystore", "--uri-prefix", "ks/main", "--access-key-id", ACCESS_KEY_ID,
              "--secret-access-key", SECRET)  # fmt: skip
        admin(data_dir, "create-keystore", "--uri-prefix", "ks/other", "--access-key-id", OTHER_ACCESS_KEY_ID,
              "--secret-access-key", OTHER_SECRET)  # fmt: skip
        usages = {"both": "ENCRYPT,DECRYPT", "encrypt": "ENCRYPT", "decrypt": "DECRYPT", "none": "NONE"}
        for kind in ("both", "encrypt", "decrypt", "none", "disabled", "deleting"):
            admin(data_dir, "expose", "--uri-prefix", "ks/main", "--key-id", keys[kind], "--usage",
                  usages.get(kind, "ENCRYPT,DECRYPT"))  # fmt: skip
        admin(data_dir, "expose", "--uri-prefix", "ks/main", "--key-id", keys["guarded"],
              "--allow-principal", "arn:aws:iam::123456789012:user/Bob", "--allow-operation", "Encrypt")  # fmt: skip
        admin(data_dir, "expose", "--uri-prefix", "ks/other", "--key-id", keys["both"], "--usage", "DECRYPT")
        xks = XksClient(server.endpoint, "ks/main", ACCESS_KEY_ID, SECRET)
        other = XksClient(server.endpoint, "ks/other", OTHER_ACCESS_KEY_ID, OTHER_SECRET)
        yield Proxy(server, xks, other, keys)


def _sealed(answer: Any) -> dict[str, Any]:
    assert answer.status == 200, answer.body
    return dict(answer.body)


def _decoded(sealed: dict[str, Any], name: str) -> bytes:
    return base64.b64decode(sealed.get(name, ""))


# -- GetHealthStatus --------------------------------------------------------------------------------------------
def test_health_status_has_the_specifications_shape(proxy: Proxy) -> None:
    answer = proxy.xks.health()
    assert answer.status == 200, answer.body
    body = answer.body
    assert body["xksProxyFleetSize"] >= 1 and body["xksProxyVendor"] and body["xksProxyModel"] and body["ekmVendor"]
    (ekm,) = body["ekmFleetDetails"]
    assert ekm["healthStatus"] == "ACTIVE" and ekm["id"] and ekm["model"]


@pytest.mark.parametrize("body", [{}, {"requestMetadata": {}}, {"requestMetadata": {"kmsOperation": "X"}}, []])
def test_health_status_needs_its_request_metadata(proxy: Proxy, body: Any) -> None:
    answer = proxy.xks.send("health", body)
    assert (answer.status, answer.error) == (400, "ValidationException")


# -- GetKeyMetadata ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "usage", "status"),
    [
        ("both", ["ENCRYPT", "DECRYPT"], "ENABLED"),
        ("encrypt", ["ENCRYPT"], "ENABLED"),
        ("decrypt", ["DECRYPT"], "ENABLED"),
        ("none", [], "ENABLED"),
        ("disabled", ["ENCRYPT", "DECRYPT"], "DISABLED"),
        ("deleting", ["ENCRYPT", "DECRYPT"], "DISABLED"),
    ],
)
def test_key_metadata_follows_the_exposure_and_the_key_state(
    proxy: Proxy, kind: str, usage: list[str], status: str
) -> None:
    for operation in ("DescribeKey", "CreateKey"):
        answer = proxy.xks.key_metadata(proxy.keys[kind], operation)
        assert answer.status == 200, answer.body
        assert answer.body == {"keySpec": "AES_256", "keyUsage": usage, "keyStatus": status}


def test_key_metadata_for_create_key_needs_no_key_arn(proxy: Proxy) -> None:
    body = {"requestMetadata": {k: v for k, v in metadata("CreateKey").items() if k != "kmsKeyArn"}}
    assert proxy.xks.send(f"keys/{proxy.keys['both']}/metadata", body).status == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"requestMetadata": {}},
        {"requestMetadata": {**metadata("DescribeKey"), "awsPrincipalArn": 7}},
        {"requestMetadata": {k: v for k, v in metadata("DescribeKey").items() if k != "kmsRequestId"}},
        {"requestMetadata": {**metadata("DescribeKey"), "kmsViaService": ["ebs"]}},
        b"{not json",
        b"",
    ],
)
def test_key_metadata_validates_its_request(proxy: Proxy, body: Any) -> None:
    answer = proxy.xks.send(f"keys/{proxy.keys['both']}/metadata", body)
    assert (answer.status, answer.error) == (400, "ValidationException")


def test_unknown_request_metadata_members_and_operations_are_accepted(proxy: Proxy) -> None:
    body = {"requestMetadata": metadata("BulkDescribeKey", kmsFutureField="x"), "somethingNew": 1}
    assert proxy.xks.send(f"keys/{proxy.keys['both']}/metadata", body).status == 200


def test_unknown_and_unexposed_keys_are_not_found(proxy: Proxy) -> None:
    for key_id in ("non_existing_key", proxy.keys["both"].upper()):
        for answer in (
            proxy.xks.key_metadata(key_id),
            proxy.xks.encrypt(key_id, b"x"),
            proxy.xks.decrypt(
                key_id,
                {"ciphertext": "AA==", "initializationVector": b64(bytes(12)), "authenticationTag": b64(bytes(16))},
            ),  # fmt: skip
        ):
            assert (answer.status, answer.error) == (404, "KeyNotFoundException")
    answer = proxy.xks.key_metadata("bad~id")
    assert (answer.status, answer.error) == (400, "ValidationException")


# -- Encrypt and Decrypt ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("aad", [None, b"project=nile,department=marketing"])
def test_round_trips_with_and_without_aad(proxy: Proxy, aad: bytes | None) -> None:
    key = proxy.keys["both"]
    sealed = _sealed(proxy.xks.encrypt(key, b"Hello World!", aad))
    assert set(sealed) == {"ciphertext", "ciphertextMetadata", "initializationVector", "authenticationTag"}
    assert len(_decoded(sealed, "ciphertext")) == 12 and len(_decoded(sealed, "initializationVector")) == 12
    assert len(_decoded(sealed, "authenticationTag")) == 16 and len(_decoded(sealed, "ciphertextMetadata")) <= 20
    answer = proxy.xks.decrypt(key, sealed, aad)
    assert answer.status == 200 and answer.body == {"plaintext": b64(b"Hello World!")}


def test_large_plaintext_and_aad_as_the_test_client_sends(proxy: Proxy) -> None:
    plaintext, aad = os.urandom(4300), os.urandom(8192)
    sealed = _sealed(proxy.xks.encrypt(proxy.keys["both"], plaintext, aad))
    assert proxy.xks.decrypt(proxy.keys["both"], sealed, aad).body == {"plaintext": b64(plaintext)}


@pytest.mark.parametrize("aad", [None, b"project=nile"])
def test_the_integrity_value_is_the_specifications(proxy: Proxy, aad: bytes | None) -> None:
    sealed = _sealed(proxy.xks.encrypt(proxy.keys["both"], b"data key", aad, cdiv="SHA_256"))
    expected = hashlib.sha256(
        (aad or b"")
        + b"".join(_decoded(sealed, n) for n in ("ciphertextMetadata", "initializationVector", "ciphertext"))
        + _decoded(sealed, "authenticationTag")
    ).digest()
    assert _decoded(sealed, "ciphertextDataIntegrityValue") == expected
    assert proxy.xks.decrypt(proxy.keys["both"], sealed, aad).body == {"plaintext": b64(b"data key")}


def _flip(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[-1] ^= 1
    return b64(bytes(raw))


@pytest.mark.parametrize(
    ("change", "aad"),
    [
        ({}, None),  # the AAD left out
        ({}, b"project=blue,department=finance"),  # another AAD
        ({"ciphertext": "flip"}, b"a"),
        ({"initializationVector": "flip"}, b"a"),
        ({"authenticationTag": "flip"}, b"a"),
        ({"ciphertextMetadata": "flip"}, b"a"),
        ({"ciphertextMetadata": None}, b"a"),  # left out
        ({"initializationVector": b64(bytes(16))}, b"a"),
        ({"initializationVector": b64(bytes(8))}, b"a"),
        ({"authenticationTag": b64(bytes(12))}, b"a"),
        ({"ciphertextMetadata": b64(bytes(21))}, b"a"),
    ],
)
def test_tampering_is_an_invalid_ciphertext(proxy: Proxy, change: dict[str, str | None], aad: bytes | None) -> None:
    sealed = _sealed(proxy.xks.encrypt(proxy.keys["both"], b"secret", b"a"))
    for name, value in change.items():
        if value is None:
            del sealed[name]
        else:
            sealed[name] = _flip(sealed[name]) if value == "flip" else value
    answer = proxy.xks.decrypt(proxy.keys["both"], sealed, aad)
    assert (answer.status, answer.error) == (400, "InvalidCiphertextException")


def test_ciphertext_metadata_passed_as_aad_does_not_decrypt(proxy: Proxy) -> None:
    # The specification's reason for the lengths in the AAD framing.
    sealed = _sealed(proxy.xks.encrypt(proxy.keys["both"], b"secret"))
    moved = _decoded(sealed, "ciphertextMetadata")
    del sealed["ciphertextMetadata"]
    answer = proxy.xks.decrypt(proxy.keys["both"], sealed, moved)
    assert answer.error == "InvalidCiphertextException"


def test_a_ciphertext_of_another_key_does_not_decrypt(proxy: Proxy) -> None:
    sealed = _sealed(proxy.xks.encrypt(proxy.keys["encrypt"], b"secret"))
    assert proxy.xks.decrypt(proxy.keys["both"], sealed).error == "InvalidCiphertextException"


@pytest.mark.parametrize(
    ("members", "error", "status"),
    [
        ({"plaintext": None}, "ValidationException", 400),
        ({"plaintext": "not base64!"}, "ValidationException", 400),
        ({"plaintext": 12}, "ValidationException", 400),
        ({"additionalAuthenticatedData": "%%%"}, "ValidationException", 400),
        ({"encryptionAlgorithm": None}, "ValidationException", 400),
        ({"encryptionAlgorithm": "AES_CBC"}, "UnsupportedOperationException", 501),
        ({"ciphertextDataIntegrityValueAlgorithm": "SHA_1"}, "UnsupportedOperationException", 501),
        ({"plaintext": b64(bytes(64 * 1024 + 1))}, "UnsupportedOperationException", 501),
        ({"requestMetadata": {"kmsOperation": "Encrypt"}}, "ValidationException", 400),
    ],
)
def test_encrypt_validates_its_request(proxy: Proxy, members: dict[str, Any], error: str, status: int) -> None:
    body = {"requestMetadata": metadata("Encrypt"), "plaintext": b64(b"x"), "encryptionAlgorithm": "AES_GCM"}
    for name, value in members.items():
        if value is None:
            body.pop(name)
        else:
            body[name] = value
    answer = proxy.xks.send(f"keys/{proxy.keys['both']}/encrypt", body)
    assert (answer.status, answer.error) == (status, error)


@pytest.mark.parametrize("missing", ["ciphertext", "initializationVector", "authenticationTag", "encryptionAlgorithm"])
def test_decrypt_needs_its_members(proxy: Proxy, missing: str) -> None:
    sealed = _sealed(proxy.xks.encrypt(proxy.keys["both"], b"secret"))
    body = {"requestMetadata": metadata("Decrypt"), "encryptionAlgorithm": "AES_GCM", **sealed}
    del body[missing]
    answer = proxy.xks.send(f"keys/{proxy.keys['both']}/decrypt", body)
    assert (answer.status, answer.error) == (400, "ValidationException")


def test_a_rotated_key_still_decrypts_what_its_earlier_material_made(proxy: Proxy) -> None:
    kms = proxy.server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    proxy.admin("expose", "--uri-prefix", "ks/main", "--key-id", key_id)
    before = _sealed(proxy.xks.encrypt(key_id, b"old"))
    kms.rotate_key_on_demand(KeyId=key_id)
    after = _sealed(proxy.xks.encrypt(key_id, b"new"))
    assert before["ciphertextMetadata"][:8] != after["ciphertextMetadata"][:8]  # another material version
    assert proxy.xks.decrypt(key_id, before).body == {"plaintext": b64(b"old")}
    assert proxy.xks.decrypt(key_id, after).body == {"plaintext": b64(b"new")}


# -- the four key kinds of AWS's test client ------------------------------------------------------------------
def test_an_encrypt_only_key_refuses_decrypt_and_the_integrity_value(proxy: Proxy) -> None:
    key = proxy.keys["encrypt"]
    for aad in (None, b"aad"):
        sealed = _sealed(proxy.xks.encrypt(key, b"plaintext", aad))
        answer = proxy.xks.decrypt(key, sealed, aad)
        assert (answer.status, answer.error) == (400, "InvalidKeyUsageException")
        # A CDIV is verified by decrypting (Appendix C), which this key may not do.
        assert proxy.xks.encrypt(key, b"plaintext", aad, cdiv="SHA_256").error == "InvalidKeyUsageException"


@pytest.mark.parametrize("kind", ["decrypt", "none"])
def test_decrypt_only_and_impotent_keys_refuse_encrypt(proxy: Proxy, kind: str) -> None:
    for aad in (None, b"aad"):
        for cdiv in (None, "SHA_256"):
            answer = proxy.xks.encrypt(proxy.keys[kind], b"plaintext", aad, cdiv=cdiv)
            assert (answer.status, answer.error) == (400, "InvalidKeyUsageException")


def test_a_decrypt_only_key_decrypts_and_an_impotent_one_does_not(proxy: Proxy) -> None:
    # The same Trent key, exposed for both to ks/main and for DECRYPT alone to ks/other.
    sealed = _sealed(proxy.xks.encrypt(proxy.keys["both"], b"shared", b"aad"))
    assert proxy.other.decrypt(proxy.keys["both"], sealed, b"aad").body == {"plaintext": b64(b"shared")}
    assert proxy.other.encrypt(proxy.keys["both"], b"x").error == "InvalidKeyUsageException"
    assert proxy.xks.decrypt(proxy.keys["none"], sealed, b"aad").error == "InvalidKeyUsageException"


@pytest.mark.parametrize("kind", ["disabled", "deleting"])
def test_a_key_that_is_not_enabled_is_in_an_invalid_state(proxy: Proxy, kind: str) -> None:
    assert (proxy.xks.encrypt(proxy.keys[kind], b"x").status, proxy.xks.encrypt(proxy.keys[kind], b"x").error) == (
        400,
        "InvalidStateException",
    )
    sealed = {"ciphertext": "AA==", "initializationVector": b64(bytes(12)), "authenticationTag": b64(bytes(16))}
    assert proxy.xks.decrypt(proxy.keys[kind], sealed).error == "InvalidStateException"


def test_enabling_the_key_again_serves_it(proxy: Proxy) -> None:
    kms = proxy.server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    proxy.admin("expose", "--uri-prefix", "ks/main", "--key-id", key_id)
    sealed = _sealed(proxy.xks.encrypt(key_id, b"x"))
    kms.disable_key(KeyId=key_id)
    assert proxy.xks.decrypt(key_id, sealed).error == "InvalidStateException"
    assert proxy.xks.key_metadata(key_id).body["keyStatus"] == "DISABLED"
    kms.enable_key(KeyId=key_id)
    assert proxy.xks.decrypt(key_id, sealed).body == {"plaintext": b64(b"x")}


# -- the allow-list ---------------------------------------------------------------------------------------------
def test_the_allow_list_denies_other_principals_and_operations(proxy: Proxy) -> None:
    key = proxy.keys["guarded"]
    assert (proxy.xks.encrypt(key, b"x").status, proxy.xks.encrypt(key, b"x").error) == (403, "AccessDeniedException")
    assert proxy.xks.key_metadata(key).error == "AccessDeniedException"
    bob = {"requestMetadata": metadata("Encrypt", awsPrincipalArn="arn:aws:iam::123456789012:user/Bob")}
    body = {**bob, "plaintext": b64(b"x"), "encryptionAlgorithm": "AES_GCM"}
    sealed = _sealed(proxy.xks.send(f"keys/{key}/encrypt", body))
    as_bob = {"requestMetadata": metadata("Decrypt", awsPrincipalArn="arn:aws:iam::123456789012:user/Bob")}
    answer = proxy.xks.send(f"keys/{key}/decrypt", {**as_bob, "encryptionAlgorithm": "AES_GCM", **sealed})
    assert (answer.status, answer.error) == (403, "AccessDeniedException")  # Decrypt is not an allowed operation
    assert proxy.xks.health().status == 200  # GetHealthStatus is never subject to it


# -- the path, the method and the signature ---------------------------------------------------------------------
def test_unknown_paths_are_invalid_uri_paths(proxy: Proxy) -> None:
    for prefix, path in (("ks/main/invalid", "health"), ("nowhere", "health"), ("ks/main", "keys/x/sign"),
                         ("ks/main", "healthz"), ("ks", f"keys/{proxy.keys['both']}/metadata")):  # fmt: skip
        answer = proxy.xks.send(path, {"requestMetadata": metadata("DescribeKey")}, prefix=prefix)
        assert (answer.status, answer.error) == (404, "InvalidUriPathException"), (prefix, path)


def test_a_get_is_not_allowed(proxy: Proxy) -> None:
    for path in ("health", f"keys/{proxy.keys['both']}/metadata"):
        answer = proxy.xks.send(path, b"", method="GET")
        assert answer.status == 405 and answer.error


@pytest.mark.parametrize(
    "client",
    [
        lambda c: replace(c, secret="Invalid" + c.secret),
        lambda c: replace(c, access_key_id="INVALID" + c.access_key_id),
        lambda c: replace(c, access_key_id=OTHER_ACCESS_KEY_ID, secret=OTHER_SECRET),  # another store's credential
        lambda c: replace(c, service="kms"),
    ],
)
def test_wrong_credentials_fail_authentication(proxy: Proxy, client: Any) -> None:
    wrong = client(proxy.xks)
    for answer in (wrong.health(), wrong.key_metadata(proxy.keys["both"]), wrong.encrypt(proxy.keys["both"], b"x")):
        assert (answer.status, answer.error) == (401, "AuthenticationFailedException")


def test_an_unsigned_request_fails_authentication(proxy: Proxy) -> None:
    answer = proxy.xks.send("health", {"requestMetadata": {"kmsOperation": "X", "kmsRequestId": "1"}}, sign=False)
    assert (answer.status, answer.error) == (401, "AuthenticationFailedException")


def test_the_content_type_is_json(proxy: Proxy) -> None:
    body = {"requestMetadata": metadata("DescribeKey")}
    answer = proxy.xks.send(f"keys/{proxy.keys['both']}/metadata", body, content_type="text/plain")
    assert (answer.status, answer.error) == (400, "ValidationException")


# -- the operator's controls ------------------------------------------------------------------------------------
def test_disable_keystore_cuts_access_at_once_in_every_worker(proxy: Proxy) -> None:
    sealed = _sealed(proxy.xks.encrypt(proxy.keys["both"], b"x"))
    proxy.admin("disable-keystore", "--uri-prefix", "ks/main")
    try:
        for _ in range(6):  # a new connection each: both workers answer
            for answer in (proxy.xks.health(), proxy.xks.decrypt(proxy.keys["both"], sealed)):
                assert (answer.status, answer.error) == (400, "InvalidStateException")
        assert proxy.other.decrypt(proxy.keys["both"], sealed).status == 200  # another store is not affected
        assert proxy.xks.health(prefix="ks/main").error == "InvalidStateException"
        wrong = replace(proxy.xks, secret="Invalid" + SECRET)
        assert wrong.health().error == "AuthenticationFailedException"  # the credential is checked first
    finally:
        proxy.admin("enable-keystore", "--uri-prefix", "ks/main")
    for _ in range(4):
        assert proxy.xks.decrypt(proxy.keys["both"], sealed).status == 200


def test_rotation_accepts_both_credentials_until_the_old_one_is_retired(proxy: Proxy) -> None:
    proxy.admin("create-keystore", "--uri-prefix", "ks/rot", "--access-key-id", "ROTATEOLDAAAAAAAAAAA",
                "--secret-access-key", SECRET)  # fmt: skip
    old = XksClient(proxy.server.endpoint, "ks/rot", "ROTATEOLDAAAAAAAAAAA", SECRET)
    assert old.health().status == 200
    new_secret = base64.b64encode(b"z" * 32).decode()
    proxy.admin("rotate-credential", "--uri-prefix", "ks/rot", "--access-key-id", "ROTATENEWAAAAAAAAAAA",
                "--secret-access-key", new_secret)  # fmt: skip
    new = replace(old, access_key_id="ROTATENEWAAAAAAAAAAA", secret=new_secret)
    assert old.health().status == 200 and new.health().status == 200
    proxy.admin("retire-credential", "--uri-prefix", "ks/rot")
    assert old.health().error == "AuthenticationFailedException" and new.health().status == 200
    proxy.admin("delete-keystore", "--uri-prefix", "ks/rot")
    assert new.health().error == "InvalidUriPathException"


def test_unexpose_makes_the_key_not_found(proxy: Proxy) -> None:
    kms = proxy.server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    proxy.admin("expose", "--uri-prefix", "ks/main", "--key-id", key_id)
    assert proxy.xks.key_metadata(key_id).status == 200
    proxy.admin("unexpose", "--uri-prefix", "ks/main", "--key-id", key_id)
    assert proxy.xks.key_metadata(key_id).error == "KeyNotFoundException"


# -- the audit trail --------------------------------------------------------------------------------------------
def test_every_request_has_an_audit_record_without_its_data(proxy: Proxy) -> None:
    plaintext, aad = b"never-in-the-audit-trail", b"nor-this-aad"
    sealed = _sealed(proxy.xks.encrypt(proxy.keys["both"], plaintext, aad, operation="GenerateDataKey"))
    assert proxy.xks.decrypt(proxy.keys["both"], sealed, aad).status == 200
    assert proxy.xks.decrypt(proxy.keys["both"], sealed).error == "InvalidCiphertextException"
    assert replace(proxy.xks, secret="Invalid" + SECRET).health().error == "AuthenticationFailedException"
    done = subprocess.run(
        [*trent_command(), "audit", "query", "--data-dir", str(data_dir_of(proxy.server))],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    records = [json.loads(line) for line in done.stdout.splitlines()]
    xks = [r for r in records if r["eventSource"] == "kms-xks-proxy"]
    for secret in (plaintext, aad, base64.b64decode(sealed["ciphertext"])):
        for form in (secret, base64.b64encode(secret)):
            assert form.decode("latin-1") not in done.stdout
    for name in ("ciphertext", "initializationVector", "authenticationTag"):
        assert sealed[name] not in done.stdout
    encrypts = [r for r in xks if r["eventName"] == "XksEncrypt"
                and r["requestParameters"].get("requestMetadata", {}).get("kmsOperation") == "GenerateDataKey"]  # fmt: skip
    (encrypt,) = encrypts
    assert encrypt["requestParameters"]["uriPrefix"] == "ks/main"
    assert encrypt["requestParameters"]["externalKeyId"] == proxy.keys["both"]
    assert encrypt["requestParameters"]["encryptionAlgorithm"] == "AES_GCM"
    assert encrypt["requestParameters"]["requestMetadata"]["awsPrincipalArn"].endswith("user/Alice")
    assert encrypt["resources"][0]["ARN"].endswith(proxy.keys["both"])
    assert encrypt["userIdentity"]["accessKeyId"] == ACCESS_KEY_ID and "errorCode" not in encrypt
    failed = [r for r in xks if r.get("errorCode") == "InvalidCiphertextException"]
    assert failed and all(r["eventName"] == "XksDecrypt" for r in failed)
    unauthenticated = [r for r in xks if r.get("errorCode") == "AuthenticationFailedException"]
    assert unauthenticated and all(r["userIdentity"]["type"] == "Unknown" for r in unauthenticated)
    assert {r["eventName"] for r in xks} >= {"XksEncrypt", "XksDecrypt", "XksGetKeyMetadata", "XksGetHealthStatus"}


# -- the root of trust over time (last: it rotates the server's root key) ----------------------------------------
def test_rotating_the_root_key_rewraps_xks_secrets_and_they_keep_working(proxy: Proxy) -> None:
    proxy.admin("create-keystore", "--uri-prefix", "ks/rk", "--access-key-id", "ROOTKEYOLDAAAAAAAAAA",
                "--secret-access-key", SECRET)  # fmt: skip
    new_secret = base64.b64encode(b"w" * 32).decode()
    proxy.admin("rotate-credential", "--uri-prefix", "ks/rk", "--access-key-id", "ROOTKEYNEWAAAAAAAAAA",
                "--secret-access-key", new_secret)  # fmt: skip

    def root_keys() -> set[str]:
        with contextlib.closing(sqlite3.connect(data_dir_of(proxy.server) / "trent.db")) as db:
            row = db.execute(
                "SELECT wrapped_secret, previous_wrapped_secret FROM xks_stores WHERE uri_prefix = 'ks/rk'"
            ).fetchone()
        return {WrappedMaterial.from_bytes(blob).root_key_id for blob in row}

    (before,) = root_keys()
    done = subprocess.run(
        [*trent_command(), "admin", "rotate-root-key", "--data-dir", str(data_dir_of(proxy.server))],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (after,) = root_keys()
    assert after != before
    old = XksClient(proxy.server.endpoint, "ks/rk", "ROOTKEYOLDAAAAAAAAAA", SECRET)
    assert old.health().status == 200
    assert replace(old, access_key_id="ROOTKEYNEWAAAAAAAAAA", secret=new_secret).health().status == 200
    assert proxy.xks.health().status == 200
