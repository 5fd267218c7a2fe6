"""rootoftrust/software.py: AES-256-GCM wrapping under a keyring kept in a mode-0600 file."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from trent.kms.sensitive import Sensitive
from trent.rootoftrust.base import RootOfTrust, UnwrapError, WrappedMaterial, material_aad
from trent.rootoftrust.software import ALGORITHM, RootKeyFileError, SoftwareRoot

KEY_A, KEY_B = bytes(range(32)), bytes(range(100, 132))

_: RootOfTrust = SoftwareRoot({"rk-a": KEY_A}, "rk-a")

AAD = material_aad("1234abcd-12ab-34cd-56ef-1234567890ab", 1)
SECRET = Sensitive(bytes(range(200, 232)))


@pytest.fixture
def root() -> SoftwareRoot:
    return SoftwareRoot({"rk-a": KEY_A}, "rk-a")


def _through_bytes(root: RootOfTrust, data: bytes, aad: bytes = AAD) -> Sensitive:
    """Unwrap as a store would: from the persisted bytes."""
    return root.unwrap(WrappedMaterial.from_bytes(data), aad)


@pytest.mark.parametrize("size", [0, 1, 32, 4096])
def test_round_trip(root: SoftwareRoot, size: int) -> None:
    material = Sensitive(os.urandom(size))

    wrapped = root.wrap(material, AAD)

    assert (wrapped.root_key_id, wrapped.algorithm) == ("rk-a", ALGORITHM)
    assert root.unwrap(wrapped, AAD) == material
    assert _through_bytes(root, wrapped.to_bytes()) == material


def test_confidentiality(root: SoftwareRoot) -> None:
    wrapped = root.wrap(SECRET, AAD)

    assert SECRET.reveal() not in wrapped.to_bytes()
    assert SECRET.reveal()[:8] not in wrapped.to_bytes()
    assert KEY_A not in wrapped.to_bytes()


def test_wrapping_twice_differs(root: SoftwareRoot) -> None:
    assert root.wrap(SECRET, AAD).blob != root.wrap(SECRET, AAD).blob


def test_every_bit_flip_is_refused(root: SoftwareRoot) -> None:
    data = root.wrap(SECRET, AAD).to_bytes()
    for position in range(len(data)):
        for bit in range(8):
            tampered = bytearray(data)
            tampered[position] ^= 1 << bit
            with pytest.raises(UnwrapError):
                _through_bytes(root, bytes(tampered))


def test_every_truncation_and_extension_is_refused(root: SoftwareRoot) -> None:
    data = root.wrap(SECRET, AAD).to_bytes()
    for length in range(len(data)):
        with pytest.raises(UnwrapError):
            _through_bytes(root, data[:length])
    with pytest.raises(UnwrapError):
        _through_bytes(root, data + b"\x00")


@pytest.mark.parametrize(
    "other_aad",
    [b"", material_aad("1234abcd-12ab-34cd-56ef-1234567890ab", 2), material_aad("other", 1), AAD + b"\x00", AAD[:-1]],
    ids=["empty", "other material version", "other key id", "longer", "shorter"],
)
def test_aad_is_bound(root: SoftwareRoot, other_aad: bytes) -> None:
    wrapped = root.wrap(SECRET, AAD)

    with pytest.raises(UnwrapError):
        root.unwrap(wrapped, other_aad)


@pytest.mark.parametrize(
    "relabel",
    [
        {"root_key_id": "rk-unknown"},
        {"root_key_id": ""},
        {"algorithm": "AES-128-GCM"},
        {"algorithm": ""},
        {"blob": b""},
        {"blob": b"\x00" * 11},
    ],
    ids=["unknown root key", "empty root key id", "other algorithm", "empty algorithm", "empty blob", "short blob"],
)
def test_unusable_wrapped_material_is_refused(root: SoftwareRoot, relabel: dict[str, object]) -> None:
    wrapped = root.wrap(SECRET, AAD)
    fields: dict[str, object] = {
        "root_key_id": wrapped.root_key_id,
        "algorithm": wrapped.algorithm,
        "blob": wrapped.blob,
    }

    with pytest.raises(UnwrapError):
        root.unwrap(WrappedMaterial(**(fields | relabel)), AAD)  # type: ignore[arg-type]


def test_same_root_key_id_with_other_bytes_is_refused(root: SoftwareRoot) -> None:
    impostor = SoftwareRoot({"rk-a": KEY_B}, "rk-a")

    with pytest.raises(UnwrapError):
        impostor.unwrap(root.wrap(SECRET, AAD), AAD)


def test_keyring_unwraps_blobs_of_every_key() -> None:
    old_root = SoftwareRoot({"rk-a": KEY_A}, "rk-a")
    old_blob = old_root.wrap(SECRET, AAD)
    ring = SoftwareRoot({"rk-a": KEY_A, "rk-b": KEY_B}, "rk-b")

    new_blob = ring.wrap(SECRET, AAD)

    assert ring.active_key_id == new_blob.root_key_id == "rk-b"
    assert ring.unwrap(old_blob, AAD) == SECRET
    assert ring.unwrap(new_blob, AAD) == SECRET
    with pytest.raises(UnwrapError):  # a root without the new key cannot open what it wrapped
        old_root.unwrap(new_blob, AAD)


@pytest.mark.parametrize(
    ("keys", "active"),
    [({"rk-a": KEY_A}, "rk-b"), ({}, "rk-a"), ({"rk-a": KEY_A[:16]}, "rk-a"), ({"rk-a": KEY_A, "rk-b": b""}, "rk-a")],
    ids=["active not in keys", "no keys", "16-byte key", "one bad key in the ring"],
)
def test_constructor_refuses_bad_keyrings(keys: dict[str, bytes], active: str) -> None:
    with pytest.raises(RootKeyFileError):
        SoftwareRoot(keys, active)


def test_repr_shows_no_key_bytes() -> None:
    ring = SoftwareRoot({"rk-a": KEY_A, "rk-b": KEY_B}, "rk-b")

    for text in (repr(ring), str(ring)):
        assert "rk-b" in text
        for key in (KEY_A, KEY_B):
            for rendering in (key.hex(), base64.b64encode(key).decode(), repr(key)[2:-1], repr(key[:4])[2:-1]):
                assert rendering not in text


# --- the root key file ---


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "root.key"


def test_open_creates_a_private_file(key_file: Path) -> None:
    root = SoftwareRoot.open(key_file)

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    doc = json.loads(key_file.read_text())
    assert doc["version"] == 1
    assert doc["active"] == root.active_key_id
    assert set(doc["keys"]) == {root.active_key_id}
    assert len(base64.b64decode(doc["keys"][root.active_key_id])) == 32
    assert list(key_file.parent.iterdir()) == [key_file]  # no temporary file left behind


def test_reopening_gives_the_same_keys(key_file: Path) -> None:
    wrapped = SoftwareRoot.open(key_file).wrap(SECRET, AAD)
    content = key_file.read_bytes()

    reopened = SoftwareRoot.open(key_file)

    assert key_file.read_bytes() == content
    assert reopened.unwrap(wrapped, AAD) == SECRET


def test_two_files_hold_different_keys(tmp_path: Path) -> None:
    first, second = SoftwareRoot.open(tmp_path / "one.key"), SoftwareRoot.open(tmp_path / "two.key")

    with pytest.raises(UnwrapError):
        second.unwrap(first.wrap(SECRET, AAD), AAD)


def test_open_without_create_refuses_a_missing_file(key_file: Path) -> None:
    with pytest.raises(RootKeyFileError):
        SoftwareRoot.open(key_file, create=False)
    assert not key_file.exists()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o666, 0o610])
def test_open_refuses_a_file_others_can_reach(key_file: Path, mode: int) -> None:
    SoftwareRoot.open(key_file)
    key_file.chmod(mode)

    with pytest.raises(RootKeyFileError):
        SoftwareRoot.open(key_file)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_open_accepts_an_owner_only_file(key_file: Path, mode: int) -> None:
    active = SoftwareRoot.open(key_file).active_key_id
    key_file.chmod(mode)

    assert SoftwareRoot.open(key_file).active_key_id == active


def test_open_reads_a_keyring(key_file: Path) -> None:
    old_blob = SoftwareRoot({"rk-a": KEY_A}, "rk-a").wrap(SECRET, AAD)
    _write(key_file, {"version": 1, "active": "rk-b", "keys": {"rk-a": _b64(KEY_A), "rk-b": _b64(KEY_B)}})

    ring = SoftwareRoot.open(key_file)

    assert ring.active_key_id == "rk-b"
    assert ring.unwrap(old_blob, AAD) == SECRET


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _write(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    path.chmod(0o600)


MALFORMED_FILES: dict[str, object] = {
    "empty file": b"",
    "not JSON": b"root key",
    "not UTF-8": b"\xff\xfe\x00",
    "JSON null": None,
    "JSON list": [],
    "JSON string": "rk-a",
    "no keys": {"version": 1, "active": "rk-a"},
    "no active": {"version": 1, "keys": {"rk-a": _b64(KEY_A)}},
    "active not in keys": {"version": 1, "active": "rk-b", "keys": {"rk-a": _b64(KEY_A)}},
    "active not a string": {"version": 1, "active": ["rk-a"], "keys": {"rk-a": _b64(KEY_A)}},
    "empty keyring": {"version": 1, "active": "rk-a", "keys": {}},
    "key not base64": {"version": 1, "active": "rk-a", "keys": {"rk-a": "not base64!"}},
    "key not a string": {"version": 1, "active": "rk-a", "keys": {"rk-a": 42}},
    "16-byte key": {"version": 1, "active": "rk-a", "keys": {"rk-a": _b64(KEY_A[:16])}},
    "keys is a list": {"version": 1, "active": "rk-a", "keys": [_b64(KEY_A)]},
    "keys is a string": {"version": 1, "active": "rk-a", "keys": _b64(KEY_A)},
}


@pytest.mark.parametrize("doc", MALFORMED_FILES.values(), ids=list(MALFORMED_FILES))
def test_open_refuses_a_malformed_file(key_file: Path, doc: object) -> None:
    _write(key_file, doc)

    with pytest.raises(RootKeyFileError):
        SoftwareRoot.open(key_file)


def test_open_refuses_an_unknown_file_version(tmp_path: Path) -> None:
    """Readers accept every version they ever wrote (a format once written is read forever), and only those: the writer has only written 1."""
    keyring = {"active": "rk-a", "keys": {"rk-a": _b64(KEY_A)}}
    accepted: list[object] = []
    for version in (0, 2, "1", None, "missing"):
        path = tmp_path / f"{version}.key"
        _write(path, keyring if version == "missing" else {"version": version, **keyring})
        try:
            SoftwareRoot.open(path)
        except RootKeyFileError:
            continue
        accepted.append(version)

    assert accepted == []


def test_open_survives_a_stale_temporary_file(key_file: Path) -> None:
    """A crash between writing the temporary file and linking it must not block every later start."""
    key_file.parent.mkdir(parents=True)
    key_file.with_name(key_file.name + ".tmp").write_bytes(b"")

    root = SoftwareRoot.open(key_file)

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert SoftwareRoot.open(key_file).unwrap(root.wrap(SECRET, AAD), AAD) == SECRET


def test_errors_name_the_file_and_the_remedy(key_file: Path) -> None:
    with pytest.raises(RootKeyFileError, match=f"{key_file} does not exist; restore it from your backup"):
        SoftwareRoot.open(key_file, create=False)
    SoftwareRoot.open(key_file)
    key_file.chmod(0o640)
    with pytest.raises(RootKeyFileError, match=f"has mode 640; .*\\(chmod 600 {key_file}\\)"):
        SoftwareRoot.open(key_file)
    _write(key_file, {"version": 1, "active": "rk-b", "keys": {"rk-a": _b64(KEY_A)}})
    with pytest.raises(RootKeyFileError, match=f"{key_file} is malformed; restore it from your backup"):
        SoftwareRoot.open(key_file)
