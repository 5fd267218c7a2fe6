"""A real `trent serve` whose root of trust is a SoftHSM2 token: serving with several workers, nothing at rest that
opens a key without the token, start-up errors, a token that fails while serving, rotation of the token's root."""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.integration.roots import ok, one_line_error, root_key_ids, trent, wrapped_blobs
from tests.softhsm import make_token
from tests.support import SECRET_ACCESS_KEY, TrentServer, error_of, iter_files, kms_client
from trent.kms.sensitive import Sensitive
from trent.rootoftrust.base import material_aad, secret_aad
from trent.rootoftrust.pkcs11 import ALGORITHM, Pkcs11Root, TokenConfig, read_pin

pytestmark = pytest.mark.integration


def _readyz(server: TrentServer) -> tuple[int, str]:
    url = urllib.parse.urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        conn.request("GET", "/readyz")
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def test_several_workers_serve_encrypt_decrypt_and_sign_with_the_token_root(pkcs11_server: TrentServer) -> None:
    kms = pkcs11_server.client()
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    failures: list[BaseException] = []

    def client_loop(n: int) -> None:
        try:
            own = pkcs11_server.client()  # a connection of its own: the kernel spreads them over the workers
            for i in range(10):
                plain = f"{n}-{i}".encode()
                blob = own.encrypt(KeyId=symmetric, Plaintext=plain)["CiphertextBlob"]
                assert own.decrypt(CiphertextBlob=blob)["Plaintext"] == plain
                for key, algorithm in ((signing, "ECDSA_SHA_256"), (rsa, "RSASSA_PSS_SHA_256")):
                    signature = own.sign(KeyId=key, Message=plain, SigningAlgorithm=algorithm)["Signature"]
                    verdict = own.verify(KeyId=key, Message=plain, Signature=signature, SigningAlgorithm=algorithm)
                    assert verdict["SignatureValid"]
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert _readyz(pkcs11_server) == (200, "store ok\nroot_of_trust ok\naudit ok\n")
    named = root_key_ids(pkcs11_server.data_dir / "trent.db")
    assert set(named) == {ALGORITHM} and all(rid.startswith("p11-rk-0001-") for rid in named[ALGORITHM])
    assert not (pkcs11_server.data_dir / "root.key").exists()


def _candidates(root: Path) -> Iterator[bytes]:
    """Every 32 bytes that could be a key in a file under `root`: at every offset of the raw bytes, and of the
    base64 and hex runs in them decoded (a root key file keeps its keys in base64)."""
    seen: set[bytes] = set()
    for path in iter_files(root):
        data = path.read_bytes()
        decoded = [base64.b64decode(m + b"=" * (-len(m) % 4)) for m in re.findall(rb"[A-Za-z0-9+/]{43,}", data)]
        decoded += [bytes.fromhex(m.decode()) for m in re.findall(rb"(?:[0-9a-f]{2}){32,}", data)]
        for source in (data, *decoded):
            for at in range(max(len(source) - 31, 0)):
                window = source[at : at + 32]
                if window not in seen:
                    seen.add(window)
                    yield window


def _opens(candidate: bytes, blob: bytes, aad: bytes) -> bool:
    try:
        AESGCM(candidate).decrypt(blob[:12], blob[12:], aad)
        return True
    except InvalidTag:
        return False


def test_the_data_directory_holds_nothing_that_opens_a_key_without_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every blob names a token root key; the token opens them all; no byte of the data directory (database,
    WAL, audit log, metrics) is, or encodes, what opens one, and no material unwrapped is stored anywhere. The
    same scan of a software root's data directory finds its key: the scan would see one."""
    token = make_token(tmp_path / "hsm")
    data_dir = tmp_path / "data"
    with TrentServer(data_dir, env=token.server_env()) as server:
        kms = server.client()
        for spec, usage in (
            ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
            ("HMAC_256", "GENERATE_VERIFY_MAC"),
            ("RSA_2048", "ENCRYPT_DECRYPT"),
            ("ECC_NIST_P256", "KEY_AGREEMENT"),
        ):
            kms.create_key(KeySpec=spec, KeyUsage=usage)
    blobs = wrapped_blobs(data_dir / "trent.db")
    materials = {name: w for name, w in blobs.items() if name.startswith("material ")}
    assert len(materials) == 4 and {"secret AKIAIOSFODNN7EXAMPLE", "audit.chain", "root-check"} <= set(blobs)
    assert {w.algorithm for w in blobs.values()} == {ALGORITHM}
    assert not any(p.name.endswith(".key") or "root" in p.name for p in iter_files(data_dir))

    monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
    root = Pkcs11Root.open(TokenConfig(token.module, token.label, read_pin(token.pin_file)), create=False)
    try:
        opened = {
            name: root.unwrap(w, material_aad(name.split()[1], int(name.split()[2][1:]))).reveal()
            for name, w in materials.items()
        }
        assert root.unwrap(blobs["secret AKIAIOSFODNN7EXAMPLE"], secret_aad("AKIAIOSFODNN7EXAMPLE")) == Sensitive(
            SECRET_ACCESS_KEY.encode()
        )
    finally:
        root.close()
    everything = b"".join(path.read_bytes() for path in iter_files(data_dir))
    for name, secret in [*opened.items(), ("admin secret", SECRET_ACCESS_KEY.encode())]:
        for rendering in (secret, base64.b64encode(secret), secret.hex().encode()):
            assert rendering not in everything, name  # no key material or secret at rest in the clear

    name, probe = next(iter(materials.items()))
    aad = material_aad(name.split()[1], int(name.split()[2][1:]))
    tried = 0
    for candidate in _candidates(data_dir):
        tried += 1
        assert not _opens(candidate, probe.blob, aad)
    assert tried > 10_000

    software_dir = tmp_path / "software"
    with TrentServer(software_dir) as software:
        software.client().create_key()
    control = next(w for n, w in wrapped_blobs(software_dir / "trent.db").items() if n.startswith("material "))
    control_name = next(n for n in wrapped_blobs(software_dir / "trent.db") if n.startswith("material "))
    control_aad = material_aad(control_name.split()[1], 1)
    assert any(_opens(c, control.blob, control_aad) for c in _candidates(software_dir))


def test_without_its_token_the_data_opens_nowhere(tmp_path: Path) -> None:
    """Another token (even with the same label and PIN), or none: the server refuses to start, and says why."""
    token = make_token(tmp_path / "hsm")
    data_dir = tmp_path / "data"
    with TrentServer(data_dir, env=token.server_env()) as server:
        server.client().create_key()
    stranger = make_token(tmp_path / "stranger", label=token.label, pin=token.pin)
    env = {**token.server_env(), **stranger.env(), "TRENT_PKCS11_PIN_FILE": str(stranger.pin_file)}
    line = one_line_error(trent("serve", "--data-dir", str(data_dir), "--port", "0", env=env))
    assert "PKCS#11 token 'trent-root' holds no Trent root key, but" in line, line
    assert not stranger.objects()  # no root key was made in it for the old data
    token.remove()
    line = one_line_error(trent("admin", "list-access-keys", "--data-dir", str(data_dir), env=token.server_env()))
    assert "failed to reach token 'trent-root'" in line or "no PKCS#11 token labelled" in line, line


def test_start_up_errors_are_one_line_and_never_show_the_pin(tmp_path: Path) -> None:
    token = make_token(tmp_path / "hsm")
    data_dir = tmp_path / "data"
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("99999999\n")
    wrong.chmod(0o600)
    open_pin = tmp_path / "open-pin"
    open_pin.write_text(token.pin)
    open_pin.chmod(0o644)
    serve = ("serve", "--data-dir", str(data_dir), "--port", "0", "--workers", "1")
    cases: dict[str, tuple[dict[str, str], str]] = {
        "wrong PIN": (
            {"TRENT_PKCS11_PIN_FILE": str(wrong)},
            f"Error: PIN file {wrong} does not hold the user PIN of PKCS#11 token 'trent-root': the token refused "
            "it (PinIncorrect; Trent does not try a PIN twice)",
        ),
        "no such token": ({"TRENT_PKCS11_TOKEN_LABEL": "absent"}, "no PKCS#11 token labelled 'absent' in module"),
        "no module": ({"TRENT_PKCS11_MODULE": str(tmp_path / "absent.so")}, f"{tmp_path / 'absent.so'} does not exist"),
        "PIN file readable by others": ({"TRENT_PKCS11_PIN_FILE": str(open_pin)}, "must not be readable by others"),
        "token removed": ({"SOFTHSM2_CONF": str(tmp_path / "nowhere.conf")}, "check the configuration SOFTHSM2_CONF"),
    }
    for name, (change, expected) in cases.items():
        line = one_line_error(trent(*serve, env={**token.server_env(), **change}))
        assert expected in line, (name, line)
        assert token.pin not in line and "99999999" not in line, name
    settings_missing = trent(*serve, env={"TRENT_ROOT_OF_TRUST": "pkcs11"})
    assert settings_missing.returncode == 2
    assert "setting 'root_of_trust' pkcs11 needs 'pkcs11_module' (--pkcs11-module, TRENT_PKCS11_MODULE)" in (
        settings_missing.stderr
    )
    assert token.objects() == []  # no failed start made a root key in the token


def test_a_token_that_fails_while_serving_fails_requests_then_recovers(tmp_path: Path) -> None:
    token = make_token(tmp_path / "hsm")
    data_dir = tmp_path / "data"
    with TrentServer(data_dir, env=token.server_env()) as server:
        kms = server.client()
        kms.create_key()
        fresh = json.loads(
            ok("admin", "create-access-key", "--data-dir", str(data_dir), "--json", env=token.server_env())
        )
        token.remove()
        for attempt in range(2):  # each worker may take either request
            started = time.monotonic()
            with pytest.raises(ClientError) as failed:
                kms.create_key()  # a wrap: needs the token
            assert error_of(failed)[0] == "KMSInternalException"
            assert time.monotonic() - started < 15, attempt
        stranger = kms_client(server.endpoint, access_key=fresh["AccessKeyId"], secret=fresh["SecretAccessKey"])
        with pytest.raises(ClientError) as failed:  # its secret is not cached yet: unwrapping it needs the token
            stranger.list_keys()
        assert error_of(failed)[0] == "KMSInternalException"  # not an authentication failure
        time.sleep(1.1)  # readiness answers are shared for a second
        status, body = _readyz(server)
        assert status == 503 and "root_of_trust failed" in body
        assert len(kms.list_keys()["Keys"]) == 1  # nothing half-made was stored

        token.put_back()
        deadline = time.monotonic() + 10
        while True:
            try:
                kms.create_key()
                break
            except ClientError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        for _ in range(4):
            kms.create_key()
        assert stranger.list_keys()["Keys"]
        time.sleep(1.1)
        assert _readyz(server)[0] == 200


def test_rotating_the_token_root_while_serving(tmp_path: Path) -> None:
    token = make_token(tmp_path / "hsm")
    data_dir = tmp_path / "data"
    env = token.server_env()
    with TrentServer(data_dir, env=env) as server:
        kms = server.client()
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.rotate_key_on_demand(KeyId=key)
        old = [kms.encrypt(KeyId=key, Plaintext=b"before %d" % i)["CiphertextBlob"] for i in range(4)]
        (first,) = root_key_ids(data_dir / "trent.db")[ALGORITHM]

        out = ok("admin", "rotate-root-key", "--data-dir", str(data_dir), env=env)
        added = re.search(r"added root key (p11-rk-0002-[0-9a-f]{8})", out)
        assert added, out
        assert (
            "re-wrapped 2 key material version(s), 1 access key secret(s), 0 import parameter set(s), 0 custom key store password(s) and 2 other blob(s)"
            in out
        ), out
        assert root_key_ids(data_dir / "trent.db") == {ALGORITHM: {added.group(1)}}
        assert len(token.objects()) == 2  # the old version stays in the token

        for i, blob in enumerate(old):
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before %d" % i
        kms.create_key()
        assert root_key_ids(data_dir / "trent.db") == {ALGORITHM: {added.group(1)}}  # new keys: under the new one
        again = ok("admin", "rotate-root-key", "--resume", "--data-dir", str(data_dir), env=env)
        assert (
            "re-wrapped 0 key material version(s), 0 access key secret(s), 0 import parameter set(s), 0 custom key store password(s) and 0 other blob(s)"
            in again
        )
    assert first != added.group(1)
    with TrentServer(data_dir, env=env) as restarted:
        for i, blob in enumerate(old):
            assert restarted.client().decrypt(CiphertextBlob=blob)["Plaintext"] == b"before %d" % i
    verified = ok("audit", "verify", "--data-dir", str(data_dir), env=env)
    assert "audit log intact" in verified
