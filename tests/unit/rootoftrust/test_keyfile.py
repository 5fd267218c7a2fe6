"""rootoftrust/keyfile.py and the file-backed SoftwareRoot: sealing under a passphrase (scrypt), the errors of a
wrong or missing passphrase, and processes following a file that another process changed (rotation)."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import pytest

from trent.kms.sensitive import Sensitive
from trent.rootoftrust import keyfile, software
from trent.rootoftrust.base import WrappedMaterial
from trent.rootoftrust.keyfile import Keyring, RootKeyFileError, Seal
from trent.rootoftrust.software import SoftwareRoot

PASSPHRASE = Sensitive(b"correct horse battery staple")
AAD = b"trent:key-material:v1:k:1"


def _renderings(key: bytes) -> list[bytes]:
    return [key, key.hex().encode(), base64.b64encode(key), base64.b64encode(key).rstrip(b"=")]


def test_a_sealed_file_opens_with_its_passphrase_and_holds_no_key_in_the_clear(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    root = SoftwareRoot.open(path, passphrase=PASSPHRASE)  # made sealed, since a passphrase is given
    blob = root.wrap(Sensitive(b"material"), AAD)

    assert keyfile.is_sealed(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["kdf"]["name"] == "scrypt" and doc["kdf"]["n"] == keyfile.SCRYPT_N and "keys" not in doc
    ring, _ = keyfile.read(path, PASSPHRASE)
    for key in ring.keys.values():
        for rendering in _renderings(key):
            assert rendering not in path.read_bytes()
    assert SoftwareRoot.open(path, create=False, passphrase=PASSPHRASE).unwrap(blob, AAD) == Sensitive(b"material")


def test_a_wrong_or_missing_passphrase_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    SoftwareRoot.open(path, passphrase=PASSPHRASE)
    with pytest.raises(RootKeyFileError, match="sealed under another passphrase"):
        SoftwareRoot.open(path, create=False, passphrase=Sensitive(b"wrong"))
    with pytest.raises(RootKeyFileError, match="is sealed: give its passphrase with --root-key-passphrase-file"):
        SoftwareRoot.open(path, create=False)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["kdf"].update(n=2**14),
        lambda d: d["kdf"].update(r=9),
        lambda d: d.update(nonce=base64.b64encode(bytes(12)).decode()),
        lambda d: d.update(sealed=d["sealed"][:-8] + "AAAAAAA="),
    ],
    ids=["cheaper n", "other r", "other nonce", "altered ciphertext"],
)
def test_a_changed_parameter_fails_like_a_wrong_passphrase(tmp_path: Path, change: object) -> None:
    path = tmp_path / "root.key"
    SoftwareRoot.open(path, passphrase=PASSPHRASE)
    doc = json.loads(path.read_text())
    change(doc)  # type: ignore[operator]
    path.write_text(json.dumps(doc))
    with pytest.raises(RootKeyFileError, match="sealed under another passphrase"):
        SoftwareRoot.open(path, create=False, passphrase=PASSPHRASE)


@pytest.mark.parametrize(
    "kdf",
    [{"n": 2**30}, {"n": 1000}, {"r": 0}, {"p": 64}, {"name": "pbkdf2"}, {"salt": 7}],
    ids=["n too costly", "n not a power of two", "r zero", "p too large", "unknown kdf", "salt not text"],
)
def test_parameters_out_of_bounds_are_refused_before_any_derivation(tmp_path: Path, kdf: dict[str, object]) -> None:
    path = tmp_path / "root.key"
    SoftwareRoot.open(path, passphrase=PASSPHRASE)
    doc = json.loads(path.read_text())
    doc["kdf"].update(kdf)
    path.write_text(json.dumps(doc))
    started = time.monotonic()
    with pytest.raises(RootKeyFileError, match="malformed"):
        SoftwareRoot.open(path, create=False, passphrase=PASSPHRASE)
    assert time.monotonic() - started < 1


def test_sealing_keeps_every_key_and_its_blobs(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    plain = SoftwareRoot.open(path)
    plain.add_key()
    blob = plain.wrap(Sensitive(b"m"), AAD)
    ring, _ = keyfile.read(path, None)

    keyfile.write(path, ring, Seal.new(PASSPHRASE))

    sealed = SoftwareRoot.open(path, create=False, passphrase=PASSPHRASE)
    assert sealed.key_ids() == plain.key_ids() and len(sealed.key_ids()) == 2
    assert sealed.unwrap(blob, AAD) == Sensitive(b"m")
    assert [p.name for p in tmp_path.iterdir()] == ["root.key"]  # replaced atomically: no temporary file left


def test_another_process_s_rotation_is_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two roots on one file stand for two processes: the one that rotates, and a server already running."""
    monkeypatch.setattr(software, "REFRESH_SECONDS", 0.2)
    path = tmp_path / "root.key"
    running = SoftwareRoot.open(path, passphrase=PASSPHRASE)
    admin = SoftwareRoot.open(path, create=False, passphrase=PASSPHRASE)
    first = running.active_key_id
    old = running.wrap(Sensitive(b"before"), AAD)

    added = admin.add_key()
    made_after = admin.wrap(Sensitive(b"after"), AAD)

    assert made_after.root_key_id == added != first
    assert running.unwrap(made_after, AAD) == Sensitive(b"after")  # an unknown root key: the file is read again
    time.sleep(0.25)
    assert running.wrap(Sensitive(b"x"), AAD).root_key_id == added
    assert running.unwrap(old, AAD) == admin.unwrap(old, AAD) == Sensitive(b"before")  # the old key stays


def test_a_damaged_file_does_not_stop_a_running_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(software, "REFRESH_SECONDS", 0.0)
    path = tmp_path / "root.key"
    running = SoftwareRoot.open(path)
    blob = running.wrap(Sensitive(b"kept"), AAD)
    path.write_text("{damaged")
    path.chmod(0o600)

    assert running.unwrap(running.wrap(Sensitive(b"x"), AAD), AAD) == Sensitive(b"x")
    assert running.unwrap(blob, AAD) == Sensitive(b"kept")


def test_a_keyring_that_hands_over_wraps_with_its_successor(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    other = SoftwareRoot({"rk-successor": bytes(range(32))}, "rk-successor")
    opened: list[dict[str, str]] = []

    class Successor(SoftwareRoot):  # stands for a token root: another algorithm name
        def wrap(self, material: Sensitive, aad: bytes) -> WrappedMaterial:
            inner = other.wrap(material, aad)
            return WrappedMaterial(inner.root_key_id, "OTHER", inner.blob)

        def unwrap(self, wrapped: WrappedMaterial, aad: bytes) -> Sensitive:
            return other.unwrap(WrappedMaterial(wrapped.root_key_id, "AES-256-GCM", wrapped.blob), aad)

    def open_successor(spec: object) -> Successor:
        opened.append(dict(spec))  # type: ignore[call-overload]
        return Successor({"rk-successor": bytes(range(32))}, "rk-successor")

    root = SoftwareRoot.open(path, successor=open_successor)
    old = root.wrap(Sensitive(b"old"), AAD)
    root.change(lambda ring: Keyring(ring.keys, ring.active, {"root_of_trust": "test"}))

    new = root.wrap(Sensitive(b"new"), AAD)
    assert opened == [{"root_of_trust": "test"}]
    assert (new.algorithm, root.active_key_id) == ("OTHER", "rk-successor")
    assert root.unwrap(new, AAD) == Sensitive(b"new") and root.unwrap(old, AAD) == Sensitive(b"old")
    with pytest.raises(RootKeyFileError, match="hands over"):
        root.add_key()
    with pytest.raises(RootKeyFileError, match="cannot open"):
        SoftwareRoot.open(path, create=False)  # a command that cannot open the successor says so
