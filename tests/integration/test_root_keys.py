"""The software root over time, on a real `trent serve`: rotate-root-key while serving, seal-root-key and the
passphrase, and migrate-root moving a running installation into a SoftHSM2 token."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.integration.roots import ok, one_line_error, root_key_ids, trent
from tests.softhsm import make_token
from tests.support import TrentServer, kms_client
from trent.rootoftrust import keyfile
from trent.rootoftrust.pkcs11 import ALGORITHM as PKCS11
from trent.rootoftrust.pkcs11 import Pkcs11Root, TokenConfig, read_pin
from trent.rootoftrust.software import ALGORITHM as SOFTWARE

pytestmark = pytest.mark.integration


def _new_access_key(data_dir: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    made = json.loads(ok("admin", "create-access-key", "--data-dir", str(data_dir), "--json", env=env))
    return made["AccessKeyId"], made["SecretAccessKey"]


class _Load:
    """Requests without pause on a running server, on connections of their own; every failure is kept."""

    def __init__(self, server: TrentServer, key_id: str) -> None:
        self.server, self.key_id, self.done, self.failures = server, key_id, 0, []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(3)]

    def _run(self, n: int) -> None:
        kms = self.server.client()
        while not self._stop.is_set():
            try:
                blob = kms.encrypt(KeyId=self.key_id, Plaintext=b"load %d" % n)["CiphertextBlob"]
                assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"load %d" % n
                if n == 0:
                    kms.create_key()  # a wrap: under whichever root key is active right now
                self.done += 1
            except (ClientError, AssertionError) as exc:
                self.failures.append(exc)

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def test_rotating_the_software_root_while_serving(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with TrentServer(data_dir) as server:
        kms = server.client()
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.rotate_key_on_demand(KeyId=key)
        old = kms.encrypt(KeyId=key, Plaintext=b"before")["CiphertextBlob"]
        (tmp_path / "export").mkdir()
        ok("audit", "export", "--data-dir", str(data_dir), "--to", str(tmp_path / "export"))  # makes the export key
        (first,) = root_key_ids(data_dir / "trent.db")[SOFTWARE]

        with _Load(server, key) as load:
            out = ok("admin", "rotate-root-key", "--data-dir", str(data_dir))
        assert load.failures == [] and load.done > 0
        added = re.search(r"added root key (rk-[0-9a-f]{16}): the active one from now on", out)
        assert added, out
        assert re.search(
            r"re-wrapped \d+ key material version\(s\), 1 access key secret\(s\), 0 import parameter set\(s\), 0 custom key store password\(s\) and 3 other blob",
            out,
        )
        ring, _ = keyfile.read(data_dir / "root.key", None)
        assert set(ring.keys) == {first, added.group(1)} and ring.active == added.group(1)
        assert root_key_ids(data_dir / "trent.db") == {SOFTWARE: {added.group(1)}}  # the load's keys too

        assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
        access_key, secret = _new_access_key(data_dir)  # wrapped under the new root key, by another process
        assert kms_client(server.endpoint, access_key=access_key, secret=secret).list_keys()["Keys"]
        kms.create_key()
        assert root_key_ids(data_dir / "trent.db") == {SOFTWARE: {added.group(1)}}
        assert "re-wrapped 0 key material" in ok("admin", "rotate-root-key", "--resume", "--data-dir", str(data_dir))
    with TrentServer(data_dir) as restarted:
        assert restarted.client().decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    assert "audit log intact" in ok("audit", "verify", "--data-dir", str(data_dir))
    assert "exported" in ok("audit", "export", "--data-dir", str(data_dir), "--to", str(tmp_path / "export"))


def test_sealing_the_root_key_file(tmp_path: Path) -> None:
    data_dir, key_file = tmp_path / "data", tmp_path / "data" / "root.key"
    with TrentServer(data_dir) as server:
        old = server.client().encrypt(KeyId=server.client().create_key()["KeyMetadata"]["KeyId"], Plaintext=b"p")
    plain, _ = keyfile.read(key_file, None)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a long passphrase nobody guesses\n")
    passphrase.chmod(0o600)
    by_file = {"TRENT_ROOT_KEY_PASSPHRASE_FILE": str(passphrase)}

    assert one_line_error(trent("admin", "seal-root-key", "--data-dir", str(data_dir))) == (
        "Error: give the passphrase with --root-key-passphrase-file FILE or TRENT_ROOT_KEY_PASSPHRASE"
    )
    out = ok("admin", "seal-root-key", "--data-dir", str(data_dir), "--root-key-passphrase-file", str(passphrase))
    assert f"sealed root key file {key_file} (1 root key(s))" in out
    assert keyfile.is_sealed(key_file) and key_file.stat().st_mode & 0o777 == 0o600
    for key in plain.keys.values():
        assert key not in key_file.read_bytes() and key.hex().encode() not in key_file.read_bytes()
    assert one_line_error(trent("admin", "seal-root-key", "--data-dir", str(data_dir), env=by_file)) == (
        f"Error: root key file {key_file} is sealed already"
    )

    serve = ("serve", "--data-dir", str(data_dir), "--port", "0", "--workers", "1")
    assert "is sealed: give its passphrase with --root-key-passphrase-file" in one_line_error(trent(*serve))
    wrong = one_line_error(trent(*serve, env={"TRENT_ROOT_KEY_PASSPHRASE": "not it"}))
    assert wrong == (
        f"Error: root key file {key_file} is sealed under another passphrase (or was altered): the passphrase "
        "given does not open it"
    )
    with TrentServer(data_dir, env={"TRENT_ROOT_KEY_PASSPHRASE": "a long passphrase nobody guesses"}) as by_env:
        assert by_env.client().decrypt(CiphertextBlob=old["CiphertextBlob"])["Plaintext"] == b"p"
    with TrentServer(data_dir, env=by_file) as sealed:
        assert "added root key" in ok("admin", "rotate-root-key", "--data-dir", str(data_dir), env=by_file)
        assert sealed.client().decrypt(CiphertextBlob=old["CiphertextBlob"])["Plaintext"] == b"p"
    assert keyfile.is_sealed(key_file)  # rotation kept it sealed
    ring, _ = keyfile.read(key_file, keyfile.Sensitive(b"a long passphrase nobody guesses"))
    assert len(ring.keys) == 2 and set(plain.keys) < set(ring.keys)


def test_migrating_a_running_software_root_into_a_token(tmp_path: Path) -> None:
    """No downtime: the server keeps serving through the move (a load runs all along), picks up the hand-over
    by itself, and afterwards runs on the token alone, its root key file gone; old ciphertexts still decrypt."""
    token = make_token(tmp_path / "hsm")
    data_dir = tmp_path / "data"
    with TrentServer(data_dir, env=token.env()) as server:
        kms = server.client()
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        signer = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        old = kms.encrypt(KeyId=key, Plaintext=b"software era")["CiphertextBlob"]
        signature = kms.sign(KeyId=signer, Message=b"m", SigningAlgorithm="ECDSA_SHA_384")["Signature"]
        before_key, before_secret = _new_access_key(data_dir)

        refused = trent("admin", "migrate-root", "--to", "pkcs11", "--data-dir", str(data_dir))
        assert "needs --pkcs11-module, --pkcs11-token-label and --pkcs11-pin-file" in one_line_error(refused)
        with _Load(server, key) as load:
            out = ok(
                "admin",
                "migrate-root",
                "--to",
                "pkcs11",
                *token.flags()[2:],
                "--data-dir",
                str(data_dir),
                env=token.env(),
            )
        assert load.failures == [] and load.done > 0
        assert "moved into PKCS#11 token 'trent-root'" in out, out
        assert set(root_key_ids(data_dir / "trent.db")) == {PKCS11}  # every blob, the load's new keys too

        assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"software era"
        after_key, after_secret = _new_access_key(data_dir, token.env())  # wrapped in the token by another process
        for access_key, secret in ((before_key, before_secret), (after_key, after_secret)):
            assert kms_client(server.endpoint, access_key=access_key, secret=secret).list_keys()["Keys"]
        assert "re-wrapped 0 key material" in ok(
            "admin", "migrate-root", "--to", "pkcs11", *token.flags()[2:], "--data-dir", str(data_dir), env=token.env()
        )

    (data_dir / "root.key").rename(tmp_path / "offline-backup.key")
    with TrentServer(data_dir, env=token.server_env()) as after:
        kms = after.client()
        assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"software era"
        verdict = kms.verify(KeyId=signer, Message=b"m", Signature=signature, SigningAlgorithm="ECDSA_SHA_384")
        assert verdict["SignatureValid"]
        assert kms_client(after.endpoint, access_key=before_key, secret=before_secret).list_keys()["Keys"]
    assert "audit log intact" in ok("audit", "verify", "--data-dir", str(data_dir), env=token.server_env())
    assert not (data_dir / "root.key").exists()


def test_a_move_interrupted_is_named_at_start_and_finished_by_running_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = make_token(tmp_path / "hsm")
    data_dir = tmp_path / "data"
    with TrentServer(data_dir) as server:
        old = server.client().encrypt(KeyId=server.client().create_key()["KeyMetadata"]["KeyId"], Plaintext=b"x")
    serve = ("serve", "--data-dir", str(data_dir), "--port", "0", "--workers", "1")
    line = one_line_error(trent(*serve, env=token.server_env()))
    assert "PKCS#11 token 'trent-root' holds no Trent root key, but" in line  # never a new root key for old data
    assert token.objects() == []

    # Interrupted just after the hand-over: the token has its root key, the key file names it, nothing moved.
    monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
    Pkcs11Root.open(TokenConfig(token.module, token.label, read_pin(token.pin_file)), create=True).close()
    spec = {
        "root_of_trust": "pkcs11",
        "pkcs11_module": token.module,
        "pkcs11_token_label": token.label,
        "pkcs11_pin_file": str(token.pin_file),
    }
    ring, _ = keyfile.read(data_dir / "root.key", None)
    keyfile.write(data_dir / "root.key", keyfile.Keyring(ring.keys, ring.active, spec), None)
    line = one_line_error(trent(*serve, env=token.server_env()))
    assert re.search(r"is still checked by software root key rk-[0-9a-f]{16}: its move into PKCS#11 token", line)

    ok("admin", "migrate-root", "--to", "pkcs11", *token.flags()[2:], "--data-dir", str(data_dir), env=token.env())
    with TrentServer(data_dir, env=token.server_env()) as on_the_token:
        assert on_the_token.client().decrypt(CiphertextBlob=old["CiphertextBlob"])["Plaintext"] == b"x"
