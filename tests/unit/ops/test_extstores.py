"""External key stores in process, with a fake XKS proxy behind the port (xksclient/port.py): every failure kind
maps onto AWS's answer for the operation at hand (Connect's ConnectionErrorCode, the management exceptions,
KMSInvalidStateException in cryptographic operations), and what the proxy is sent (requestMetadata, the AAD,
never the plaintext)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from trent.audit.sqlite import SqliteAuditLog
from trent.kms import errors
from trent.kms.ids import AccountId, KeyId, Region
from trent.kms.keystores import ConnectionErrorCode, ConnectionState, CustomKeyStoreType
from trent.kms.principals import Principal
from trent.kms.sensitive import Sensitive
from trent.kms.specs import Origin
from trent.ops import encryption, extkeys, keys, keystores
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore
from trent.xksclient.port import FailureKind, KeyInfo, ProxyFailure, ProxySealed, ProxyTarget

CTX = RequestContext(
    Principal(AccountId("111122223333"), "arn:aws:iam::111122223333:root", "AKIAEXAMPLE"), Region("us-east-1"), "req-1"
)
_F = FailureKind
CREDENTIAL = {"access_key_id": "A" * 20, "raw_secret_access_key": "s" * 43}


class FakeProxy:
    """Seals by reversing the bytes (enough to tell the layers apart), or fails with `failing`."""

    def __init__(self) -> None:
        self.failing: FailureKind | None = None
        self.calls: list[tuple[str, Any]] = []
        self.info = KeyInfo("AES_256", ("ENCRYPT", "DECRYPT"), "ENABLED")

    def _maybe_fail(self) -> None:
        if self.failing is not None:
            raise ProxyFailure(self.failing, "fake")

    def health(self, target: ProxyTarget, metadata: Mapping[str, str]) -> None:
        self.calls.append(("health", (target, dict(metadata))))
        self._maybe_fail()

    def key_metadata(self, target: ProxyTarget, key_id: str, metadata: Mapping[str, str]) -> KeyInfo:
        self.calls.append(("metadata", (key_id, dict(metadata))))
        self._maybe_fail()
        return self.info

    def encrypt(
        self, target: ProxyTarget, key_id: str, plaintext: bytes, aad: bytes, metadata: Mapping[str, str]
    ) -> ProxySealed:
        self.calls.append(("encrypt", (key_id, plaintext, aad, dict(metadata))))
        self._maybe_fail()
        return ProxySealed(plaintext[::-1], b"i" * 12, aad[:16], b"meta")

    def decrypt(
        self, target: ProxyTarget, key_id: str, sealed: ProxySealed, aad: bytes, metadata: Mapping[str, str]
    ) -> bytes:
        self.calls.append(("decrypt", (key_id, sealed, aad, dict(metadata))))
        self._maybe_fail()
        if sealed.authentication_tag != aad[:16]:
            raise ProxyFailure(_F.INVALID_CIPHERTEXT, "fake")
        return sealed.ciphertext[::-1]


@pytest.fixture
def proxy() -> FakeProxy:
    return FakeProxy()


@pytest.fixture
def deps(tmp_path: Path, proxy: FakeProxy) -> Iterator[Deps]:
    root = SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1")
    audit = SqliteAuditLog(":memory:", os.urandom(32))
    store = SqliteStore(tmp_path / "trent.db")
    yield Deps(store=store, root_of_trust=root, keyring=Keyring(root), audit=audit, xks_proxy=proxy)
    store.close()


def _create(deps: Deps, name: str = "ext", path: str = "/p/kms/xks/v1") -> str:
    return keystores.create_custom_key_store(
        deps,
        CTX,
        custom_key_store_name=name,
        custom_key_store_type=CustomKeyStoreType.EXTERNAL_KEY_STORE,
        xks_proxy_connectivity="PUBLIC_ENDPOINT",
        xks_proxy_uri_endpoint="https://proxy.example",
        xks_proxy_uri_path=path,
        xks_proxy_authentication_credential=CREDENTIAL,
    ).custom_key_store_id


def _key(deps: Deps) -> str:
    store_id = _create(deps)
    keystores.connect_custom_key_store(deps, CTX, custom_key_store_id=store_id)
    made = keys.create_key(
        deps, CTX, origin=Origin.EXTERNAL_KEY_STORE, custom_key_store_id=store_id, xks_key_id="external-1"
    )
    return made.key_metadata.key_id


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (_F.NOT_REACHABLE, ConnectionErrorCode.XKS_PROXY_NOT_REACHABLE),
        (_F.TIMED_OUT, ConnectionErrorCode.XKS_PROXY_TIMED_OUT),
        (_F.INVALID_TLS, ConnectionErrorCode.XKS_PROXY_INVALID_TLS_CONFIGURATION),
        (_F.ACCESS_DENIED, ConnectionErrorCode.XKS_PROXY_ACCESS_DENIED),
        (_F.INVALID_RESPONSE, ConnectionErrorCode.XKS_PROXY_INVALID_RESPONSE),
        (_F.INVALID_CONFIGURATION, ConnectionErrorCode.XKS_PROXY_INVALID_CONFIGURATION),
    ],
)
def test_connect_fails_with_the_xks_connection_error_code(
    deps: Deps, proxy: FakeProxy, kind: FailureKind, code: ConnectionErrorCode
) -> None:
    store_id = _create(deps)
    proxy.failing = kind
    keystores.connect_custom_key_store(deps, CTX, custom_key_store_id=store_id)
    store = deps.store.get_custom_key_store(store_id)
    assert store is not None and store.connection_state is ConnectionState.FAILED
    assert store.connection_error_code is code
    target, metadata = proxy.calls[-1][1]
    assert target.region == "us-east-1" and target.secret == Sensitive(b"s" * 43)
    assert metadata == {"awsPrincipalArn": CTX.principal.arn, "kmsOperation": "ConnectCustomKeyStore",
                        "kmsRequestId": "req-1"}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (_F.NOT_REACHABLE, errors.XksProxyUriUnreachableException),
        (_F.TIMED_OUT, errors.XksProxyUriUnreachableException),
        (_F.ACCESS_DENIED, errors.XksProxyIncorrectAuthenticationCredentialException),
        (_F.INVALID_RESPONSE, errors.XksProxyInvalidResponseException),
        (_F.INVALID_CONFIGURATION, errors.XksProxyInvalidConfigurationException),
        (_F.INVALID_TLS, errors.XksProxyInvalidConfigurationException),
    ],
)
def test_create_refuses_a_proxy_that_fails_its_health_check(
    deps: Deps, proxy: FakeProxy, kind: FailureKind, error: type[Exception]
) -> None:
    proxy.failing = kind
    with pytest.raises(error):
        _create(deps)
    assert deps.store.list_custom_key_stores(None, None) == ()


def test_the_secret_is_wrapped_and_never_described(deps: Deps) -> None:
    store_id = _create(deps)
    stored = deps.store.get_custom_key_store(store_id)
    assert stored is not None and b"s" * 43 not in stored.config.wrapped_secret  # type: ignore[union-attr]
    shown = keystores.describe_custom_key_stores(deps, CTX, custom_key_store_id=store_id)
    assert "s" * 43 not in repr(shown) and "s" * 43 not in repr(stored)


def test_encrypt_sends_trents_ciphertext_with_the_request_metadata(deps: Deps, proxy: FakeProxy) -> None:
    key_id = _key(deps)
    blob = encryption.encrypt(
        deps, CTX, key_id=key_id, plaintext=Sensitive(b"secret data"), encryption_context={"a": "b"}
    ).ciphertext_blob
    name, (external, sent, aad, metadata) = proxy.calls[-1]
    assert name == "encrypt" and external == "external-1"
    assert b"secret data" not in sent and len(sent) == len(b"secret data") + 16 and len(aad) == 32
    key = deps.store.get_key(KeyId(key_id))
    assert key is not None
    assert metadata == {"awsPrincipalArn": CTX.principal.arn, "kmsOperation": "Encrypt", "kmsRequestId": "req-1",
                        "kmsKeyArn": key.arn}  # fmt: skip
    opened = encryption.decrypt(deps, CTX, ciphertext_blob=blob, encryption_context={"a": "b"})
    assert opened.plaintext == Sensitive(b"secret data")
    assert proxy.calls[-1][0] == "decrypt" and proxy.calls[-1][1][3]["kmsOperation"] == "Decrypt"


@pytest.mark.parametrize("kind", [k for k in FailureKind if k is not _F.INVALID_CIPHERTEXT])
def test_every_proxy_failure_is_an_invalid_state_in_cryptographic_operations(
    deps: Deps, proxy: FakeProxy, kind: FailureKind
) -> None:
    key_id = _key(deps)
    blob = encryption.encrypt(deps, CTX, key_id=key_id, plaintext=Sensitive(b"x")).ciphertext_blob
    proxy.failing = kind
    with pytest.raises(errors.KMSInvalidStateException, match="is unavailable: "):
        encryption.encrypt(deps, CTX, key_id=key_id, plaintext=Sensitive(b"x"))
    with pytest.raises(errors.KMSInvalidStateException, match=re.escape(extkeys.REASONS[kind])):
        encryption.decrypt(deps, CTX, ciphertext_blob=blob)


def test_a_ciphertext_the_proxy_refuses_is_invalid(deps: Deps, proxy: FakeProxy) -> None:
    key_id = _key(deps)
    blob = encryption.encrypt(deps, CTX, key_id=key_id, plaintext=Sensitive(b"x")).ciphertext_blob
    with pytest.raises(errors.InvalidCiphertextException):
        encryption.decrypt(deps, CTX, ciphertext_blob=blob, encryption_context={"other": "context"})


@pytest.mark.parametrize(
    ("info", "failing", "error"),
    [
        (KeyInfo("AES_256", ("ENCRYPT",), "ENABLED"), None, errors.XksKeyInvalidConfigurationException),
        (KeyInfo("RSA_2048", ("ENCRYPT", "DECRYPT"), "ENABLED"), None, errors.XksKeyInvalidConfigurationException),
        (KeyInfo("AES_256", ("ENCRYPT", "DECRYPT"), "DISABLED"), None, errors.XksKeyInvalidConfigurationException),
        (None, _F.KEY_NOT_FOUND, errors.XksKeyNotFoundException),
        (None, _F.KEY_USAGE, errors.XksKeyInvalidConfigurationException),
        (None, _F.NOT_REACHABLE, errors.XksProxyUriUnreachableException),
    ],
)
def test_create_key_checks_the_external_key(
    deps: Deps, proxy: FakeProxy, info: KeyInfo | None, failing: FailureKind | None, error: type[Exception]
) -> None:
    store_id = _create(deps)
    keystores.connect_custom_key_store(deps, CTX, custom_key_store_id=store_id)
    proxy.info = info or proxy.info
    proxy.failing = failing
    with pytest.raises(error):
        keys.create_key(deps, CTX, origin=Origin.EXTERNAL_KEY_STORE, custom_key_store_id=store_id, xks_key_id="e")
    assert proxy.calls[-1][1][1]["kmsOperation"] == "CreateKey" and "kmsKeyArn" not in proxy.calls[-1][1][1]


def test_origin_and_store_type_must_match(deps: Deps) -> None:
    store_id = _create(deps)
    keystores.connect_custom_key_store(deps, CTX, custom_key_store_id=store_id)
    with pytest.raises(errors.UnsupportedOperationException):
        keys.create_key(deps, CTX, origin=Origin.AWS_CLOUDHSM, custom_key_store_id=store_id)
    with pytest.raises(errors.UnsupportedOperationException):
        keys.create_key(deps, CTX, origin=Origin.EXTERNAL_KEY_STORE, xks_key_id="e")
    with pytest.raises(errors.ValidationException):
        keys.create_key(deps, CTX, xks_key_id="e")


def test_a_key_store_not_connected_refuses_keys(deps: Deps, proxy: FakeProxy) -> None:
    store_id = _create(deps)
    with pytest.raises(errors.CustomKeyStoreInvalidStateException):
        keys.create_key(deps, CTX, origin=Origin.EXTERNAL_KEY_STORE, custom_key_store_id=store_id, xks_key_id="e")


def test_the_endpoint_needs_disconnected_and_the_path_does_not(deps: Deps, proxy: FakeProxy) -> None:
    store_id = _create(deps)
    keystores.connect_custom_key_store(deps, CTX, custom_key_store_id=store_id)
    keystores.update_custom_key_store(deps, CTX, custom_key_store_id=store_id, xks_proxy_uri_path="/q/kms/xks/v1")
    with pytest.raises(errors.CustomKeyStoreInvalidStateException):
        keystores.update_custom_key_store(
            deps, CTX, custom_key_store_id=store_id, xks_proxy_uri_endpoint="https://other.example"
        )
    with pytest.raises(errors.ValidationException):
        keystores.update_custom_key_store(deps, CTX, custom_key_store_id=store_id, key_store_password="p" * 8)
    stored = deps.store.get_custom_key_store(store_id)
    assert stored is not None and stored.config.uri_path == "/q/kms/xks/v1"  # type: ignore[union-attr]
