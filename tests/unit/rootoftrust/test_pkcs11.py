"""rootoftrust/pkcs11.py against a real SoftHSM2 token (one per test): wrapping inside the token, the root key
object's attributes, rotation, fork and thread safety, failures while serving and recovery."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.softhsm import Token, in_token, make_token
from trent.kms.sensitive import Sensitive
from trent.rootoftrust import pkcs11 as adapter
from trent.rootoftrust.base import RootSetupError, RootUnavailable, UnwrapError, WrappedMaterial, material_aad
from trent.rootoftrust.pkcs11 import ALGORITHM, Pkcs11Root, TokenConfig, read_pin

if TYPE_CHECKING:
    from trent.rootoftrust.base import RootOfTrust

    def _is_a_root(root: Pkcs11Root) -> RootOfTrust:
        return root


AAD = material_aad("1234abcd-12ab-34cd-56ef-1234567890ab", 1)


def _config(token: Token, **changes: object) -> TokenConfig:
    base = TokenConfig(token.module, token.label, read_pin(token.pin_file), f"PIN file {token.pin_file}", 5.0)
    fields = {
        "module": base.module,
        "token_label": base.token_label,
        "pin": base.pin,
        "pin_source": base.pin_source,
        "timeout": base.timeout,
    }
    fields.update(changes)
    return TokenConfig(**fields)  # type: ignore[arg-type]


@pytest.fixture
def root(token_in_process: Token) -> Iterator[Pkcs11Root]:
    opened = Pkcs11Root.open(_config(token_in_process), create=True)
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("size", [0, 1, 32, 2375, 100_000])
def test_round_trip_inside_the_token(root: Pkcs11Root, size: int) -> None:
    material = Sensitive(os.urandom(size))
    wrapped = root.wrap(material, AAD)

    assert wrapped.algorithm == ALGORITHM
    assert wrapped.root_key_id == root.active_key_id
    assert len(wrapped.blob) == 12 + size + 16  # nonce || ciphertext || 128-bit tag
    assert root.unwrap(WrappedMaterial.from_bytes(wrapped.to_bytes()), AAD) == material
    if size >= 16:
        assert material.reveal() not in wrapped.to_bytes()


def test_nonces_are_fresh(root: Pkcs11Root) -> None:
    blobs = {root.wrap(Sensitive(b"same"), AAD).blob for _ in range(50)}
    assert len(blobs) == 50 and len({b[:12] for b in blobs}) == 50


@pytest.mark.parametrize(
    "other_aad",
    [b"", material_aad("1234abcd-12ab-34cd-56ef-1234567890ab", 2), material_aad("other", 1), AAD + b"x", AAD[:-1]],
    ids=["no aad", "other version", "other key", "longer", "shorter"],
)
def test_aad_is_bound(root: Pkcs11Root, other_aad: bytes) -> None:
    wrapped = root.wrap(Sensitive(b"key material"), AAD)
    with pytest.raises(UnwrapError):
        root.unwrap(wrapped, other_aad)


def test_every_bit_flip_and_truncation_is_refused(root: Pkcs11Root) -> None:
    wrapped = root.wrap(Sensitive(os.urandom(32)), AAD)
    accepted = []
    for i in range(len(wrapped.blob)):
        for bit in (0x01, 0x80):
            flipped = bytearray(wrapped.blob)
            flipped[i] ^= bit
            try:
                root.unwrap(WrappedMaterial(wrapped.root_key_id, ALGORITHM, bytes(flipped)), AAD)
                accepted.append((i, bit))
            except UnwrapError:
                pass
    for cut in (0, 5, 12, 27, len(wrapped.blob) - 1):
        with pytest.raises(UnwrapError):
            root.unwrap(WrappedMaterial(wrapped.root_key_id, ALGORITHM, wrapped.blob[:cut]), AAD)
    assert accepted == []
    assert root.unwrap(wrapped, AAD).reveal()  # the session still works after every refusal


@pytest.mark.parametrize(
    "relabel",
    [
        {"algorithm": "AES-256-GCM"},
        {"root_key_id": "p11-rk-9999-0123abcd"},
        {"root_key_id": "rk-0123456789abcdef"},
        {"root_key_id": ""},
    ],
    ids=["software algorithm", "unknown root key", "a software root key id", "no root key id"],
)
def test_blobs_naming_what_the_token_lacks_are_refused(root: Pkcs11Root, relabel: dict[str, str]) -> None:
    wrapped = root.wrap(Sensitive(b"x" * 32), AAD)
    fields = {"root_key_id": wrapped.root_key_id, "algorithm": wrapped.algorithm, **relabel}
    with pytest.raises(UnwrapError):
        root.unwrap(WrappedMaterial(fields["root_key_id"], fields["algorithm"], wrapped.blob), AAD)


def test_the_blob_is_aes_gcm_as_the_software_root_lays_it_out(token_in_process: Token) -> None:
    """The token's output is pyca's AESGCM byte for byte: shown with a key of known value put into the token under
    the root key label (only a test does that; Trent's own are generated inside and never readable)."""
    known = os.urandom(32)
    in_token(
        token_in_process,
        "from pkcs11 import Attribute, ObjectClass, KeyType\n"
        "session.create_object({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES,"
        f" Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.LABEL: {adapter.KEY_LABEL!r},"
        " Attribute.ID: b'p11-rk-0001-0000cafe', Attribute.ENCRYPT: True, Attribute.DECRYPT: True,"
        f" Attribute.VALUE: {known!r}}})\n",
    )
    root = Pkcs11Root.open(_config(token_in_process), create=False)
    try:
        assert root.active_key_id == "p11-rk-0001-0000cafe"
        wrapped = root.wrap(Sensitive(b"interoperable"), AAD)
        assert AESGCM(known).decrypt(wrapped.blob[:12], wrapped.blob[12:], AAD) == b"interoperable"
        nonce = os.urandom(12)
        made_by_pyca = WrappedMaterial(wrapped.root_key_id, ALGORITHM, nonce + AESGCM(known).encrypt(nonce, b"p", AAD))
        assert root.unwrap(made_by_pyca, AAD) == Sensitive(b"p")
    finally:
        root.close()


def test_the_root_key_never_leaves_the_token(root: Pkcs11Root, token_in_process: Token) -> None:
    attributes = root.key_attributes(root.active_key_id)
    assert attributes == {
        "TOKEN": True,
        "PRIVATE": True,
        "SENSITIVE": True,
        "ALWAYS_SENSITIVE": True,
        "EXTRACTABLE": False,
        "NEVER_EXTRACTABLE": True,
        "MODIFIABLE": False,
        "COPYABLE": False,
        "LOCAL": True,  # generated inside the token
        "ENCRYPT": True,
        "DECRYPT": True,
        "WRAP": False,
        "UNWRAP": False,
        "SIGN": False,
        "VERIFY": False,
        "DERIVE": False,
    }
    # Anyone with the PIN, in another process: the value cannot be read, wrapped out, or made readable.
    out = in_token(
        token_in_process,
        "from pkcs11 import Attribute, ObjectClass, KeyType, exceptions as e\n"
        f"key = session.get_key(object_class=ObjectClass.SECRET_KEY, label={adapter.KEY_LABEL!r})\n"
        "results = []\n"
        "for attempt in (lambda: key[Attribute.VALUE],\n"
        "                lambda: session.generate_key(KeyType.AES, 256, template={Attribute.EXTRACTABLE: True}).wrap_key(key),\n"
        "                lambda: key.__setitem__(Attribute.EXTRACTABLE, True),\n"
        "                lambda: key.__setitem__(Attribute.SENSITIVE, False),\n"
        "                lambda: key.copy({Attribute.EXTRACTABLE: True})):\n"
        "    try:\n"
        "        attempt(); results.append('ALLOWED')\n"
        "    except e.PKCS11Error as exc:\n"
        "        results.append(type(exc).__name__ + str(exc).replace(' ', '_'))\n"
        "print(' '.join(results))\n",
    )
    # CKR_ACTION_PROHIBITED (0x1B, PKCS#11 2.40 §5.1): MODIFIABLE and COPYABLE are false.
    prohibited = "PKCS11ErrorUnmapped_error_code_0x1b"
    assert out.split() == ["AttributeSensitive", "KeyUnextractable", prohibited, prohibited, prohibited], out


def test_a_second_root_on_the_token_shares_the_process_s_one_login(root: Pkcs11Root, token_in_process: Token) -> None:
    second = Pkcs11Root.open(_config(token_in_process), create=False)  # a second C_Login would fail
    try:
        assert second.unwrap(root.wrap(Sensitive(b"shared"), AAD), AAD) == Sensitive(b"shared")
    finally:
        second.close()
    assert root.unwrap(root.wrap(Sensitive(b"still"), AAD), AAD) == Sensitive(b"still")  # not logged out by it


def test_rotation_adds_a_version_and_every_blob_keeps_opening(root: Pkcs11Root) -> None:
    first = root.active_key_id
    old = root.wrap(Sensitive(b"old"), AAD)
    added = root.add_key()

    assert added != first and added.startswith("p11-rk-0002-")
    assert root.key_ids() == (first, added)
    assert root.active_key_id == added
    assert root.wrap(Sensitive(b"new"), AAD).root_key_id == added
    assert root.unwrap(old, AAD) == Sensitive(b"old")


def test_a_root_key_added_by_another_process_is_used_here(root: Pkcs11Root, token_in_process: Token) -> None:
    """Running servers follow a rotation made by `trent admin`: a blob naming the new key opens at once (it is
    looked up by CKA_ID), and wraps move to it within REFRESH_SECONDS."""
    old_active = root.wrap(Sensitive(b"x"), AAD).root_key_id
    out = in_token(
        token_in_process,
        "import os\n"
        "from trent.rootoftrust.pkcs11 import Pkcs11Root, TokenConfig\n"
        "from trent.kms.sensitive import Sensitive\n"
        "session.close()\n"  # the script's own login goes; the root below logs in itself
        f"root = Pkcs11Root.open(TokenConfig({token_in_process.module!r}, {token_in_process.label!r},"
        f" Sensitive({token_in_process.pin.encode()!r})), create=False)\n"
        "rid = root.add_key()\n"
        f"print(rid, root.wrap(Sensitive(b'made elsewhere'), {AAD!r}).to_bytes().hex())\n"
        "root.close()\n",
    )
    added, blob = out.split()
    assert root.unwrap(WrappedMaterial.from_bytes(bytes.fromhex(blob)), AAD) == Sensitive(b"made elsewhere")
    time.sleep(adapter.REFRESH_SECONDS + 0.1)
    assert root.wrap(Sensitive(b"y"), AAD).root_key_id == added != old_active


def test_a_forked_child_logs_in_anew_and_the_parent_keeps_working(root: Pkcs11Root) -> None:
    before = root.wrap(Sensitive(b"parent's"), AAD)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the same root object, in a new process
        status = 1
        try:
            opened = root.unwrap(before, AAD) == Sensitive(b"parent's")
            made = root.wrap(Sensitive(b"child's"), AAD)
            own = root._module.pid == os.getpid()  # its own initialisation and login, not the parent's copy
            os.write(write, f"{opened} {own} {made.to_bytes().hex()}".encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as pipe:
        opened, own, blob = pipe.read().split()
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert (opened, own) == ("True", "True")
    assert root.unwrap(WrappedMaterial.from_bytes(bytes.fromhex(blob)), AAD) == Sensitive(b"child's")
    assert root.unwrap(root.wrap(Sensitive(b"after"), AAD), AAD) == Sensitive(b"after")


def test_many_threads_at_once_do_not_crash_the_module(root: Pkcs11Root) -> None:
    """python-pkcs11 with SoftHSM2 crashes when two threads call it at once (PKCS11.md §4); every call of the
    process goes through one thread, so this many threads are safe."""
    errors: list[BaseException] = []

    def hammer(n: int) -> None:
        try:
            for i in range(150):
                material = Sensitive(f"{n}:{i}".encode() * 8)
                if root.unwrap(root.wrap(material, AAD), AAD) != material:
                    raise AssertionError("unwrapped something else")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_removed_token_fails_calls_quickly_and_they_recover_when_it_is_back(
    root: Pkcs11Root, token_in_process: Token
) -> None:
    blob = root.wrap(Sensitive(b"before"), AAD)
    token_in_process.remove()
    started = time.monotonic()
    with pytest.raises(RootUnavailable):
        root.wrap(Sensitive(b"during"), AAD)
    with pytest.raises(RootUnavailable):
        root.unwrap(blob, AAD)  # not UnwrapError: nothing is known about the blob
    assert time.monotonic() - started < 2 * adapter.DEFAULT_TIMEOUT
    token_in_process.put_back()
    assert root.unwrap(blob, AAD) == Sensitive(b"before")
    assert root.unwrap(root.wrap(Sensitive(b"after"), AAD), AAD) == Sensitive(b"after")


def test_a_pin_refused_while_serving_is_never_offered_again(root: Pkcs11Root, token_in_process: Token) -> None:
    """The user PIN changed under a running process (by the SO); once the token refuses the process's PIN, the
    process never tries it again (a real HSM would lock it), even after the PIN is changed back."""
    blob = root.wrap(Sensitive(b"x"), AAD)
    change = (
        "session.close()\n"
        f"so = lib.get_token(token_label={token_in_process.label!r}).open(so_pin={token_in_process.so_pin!r}, rw=True)\n"
        "so.init_pin({pin!r})\n"
        "so.close()\n"
    )
    in_token(token_in_process, change.format(pin="another-pin"))
    token_in_process.remove()  # forces the process to log in again
    with pytest.raises(RootUnavailable):
        root.unwrap(blob, AAD)
    token_in_process.put_back()
    with pytest.raises(RootUnavailable, match="refused the PIN|PIN of token"):
        root.unwrap(blob, AAD)
    in_token(
        Token(
            token_in_process.directory,
            token_in_process.label,
            "another-pin",
            token_in_process.so_pin,
            token_in_process.module,
        ),
        change.format(pin=token_in_process.pin),
    )
    with pytest.raises(RootUnavailable, match="was refused"):
        root.unwrap(blob, AAD)


def test_start_up_errors_say_what_is_wrong_and_name_no_pin(token_in_process: Token, tmp_path: Path) -> None:
    wrong = _config(token_in_process, pin=Sensitive(b"not-the-pin-4321"))
    cases = {
        "wrong PIN": (wrong, f"PIN file {token_in_process.pin_file} does not hold the user PIN of PKCS#11 token"),
        "no such token": (_config(token_in_process, token_label="absent"), "no PKCS#11 token labelled 'absent'"),
        "no module": (_config(token_in_process, module=str(tmp_path / "nope.so")), "does not exist"),
        "not a module": (_config(token_in_process, module="/bin/true"), "cannot be loaded"),
    }
    for name, (config, expected) in cases.items():
        with pytest.raises(RootSetupError) as refused:
            Pkcs11Root.open(config, create=True)
        assert expected in str(refused.value), name
        assert "not-the-pin-4321" not in str(refused.value) and token_in_process.pin not in str(refused.value)
    assert "tokens present: 'trent-root'" in _message(_config(token_in_process, token_label="absent"))


def _message(config: TokenConfig) -> str:
    try:
        Pkcs11Root.open(config, create=False).close()
    except RootSetupError as exc:
        return str(exc)
    return ""


def test_an_empty_token_is_not_given_a_root_key_unless_asked(token_in_process: Token) -> None:
    with pytest.raises(adapter.NoRootKeyError, match="holds no Trent root key"):
        Pkcs11Root.open(_config(token_in_process), create=False)
    assert token_in_process.objects() == []


def test_a_misconfigured_softhsm_is_one_line(token_in_process: Token, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOFTHSM2_CONF", str(token_in_process.directory / "missing.conf"))
    with pytest.raises(RootSetupError, match="SOFTHSM2_CONF"):
        Pkcs11Root.open(_config(token_in_process), create=True)


def test_pin_files_must_be_private(tmp_path: Path) -> None:
    pin = tmp_path / "pin"
    pin.write_text("1234\n")
    pin.chmod(0o644)
    with pytest.raises(RootSetupError, match="must not be readable by others"):
        read_pin(pin)
    pin.chmod(0o600)
    assert read_pin(pin) == Sensitive(b"1234")
    with pytest.raises(RootSetupError, match="cannot be read"):
        read_pin(tmp_path / "absent")


def test_two_tokens_one_after_the_other_in_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing the last root on a module finalises it, so the next one reads SOFTHSM2_CONF again."""
    for name in ("one", "two"):
        token = make_token(tmp_path / name)
        monkeypatch.setenv("SOFTHSM2_CONF", str(token.conf))
        root = Pkcs11Root.open(_config(token), create=True)
        try:
            assert root.unwrap(root.wrap(Sensitive(name.encode()), AAD), AAD) == Sensitive(name.encode())
        finally:
            root.close()
        assert len(token.objects()) == 1
