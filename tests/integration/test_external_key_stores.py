"""External key stores (EXTERNAL_KEY_STORE), Trent against Trent: one `trent serve` is the XKS proxy (`trent
admin xks create-keystore`, `expose`), another uses it as its external key store, with boto3 against the
second: create, connect, describe, update, create keys, the double encryption, and what happens when the proxy
side is disabled, frozen or gone (docs/decisions/0016-external-key-stores.md)."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_xks_proxy import admin
from tests.integration.xks_client import XksClient, b64, data_dir_of, metadata
from tests.support import TrentServer, error_of
from trent.crypto import ciphertext
from trent.crypto.context import to_aad

pytestmark = pytest.mark.integration
XKS_ID = "EXTSTORETESTKEYAAAAA"
XKS_SECRET = base64.b64encode(b"e" * 32).decode()
PREFIX = "ks/ext"
PATH = f"/{PREFIX}/kms/xks/v1"


@dataclass
class Pair:
    proxy: TrentServer
    user: TrentServer
    proxy_keys: dict[str, str]  # kind -> the proxy's key id (the external key id)
    kms: Any  # boto3 against the user

    @property
    def endpoint(self) -> str:
        return self.proxy.endpoint

    def admin(self, *args: str) -> str:
        return admin(data_dir_of(self.proxy), *args)

    def proxy_store(self, prefix: str, access_key_id: str, secret: str = XKS_SECRET) -> str:
        """A key store on the proxy side (its own access key id: the proxy's are unique); its XksProxyUriPath."""
        self.admin("create-keystore", "--uri-prefix", prefix, "--access-key-id", access_key_id,
                   "--secret-access-key", secret)  # fmt: skip
        return f"/{prefix}/kms/xks/v1"

    def create_store(
        self, name: str, *, secret: str = XKS_SECRET, path: str = PATH, access_key_id: str = XKS_ID
    ) -> str:
        return str(
            self.kms.create_custom_key_store(
                CustomKeyStoreName=name,
                CustomKeyStoreType="EXTERNAL_KEY_STORE",
                XksProxyConnectivity="PUBLIC_ENDPOINT",
                XksProxyUriEndpoint=self.endpoint,
                XksProxyUriPath=path,
                XksProxyAuthenticationCredential={"AccessKeyId": access_key_id, "RawSecretAccessKey": secret},
            )["CustomKeyStoreId"]
        )

    def describe(self, store_id: str) -> dict[str, Any]:
        return dict(self.kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with TrentServer(tmp_path_factory.mktemp("proxy"), workers=1) as proxy:
        proxy.port = urlsplit(proxy.endpoint).port or 0  # restarted on the same port
        keys = {kind: proxy.client().create_key()["KeyMetadata"]["KeyId"] for kind in ("both", "encrypt", "other")}
        admin(data_dir_of(proxy), "create-keystore", "--uri-prefix", PREFIX, "--access-key-id", XKS_ID,
              "--secret-access-key", XKS_SECRET)  # fmt: skip
        for kind, usage in (("both", "ENCRYPT,DECRYPT"), ("encrypt", "ENCRYPT"), ("other", "ENCRYPT,DECRYPT")):
            admin(data_dir_of(proxy), "expose", "--uri-prefix", PREFIX, "--key-id", keys[kind], "--usage", usage)
        with TrentServer(tmp_path_factory.mktemp("user"), workers=2) as user:
            yield Pair(proxy, user, keys, user.client())


@pytest.fixture(scope="module")
def connected(pair: Pair) -> str:
    store_id = pair.create_store("connected")
    pair.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    return store_id


@pytest.fixture(scope="module")
def key(pair: Pair, connected: str) -> str:
    return str(
        pair.kms.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=connected, XksKeyId=pair.proxy_keys["both"])[
            "KeyMetadata"
        ]["KeyId"]
    )


def _fails_fast(call: Any) -> tuple[str, str]:
    started = time.monotonic()
    with pytest.raises(ClientError) as caught:
        call()
    assert time.monotonic() - started < 2.0  # the proxy's 250 ms, and boto3's own round trip
    return error_of(caught)


def test_create_connect_and_describe(pair: Pair) -> None:
    store_id = pair.create_store("described")
    shown = pair.describe(store_id)
    assert shown["CustomKeyStoreType"] == "EXTERNAL_KEY_STORE" and shown["ConnectionState"] == "DISCONNECTED"
    assert shown["XksProxyConfiguration"] == {
        "Connectivity": "PUBLIC_ENDPOINT",
        "AccessKeyId": XKS_ID,
        "UriEndpoint": pair.endpoint,
        "UriPath": PATH,
    }
    assert XKS_SECRET not in str(pair.kms.describe_custom_key_stores())
    pair.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert pair.describe(store_id)["ConnectionState"] == "CONNECTED"
    pair.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    pair.kms.delete_custom_key_store(CustomKeyStoreId=store_id)


def test_create_checks_the_proxy(pair: Pair) -> None:
    wrong = base64.b64encode(b"w" * 32).decode()
    with pytest.raises(ClientError) as caught:
        pair.create_store("wrong secret", secret=wrong)
    assert error_of(caught)[0] == "XksProxyIncorrectAuthenticationCredentialException"
    with pytest.raises(ClientError) as caught:
        pair.create_store("wrong path", path="/ks/nothere/kms/xks/v1")
    assert error_of(caught)[0] in (
        "XksProxyIncorrectAuthenticationCredentialException",
        "XksProxyInvalidConfigurationException",
    )


def test_create_validates_like_aws(pair: Pair) -> None:
    kms = pair.user.client(validate=False)  # boto3 checks lengths itself; the server's own checks are tested
    base = {
        "CustomKeyStoreName": "invalid",
        "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
        "XksProxyConnectivity": "PUBLIC_ENDPOINT",
        "XksProxyUriEndpoint": pair.endpoint,
        "XksProxyUriPath": PATH,
        "XksProxyAuthenticationCredential": {"AccessKeyId": XKS_ID, "RawSecretAccessKey": XKS_SECRET},
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({"XksProxyConnectivity": "VPC_ENDPOINT_SERVICE"}, "UnsupportedOperationException"),
        ({"XksProxyUriEndpoint": "http://example.com"}, "ValidationException"),
        ({"XksProxyUriPath": "/ks/kms/xks/v1/more"}, "ValidationException"),
        (
            {"XksProxyAuthenticationCredential": {"AccessKeyId": XKS_ID, "RawSecretAccessKey": "short"}},
            "ValidationException",
        ),
        (
            {"XksProxyAuthenticationCredential": {"AccessKeyId": "lower", "RawSecretAccessKey": XKS_SECRET}},
            "ValidationException",
        ),
        ({"CloudHsmClusterId": "cluster-234567abcde"}, "ValidationException"),
    ]
    for change, error in cases:
        with pytest.raises(ClientError) as caught:
            kms.create_custom_key_store(**{**base, **change})
        assert error_of(caught)[0] == error, change
    missing = {k: v for k, v in base.items() if k != "XksProxyAuthenticationCredential"}
    with pytest.raises(ClientError) as caught:
        kms.create_custom_key_store(**missing)
    assert error_of(caught)[0] == "ValidationException"


def test_the_same_proxy_uri_is_one_store(pair: Pair, connected: str) -> None:
    with pytest.raises(ClientError) as caught:
        pair.create_store("again")
    assert error_of(caught)[0] == "XksProxyUriInUseException"


def test_a_wrong_credential_fails_the_connection(pair: Pair) -> None:
    # A store whose credential the proxy no longer accepts: created right, then updated to a wrong secret is
    # refused by the update's own check, so the proxy's credential changes instead (rotate-credential).
    temp, access = "ks/rotating", "EXTSTOREROTATINGAAAA"
    store_id = pair.create_store("rotating", path=pair.proxy_store(temp, access), access_key_id=access)
    pair.admin("delete-keystore", "--uri-prefix", temp)
    other = base64.b64encode(b"o" * 32).decode()
    pair.proxy_store(temp, access, other)
    pair.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    shown = pair.describe(store_id)
    assert shown["ConnectionState"] == "FAILED" and shown["ConnectionErrorCode"] == "XKS_PROXY_ACCESS_DENIED"
    pair.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    # The credential can be updated in any connection state; the update checks it first.
    pair.kms.update_custom_key_store(
        CustomKeyStoreId=store_id,
        XksProxyAuthenticationCredential={"AccessKeyId": access, "RawSecretAccessKey": other},
        NewCustomKeyStoreName="rotated",
    )
    pair.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert pair.describe(store_id)["ConnectionState"] == "CONNECTED"
    with pytest.raises(ClientError) as caught:
        pair.kms.update_custom_key_store(
            CustomKeyStoreId=store_id,
            XksProxyAuthenticationCredential={"AccessKeyId": access, "RawSecretAccessKey": XKS_SECRET},
        )
    assert error_of(caught)[0] == "XksProxyIncorrectAuthenticationCredentialException"
    with pytest.raises(ClientError) as caught:
        pair.kms.update_custom_key_store(CustomKeyStoreId=store_id, XksProxyUriEndpoint="https://elsewhere.example")
    assert error_of(caught)[0] == "CustomKeyStoreInvalidStateException"  # the endpoint needs DISCONNECTED
    pair.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    pair.kms.delete_custom_key_store(CustomKeyStoreId=store_id)


def test_an_update_to_an_unreachable_proxy_is_refused(pair: Pair) -> None:
    access = "EXTSTOREMOVINGAAAAAA"
    store_id = pair.create_store("moving", path=pair.proxy_store("ks/moving", access), access_key_id=access)
    with pytest.raises(ClientError) as caught:
        pair.kms.update_custom_key_store(CustomKeyStoreId=store_id, XksProxyUriEndpoint="http://127.0.0.1:9")
    assert error_of(caught)[0] == "XksProxyUriUnreachableException"
    assert pair.describe(store_id)["XksProxyConfiguration"]["UriEndpoint"] == pair.endpoint
    pair.kms.delete_custom_key_store(CustomKeyStoreId=store_id)


def test_create_key_checks_the_external_key(pair: Pair, connected: str, key: str) -> None:
    shown = pair.kms.describe_key(KeyId=key)["KeyMetadata"]
    assert shown["Origin"] == "EXTERNAL_KEY_STORE" and shown["CustomKeyStoreId"] == connected
    assert shown["XksKeyConfiguration"] == {"Id": pair.proxy_keys["both"]} and shown["KeyState"] == "Enabled"
    assert pair.kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    cases = [
        (pair.proxy_keys["encrypt"], "XksKeyInvalidConfigurationException"),
        ("not-exposed-anywhere", "XksKeyNotFoundException"),
        (pair.proxy_keys["both"], "XksKeyAlreadyInUseException"),
    ]
    for xks_key_id, error in cases:
        with pytest.raises(ClientError) as caught:
            pair.kms.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=connected, XksKeyId=xks_key_id)
        assert error_of(caught)[0] == error, xks_key_id
    with pytest.raises(ClientError) as caught:
        pair.kms.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=connected)
    assert error_of(caught)[0] == "ValidationException"


def test_encrypt_decrypt_data_keys_and_reencrypt(pair: Pair, key: str) -> None:
    kms = pair.kms
    context = {"purpose": "test"}
    blob = kms.encrypt(KeyId=key, Plaintext=b"hold your own key", EncryptionContext=context)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"hold your own key"
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "other"})
    assert error_of(caught)[0] == "InvalidCiphertextException"
    data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    hidden = kms.generate_data_key_without_plaintext(KeyId=key, NumberOfBytes=16)["CiphertextBlob"]
    assert len(kms.decrypt(CiphertextBlob=hidden)["Plaintext"]) == 16
    local = kms.create_key()["KeyMetadata"]["KeyId"]
    moved = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=context, DestinationKeyId=local)
    back = kms.re_encrypt(CiphertextBlob=moved["CiphertextBlob"], DestinationKeyId=key)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=back)["Plaintext"] == b"hold your own key"
    with pytest.raises(ClientError) as caught:
        kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    assert error_of(caught)[0] == "UnsupportedOperationException"


def test_a_tampered_blob_is_an_invalid_ciphertext(pair: Pair, key: str) -> None:
    blob = pair.kms.encrypt(KeyId=key, Plaintext=b"tamper with me")["CiphertextBlob"]
    header = len(ciphertext.unpack(blob).header)
    flipped_tail = blob[:-1] + bytes([blob[-1] ^ 1])  # the proxy's ciphertext
    flipped_tag = blob[: header + 15] + bytes([blob[header + 15] ^ 1]) + blob[header + 16 :]  # the proxy's IV
    for broken in (flipped_tail, flipped_tag, blob[: header + 3], blob[:header] + b"\x02" + blob[header + 1 :]):
        with pytest.raises(ClientError) as caught:
            pair.kms.decrypt(CiphertextBlob=broken)
        assert error_of(caught)[0] == "InvalidCiphertextException"


def test_neither_side_alone_decrypts(pair: Pair, key: str) -> None:
    """The proxy's Decrypt of the blob's outer layer gives Trent's inner ciphertext, not the plaintext; and the
    user's Trent cannot decrypt without the proxy (its material alone is not enough)."""
    plaintext = b"double encryption: both sides needed"
    blob = pair.kms.encrypt(KeyId=key, Plaintext=plaintext)["CiphertextBlob"]
    assert plaintext not in blob
    # The blob: the symmetric header (magic, version, key id length, key id, material version, nonce, IV),
    # then format 1, IV, tag and ciphertextMetadata with 1-byte lengths, then the proxy's ciphertext.
    parsed = ciphertext.unpack(blob)
    header, body = parsed.header, parsed.body
    assert body[0] == 1
    parts, i = [], 1
    for _ in range(3):
        parts.append(body[i + 1 : i + 1 + body[i]])
        i += 1 + body[i]
    xks = XksClient(pair.endpoint, PREFIX, XKS_ID, XKS_SECRET)
    aad = hashlib.sha256(header + to_aad({})).digest()
    answer = xks.send(
        f"keys/{pair.proxy_keys['both']}/decrypt",
        {
            "requestMetadata": metadata("Decrypt"),
            "ciphertext": b64(body[i:]),
            "initializationVector": b64(parts[0]),
            "authenticationTag": b64(parts[1]),
            "ciphertextMetadata": b64(parts[2]),
            "additionalAuthenticatedData": b64(aad),
            "encryptionAlgorithm": "AES_GCM",
        },
    )
    assert answer.status == 200, answer.body
    inner = base64.b64decode(answer.body["plaintext"])
    assert plaintext not in inner and len(inner) == len(plaintext) + 16  # Trent's AES-GCM ciphertext and tag
    pair.admin("disable-keystore", "--uri-prefix", PREFIX)
    try:
        assert _fails_fast(lambda: pair.kms.decrypt(CiphertextBlob=blob))[0] == "KMSInvalidStateException"
    finally:
        pair.admin("enable-keystore", "--uri-prefix", PREFIX)
    assert pair.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == plaintext


def test_disabling_the_proxy_side_cuts_access_at_once(pair: Pair, key: str) -> None:
    blob = pair.kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    pair.admin("disable-keystore", "--uri-prefix", PREFIX)
    try:
        code, message = _fails_fast(lambda: pair.kms.encrypt(KeyId=key, Plaintext=b"x"))
        assert code == "KMSInvalidStateException" and "not enabled" in message
        assert _fails_fast(lambda: pair.kms.decrypt(CiphertextBlob=blob))[0] == "KMSInvalidStateException"
    finally:
        pair.admin("enable-keystore", "--uri-prefix", PREFIX)
    assert pair.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_a_frozen_or_dead_proxy_fails_fast_and_recovers(pair: Pair, key: str) -> None:
    blob = pair.kms.encrypt(KeyId=key, Plaintext=b"y")["CiphertextBlob"]
    access = "EXTSTOREDYINGAAAAAAA"
    store_id = pair.create_store("dying", path=pair.proxy_store("ks/dying", access), access_key_id=access)
    assert pair.proxy.process is not None
    # Stopped, the proxy still accepts connections (the kernel's backlog) but answers nothing.
    os.killpg(pair.proxy.process.pid, signal.SIGSTOP)
    try:
        code, message = _fails_fast(lambda: pair.kms.decrypt(CiphertextBlob=blob))
        assert code == "KMSInvalidStateException" and "in time" in message
    finally:
        os.killpg(pair.proxy.process.pid, signal.SIGCONT)
    assert pair.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"y"
    pair.proxy.stop()
    try:
        code, message = _fails_fast(lambda: pair.kms.encrypt(KeyId=key, Plaintext=b"y"))
        assert code == "KMSInvalidStateException" and "cannot be reached" in message
        pair.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        shown = pair.describe(store_id)
        assert shown["ConnectionState"] == "FAILED" and shown["ConnectionErrorCode"] == "XKS_PROXY_NOT_REACHABLE"
    finally:
        pair.proxy.start()
    assert pair.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"y"
    pair.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    pair.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert pair.describe(store_id)["ConnectionState"] == "CONNECTED"


def test_a_disconnected_store_makes_its_keys_unavailable(pair: Pair, connected: str, key: str) -> None:
    blob = pair.kms.encrypt(KeyId=key, Plaintext=b"z")["CiphertextBlob"]
    pair.kms.disconnect_custom_key_store(CustomKeyStoreId=connected)
    try:
        assert pair.kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Unavailable"
        assert _fails_fast(lambda: pair.kms.decrypt(CiphertextBlob=blob))[0] == "KMSInvalidStateException"
    finally:
        pair.kms.connect_custom_key_store(CustomKeyStoreId=connected)
    assert pair.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"z"


def test_generate_random_refuses_an_external_key_store(pair: Pair, connected: str) -> None:
    with pytest.raises(ClientError) as caught:
        pair.kms.generate_random(NumberOfBytes=8, CustomKeyStoreId=connected)
    assert error_of(caught)[0] == "UnsupportedOperationException"
