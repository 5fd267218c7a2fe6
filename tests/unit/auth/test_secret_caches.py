"""Unwrapped secrets are cached by everything their unwrap's AAD binds them to, so a wrapped secret copied into
another record authenticates nobody even with a warm cache; and a dev server checks a stored access key as
always, whatever the order of its Authorization header's fields."""

from __future__ import annotations

import base64
import os
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from trent.app import xks as admin
from trent.audit.sqlite import SqliteAuditLog
from trent.auth.principals import Authenticator, DevAuthenticator
from trent.auth.sigv4 import HttpRequest
from trent.auth.xks import XksAuthenticator
from trent.kms.errors import AuthError
from trent.kms.ids import AccountId
from trent.kms.keys import AccessKey
from trent.kms.principals import root_arn
from trent.kms.sensitive import Sensitive
from trent.ops import principals as principal_ops
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore

ACCOUNT = AccountId("111122223333")


@pytest.fixture
def deps() -> Deps:
    root = SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1")
    made = Deps(SqliteStore(":memory:"), root, Keyring(root), SqliteAuditLog(":memory:", os.urandom(32)))
    principal_ops.create_account(made, ACCOUNT)
    return made


def _signed(access_key_id: str, secret: str, service: str, path: str = "/") -> HttpRequest:
    request = AWSRequest(method="POST", url=f"http://localhost{path}", data=b"{}", headers={})
    SigV4Auth(Credentials(access_key_id, secret), service, "us-east-1").add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()} | {"host": "localhost"}
    return HttpRequest("POST", path, "", headers, b"{}")


def test_an_xks_secret_moved_to_another_store_fails_with_a_warm_cache(deps: Deps) -> None:
    secret_a, key_b = base64.b64encode(b"x" * 32).decode(), "XKSOTHERKEYBBBBBBBBB"
    admin.create_keystore(deps, "a", "XKSTESTKEYAAAAAAAAAA", secret_a)
    admin.create_keystore(deps, "b", key_b, base64.b64encode(b"y" * 32).decode())
    auth, now = XksAuthenticator(deps.root_of_trust), datetime.now(UTC)
    a, b = deps.store.get_xks_store("a"), deps.store.get_xks_store("b")
    assert a is not None and b is not None
    auth.authenticate(_signed(a.access_key_id, secret_a, "kms-xks-proxy", "/a/kms/xks/v1/health"), a, now)  # warm
    moved = replace(b, wrapped_secret=a.wrapped_secret)
    with pytest.raises(AuthError):
        auth.authenticate(_signed(key_b, secret_a, "kms-xks-proxy", "/b/kms/xks/v1/health"), moved, now)


def test_an_access_key_secret_moved_to_another_key_fails_with_a_warm_cache(deps: Deps) -> None:
    principal_ops.create_access_key(deps, ACCOUNT, root_arn(ACCOUNT), "AKIAFIRSTKEY00000001", Sensitive(b"s" * 30))
    principal_ops.create_access_key(deps, ACCOUNT, root_arn(ACCOUNT), "AKIASECONDKEY0000002", Sensitive(b"t" * 30))
    auth, now = Authenticator(deps.store, deps.root_of_trust), datetime.now(UTC)
    auth.authenticate(_signed("AKIAFIRSTKEY00000001", "s" * 30, "kms"), now)  # warm
    first = deps.store.get_access_key("AKIAFIRSTKEY00000001")
    second = deps.store.get_access_key("AKIASECONDKEY0000002")
    assert first is not None and second is not None
    with deps.store.transaction() as tx:  # a tampered record: the first key's wrapped secret on the second
        tx.delete_access_key(second.access_key_id)
        tx.put_access_key(
            AccessKey(second.access_key_id, ACCOUNT, second.principal_arn, first.wrapped_secret, second.created)
        )
    with pytest.raises(AuthError):
        auth.authenticate(_signed("AKIASECONDKEY0000002", "s" * 30, "kms"), now)


def _reordered(header: str) -> str:
    algorithm, rest = header.split(" ", 1)
    credential, signed, signature = (part.strip() for part in rest.split(","))
    return f"{algorithm} {signed}, {credential}, {signature}"


@pytest.mark.parametrize("layout", [lambda h: h, _reordered], ids=["sdk", "reordered"])
def test_a_dev_server_refuses_an_inactive_stored_key_in_any_layout(deps: Deps, layout: object) -> None:
    key_id = "AKIASEEDEDUSERKEY001"
    principal_ops.create_access_key(deps, ACCOUNT, root_arn(ACCOUNT), key_id, Sensitive(b"the-real-secret-000000"))
    principal_ops.update_access_key(deps, ACCOUNT, key_id, "Inactive")
    dev = DevAuthenticator(Authenticator(deps.store, deps.root_of_trust), deps.store, ACCOUNT, lambda _: None)
    request = _signed(key_id, "wrong-secret", "kms")
    header = layout(request.header("authorization"))  # type: ignore[operator]
    with pytest.raises(AuthError):
        dev.authenticate(replace(request, headers={**request.headers, "authorization": header}), datetime.now(UTC))
