"""crypto/ciphertext.py: the versioned blob layout, and unpack refusing what this code never wrote."""

from __future__ import annotations

import pytest

from trent.crypto.ciphertext import Blob, MalformedBlob, unpack

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
NONCE, IV = bytes(range(16)), bytes(range(100, 112))


def _blob(key_id: str = KEY_ID, version: int = 7, body: bytes = b"\xaa" * 20) -> Blob:
    return Blob(key_id, version, NONCE, IV, body)


def test_layout_matches_the_documented_v1_format() -> None:
    packed = _blob().pack()

    assert packed == b"TK" + b"\x01" + bytes([36]) + KEY_ID.encode() + b"\x00\x00\x00\x07" + NONCE + IV + b"\xaa" * 20
    assert _blob().header == packed[:-20]


@pytest.mark.parametrize(
    "blob",
    [
        _blob(),
        _blob(key_id=""),
        _blob(key_id="k" * 255),
        _blob(version=0),
        _blob(version=2**32 - 1),
        _blob(body=b"\x00" * 16),  # tag only: the empty plaintext
        _blob(body=bytes(range(256)) * 20),
    ],
    ids=["uuid", "empty key id", "255-char key id", "version 0", "version 2^32-1", "tag only", "5 KiB body"],
)
def test_pack_unpack_round_trip(blob: Blob) -> None:
    assert unpack(blob.pack()) == blob


GOOD = _blob().pack()

MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "1 byte": b"T",
    "magic only": b"TK",
    "magic and version only": b"TK\x01",
    "bad magic": b"XX" + GOOD[2:],
    "lowercase magic": b"tk" + GOOD[2:],
    "swapped magic": b"KT" + GOOD[2:],
    "version 0": GOOD[:2] + b"\x00" + GOOD[3:],
    "version 2": GOOD[:2] + b"\x02" + GOOD[3:],
    "version 255": GOOD[:2] + b"\xff" + GOOD[3:],
    "header only": _blob(body=b"").pack(),
    "body shorter than a tag": _blob(body=b"\x00" * 15).pack(),
    "key id longer than the data": b"TK\x01\xff" + b"k" * 40,
    "non-ASCII key id": _blob(key_id="k" * 36).pack().replace(b"k" * 36, b"\xff" * 36),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=list(MALFORMED))
def test_unpack_rejects_malformed(data: bytes) -> None:
    with pytest.raises(MalformedBlob):
        unpack(data)
