"""XKS external keys are Trent keys with Trent's own material: a key in a custom key store (its material in an
HSM token) is refused by `expose`, and an exposure of one that is in the store anyway is answered with the
specification's InvalidStateException, never a 500. A current material version that cannot be found is
InvalidStateException too."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.keystores import trust_anchor
from tests.softhsm import Token
from trent.app import xks as admin
from trent.audit.sqlite import SqliteAuditLog
from trent.auth.xks import XksAuthenticator
from trent.kms.ids import AccountId, KeyId, Region
from trent.kms.principals import Principal
from trent.kms.specs import Origin
from trent.kms.xks import USAGES, XksExposure
from trent.ops import clusters, keys, keystores
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring, MissingMaterial
from trent.protocol.xks.front import XksFront
from trent.rootoftrust.software import SoftwareRoot
from trent.server.types import Request
from trent.store.sqlite import SqliteStore

AK, SECRET = "XKSTESTKEYAAAAAAAAAA", base64.b64encode(b"x" * 32).decode()
CTX = RequestContext(
    Principal(AccountId("111122223333"), "arn:aws:iam::111122223333:root", "AKIAEXAMPLE"), Region("us-east-1"), "r-1"
)


@pytest.fixture
def deps() -> Iterator[Deps]:
    root = SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1")
    made = Deps(
        store=SqliteStore(":memory:"),
        root_of_trust=root,
        keyring=Keyring(root),
        audit=SqliteAuditLog(":memory:", os.urandom(32)),
    )
    admin.create_keystore(made, "ks", AK, SECRET)
    yield made
    made.tokens.close()


def _call(deps: Deps, key_id: str, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    path = f"/ks/kms/xks/v1/keys/{key_id}/{operation}"
    metadata = {"awsPrincipalArn": "a", "kmsKeyArn": "k", "kmsOperation": "Encrypt", "kmsRequestId": str(uuid.uuid4())}
    data = json.dumps({"requestMetadata": metadata, **body}).encode()
    signed = AWSRequest(
        method="POST", url=f"http://localhost{path}", data=data, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(AK, SECRET), "kms-xks-proxy", "us-east-1").add_auth(signed)
    headers = {k.lower(): v for k, v in signed.headers.items()} | {"host": "localhost"}
    front = XksFront(deps, XksAuthenticator(deps.root_of_trust), lambda: datetime.now(UTC))
    answer = asyncio.run(front.handle(Request("POST", path, "", headers, data, "127.0.0.1", "")))
    return answer.status, json.loads(answer.body)


ENCRYPT_BODY = {"plaintext": "aGk=", "encryptionAlgorithm": "AES_GCM"}


def _cks_key(deps: Deps, token: Token, tmp_path: Path) -> str:
    pem = trust_anchor(tmp_path / "ca.crt").read_text()
    clusters.add_cluster(deps, "cluster-abcdefghijk", token.module, token.label, pem)
    store_id = keystores.create_custom_key_store(
        deps,
        CTX,
        custom_key_store_name="s",
        cloud_hsm_cluster_id="cluster-abcdefghijk",
        trust_anchor_certificate=pem,
        key_store_password=token.pin,
    ).custom_key_store_id
    keystores.connect_custom_key_store(deps, CTX, custom_key_store_id=store_id)
    made = keys.create_key(deps, CTX, custom_key_store_id=store_id, origin=Origin.AWS_CLOUDHSM)
    return str(made.key_metadata.key_id)


def test_expose_refuses_a_key_in_a_custom_key_store(deps: Deps, token_in_process: Token, tmp_path: Path) -> None:
    key_id = _cks_key(deps, token_in_process, tmp_path)
    with pytest.raises(admin.XksAdminError, match="custom key store"):
        admin.expose(deps, "ks", key_id)
    assert deps.store.get_xks_exposure("ks", KeyId(key_id)) is None


def test_an_exposed_custom_key_store_key_is_invalid_state_not_a_500(
    deps: Deps, token_in_process: Token, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_id = _cks_key(deps, token_in_process, tmp_path)
    with deps.store.transaction() as tx:  # as if exposed before expose refused it
        tx.put_xks_exposure(XksExposure("ks", KeyId(key_id), USAGES["ENCRYPT,DECRYPT"], deps.clock(), (), ()))
    caplog.set_level(logging.INFO)
    for operation, body in (("encrypt", ENCRYPT_BODY), ("metadata", {})):
        status, answer = _call(deps, key_id, operation, body)
        assert (status, answer["errorName"]) == (400, "InvalidStateException"), (operation, answer)
    assert not any(record.exc_info for record in caplog.records)


def test_missing_current_material_is_invalid_state(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    key_id = str(keys.create_key(deps, CTX).key_metadata.key_id)
    admin.expose(deps, "ks", key_id)

    def missing(*args: object, **kwargs: object) -> None:
        raise MissingMaterial("no such version")

    monkeypatch.setattr(deps.keyring, "load", missing)
    status, answer = _call(deps, key_id, "encrypt", ENCRYPT_BODY)
    assert (status, answer["errorName"]) == (400, "InvalidStateException"), answer
