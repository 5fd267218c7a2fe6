"""The XKS proxy on several nodes sharing one PostgreSQL store: a key store made through one node serves on
every node, a ciphertext of one node decrypts on the other, and disable-keystore cuts every node off at once."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from tests.integration.xks_client import XksClient, b64, data_dir_of
from tests.postgres import url_of
from tests.support import TrentServer, trent_command

XKS_ID = "PGNODESKEYAAAAAAAAAA"
XKS_SECRET = base64.b64encode(b"p" * 32).decode()


def _admin(shared: dict[str, str], data_dir: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENT_")} | shared
    done = subprocess.run(
        [*trent_command(), "admin", "xks", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr


def test_two_nodes_serve_one_key_store_and_a_disable_holds_on_both(postgres_url: str, tmp_path: Path) -> None:
    shared = {"TRENT_DATABASE_URL": url_of(postgres_url), "TRENT_ROOT_KEY_FILE": str(tmp_path / "root.key")}
    with (
        TrentServer(tmp_path / "a", env=shared, workers=1) as a,
        TrentServer(tmp_path / "b", env=shared, workers=1) as b,
    ):
        key_id = a.client().create_key()["KeyMetadata"]["KeyId"]
        _admin(shared, data_dir_of(a), "create-keystore", "--uri-prefix", "pg/ks", "--access-key-id", XKS_ID,
               "--secret-access-key", XKS_SECRET)  # fmt: skip
        _admin(shared, data_dir_of(b), "expose", "--uri-prefix", "pg/ks", "--key-id", key_id)
        on_a = XksClient(a.endpoint, "pg/ks", XKS_ID, XKS_SECRET)
        on_b = XksClient(b.endpoint, "pg/ks", XKS_ID, XKS_SECRET)
        sealed = on_a.encrypt(key_id, b"across nodes", b"aad", cdiv="SHA_256")
        assert sealed.status == 200, sealed.body
        answer = on_b.decrypt(key_id, sealed.body, b"aad")
        assert answer.body == {"plaintext": b64(b"across nodes")}
        assert on_b.key_metadata(key_id).body["keyUsage"] == ["ENCRYPT", "DECRYPT"]
        _admin(shared, data_dir_of(a), "disable-keystore", "--uri-prefix", "pg/ks")
        for node in (on_a, on_b):
            assert node.decrypt(key_id, sealed.body, b"aad").error == "InvalidStateException"
            assert node.health().error == "InvalidStateException"
        _admin(shared, data_dir_of(b), "enable-keystore", "--uri-prefix", "pg/ks")
        for node in (on_a, on_b):
            assert node.decrypt(key_id, sealed.body, b"aad").status == 200
