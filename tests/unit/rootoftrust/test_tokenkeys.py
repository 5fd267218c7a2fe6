"""rootoftrust/tokenkeys.py against a real SoftHSM2 token: custom key store keys generated inside the token,
never extractable, AES-GCM inside it, and failures that are errors (never a hang, never a success)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.softhsm import Token, in_token
from trent.kms.sensitive import Sensitive
from trent.rootoftrust.base import RootUnavailable
from trent.rootoftrust.tokenkeys import LoginRefused, NoKeyObject, OpenFailed, TokenKeys, TokenMissing, TokenRef

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ARN = f"arn:aws:kms:us-east-1:111122223333:key/{KEY_ID}"


@pytest.fixture
def tokens() -> Iterator[TokenKeys]:
    opened = TokenKeys(timeout=5.0)
    try:
        yield opened
    finally:
        opened.close()


def _ref(token: Token, pin: str | None = None, label: str | None = None) -> TokenRef:
    return TokenRef(token.module, label or token.label, Sensitive((pin or token.pin).encode()))


def test_a_key_is_generated_inside_the_token_and_never_leaves_it(token_in_process: Token, tokens: TokenKeys) -> None:
    ref = _ref(token_in_process)
    tokens.generate(ref, KEY_ID, ARN)
    attributes = tokens.attributes(ref, KEY_ID)
    assert attributes["EXTRACTABLE"] is False and attributes["NEVER_EXTRACTABLE"] is True
    assert attributes["SENSITIVE"] is True and attributes["ALWAYS_SENSITIVE"] is True and attributes["LOCAL"] is True
    assert attributes["ENCRYPT"] and attributes["DECRYPT"]
    assert not (attributes["WRAP"] or attributes["UNWRAP"] or attributes["MODIFIABLE"] or attributes["COPYABLE"])
    # Whoever holds the PIN cannot read or wrap it out either; its label is the key ARN, its CKA_ID the key id.
    out = in_token(
        token_in_process,
        "from pkcs11 import Attribute, ObjectClass, KeyType, exceptions as e\n"
        f"key = session.get_key(object_class=ObjectClass.SECRET_KEY, id={KEY_ID.encode()!r})\n"
        "print(key.label)\n"
        "try:\n    key[Attribute.VALUE]\nexcept e.AttributeSensitive:\n    print('sensitive')\n"
        "other = session.generate_key(KeyType.AES, 256, template={Attribute.WRAP: True})\n"
        "try:\n    other.wrap_key(key)\nexcept e.KeyUnextractable:\n    print('unextractable')\n",
    )
    assert out.split() == [ARN, "sensitive", "unextractable"]


def test_aes_gcm_inside_the_token_is_aes_gcm(token_in_process: Token, tokens: TokenKeys) -> None:
    ref = _ref(token_in_process)
    tokens.generate(ref, KEY_ID, ARN)
    iv, aad = os.urandom(12), b"header and context"
    sealed = tokens.encrypt(ref, KEY_ID, iv, b"attack at dawn", aad)
    assert len(sealed) == len(b"attack at dawn") + 16
    assert tokens.decrypt(ref, KEY_ID, iv, sealed, aad) == b"attack at dawn"
    assert tokens.decrypt(ref, KEY_ID, iv, tokens.encrypt(ref, KEY_ID, iv, b"", aad), aad) == b""
    for bad_iv, bad, bad_aad in (
        (iv, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad),
        (iv, sealed, aad + b"x"),
        (os.urandom(12), sealed, aad),
    ):
        with pytest.raises(OpenFailed):
            tokens.decrypt(ref, KEY_ID, bad_iv, bad, bad_aad)
    # No key outside the token opens it: not even a guess of the right shape.
    with pytest.raises(InvalidTag):
        AESGCM(bytes(32)).decrypt(iv, sealed, aad)


def test_a_wrong_pin_is_refused_once_and_the_right_one_then_works(token_in_process: Token, tokens: TokenKeys) -> None:
    with pytest.raises(LoginRefused):
        tokens.connect(_ref(token_in_process, pin="not-the-pin-4321"))
    with pytest.raises(RootUnavailable, match="was refused"):  # never offered to the token again
        tokens.connect(_ref(token_in_process, pin="not-the-pin-4321"))
    tokens.connect(_ref(token_in_process))
    with pytest.raises(LoginRefused):  # logged in: another PIN is refused without logging anyone out
        tokens.connect(_ref(token_in_process, pin="yet-another-pin"))
    tokens.connect(_ref(token_in_process))


def test_an_unknown_token_or_module_is_missing(token_in_process: Token, tokens: TokenKeys) -> None:
    with pytest.raises(TokenMissing):
        tokens.connect(_ref(token_in_process, label="no-such-token"))
    with pytest.raises(TokenMissing):
        tokens.connect(TokenRef("/no/such/module.so", "x", Sensitive(b"12345678")))


def test_destroy_removes_the_object(token_in_process: Token, tokens: TokenKeys) -> None:
    ref = _ref(token_in_process)
    tokens.generate(ref, KEY_ID, ARN)
    assert len(token_in_process.objects()) == 1
    assert tokens.destroy(ref, KEY_ID) is True
    assert token_in_process.objects() == []
    with pytest.raises(NoKeyObject):
        tokens.encrypt(ref, KEY_ID, os.urandom(12), b"x", b"")
    assert tokens.destroy(ref, KEY_ID) is False


def test_a_token_that_goes_away_fails_the_call_and_comes_back(token_in_process: Token, tokens: TokenKeys) -> None:
    ref = _ref(token_in_process)
    tokens.generate(ref, KEY_ID, ARN)
    iv = os.urandom(12)
    sealed = tokens.encrypt(ref, KEY_ID, iv, b"data", b"")
    token_in_process.remove()
    with pytest.raises((RootUnavailable, TokenMissing, NoKeyObject)):
        tokens.decrypt(ref, KEY_ID, iv, sealed, b"")
    token_in_process.put_back()
    assert tokens.decrypt(ref, KEY_ID, iv, sealed, b"") == b"data"


def test_random_bytes_come_from_the_token(token_in_process: Token, tokens: TokenKeys) -> None:
    ref = _ref(token_in_process)
    first, second = tokens.random(ref, 32), tokens.random(ref, 32)
    assert len(first) == 32 and first != second
