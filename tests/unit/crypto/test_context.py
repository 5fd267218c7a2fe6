"""crypto/context.py: encryption context → AAD, sorted and length-prefixed (AWS Encryption SDK format)."""

from __future__ import annotations

import itertools

import pytest

from trent.crypto.context import to_aad


def test_empty_context_is_no_bytes() -> None:
    assert to_aad({}) == b""


def test_exact_encoding() -> None:
    # 2-byte pair count, then per pair (sorted by key): 2-byte key length, key, 2-byte value length, value.
    assert to_aad({"b": "22", "a": "1"}) == b"\x00\x02" + b"\x00\x01a\x00\x011" + b"\x00\x01b\x00\x0222"


def test_lengths_count_utf8_bytes_and_order_is_by_utf8_bytes() -> None:
    # "Z" (0x5a) < "a" (0x61) < "é" (0xc3 0xa9); "€" is 3 bytes in UTF-8.
    assert to_aad({"é": "€", "a": "", "Z": "z"}) == (
        b"\x00\x03" + b"\x00\x01Z\x00\x01z" + b"\x00\x01a\x00\x00" + b"\x00\x02\xc3\xa9\x00\x03\xe2\x82\xac"
    )


@pytest.mark.parametrize(
    "context",
    [
        {"a": "1", "b": "2", "c": "3"},
        {"Department": "10", "Purpose": "Test", "aws:ebs:id": "vol-1"},
        {"é": "x", "e": "y", "E": "z"},
    ],
)
def test_order_independent(context: dict[str, str]) -> None:
    encodings = {to_aad(dict(order)) for order in itertools.permutations(context.items())}

    assert len(encodings) == 1


# Contexts that a concatenating encoder (moto's key+value with no lengths) would confuse with one another.
LOOKALIKES: list[dict[str, str]] = [
    {},
    {"": ""},
    {"ab": "c"},
    {"a": "bc"},
    {"abc": ""},
    {"": "abc"},
    {"a": "b", "c": "d"},
    {"a": "bcd"},
    {"ab": "cd"},
    {"a": "b\x00\x01c\x00\x01d"},
    {"a": "b\x00\x01c"},
    {"a\x00\x01b": "c"},
]


def test_unambiguous() -> None:
    encodings = [to_aad(context) for context in LOOKALIKES]

    assert len(set(encodings)) == len(LOOKALIKES)
    assert to_aad({"ab": "c"}) != to_aad({"a": "bc"})


@pytest.mark.parametrize(
    "context",
    [{"k": "v" * 0x10000}, {"k" * 0x10000: "v"}, {"k": "é" * 0x8000}],
    ids=["value 65536 bytes", "key 65536 bytes", "value 65536 UTF-8 bytes in 32768 chars"],
)
def test_oversize_key_or_value_rejected(context: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        to_aad(context)


def test_largest_key_and_value_accepted() -> None:
    aad = to_aad({"k" * 0xFFFF: "v" * 0xFFFF})

    assert aad[:4] == b"\x00\x01\xff\xff"
    assert len(aad) == 2 + 2 + 0xFFFF + 2 + 0xFFFF


def test_too_many_pairs_rejected() -> None:
    with pytest.raises(ValueError):
        to_aad({str(i): "" for i in range(0x10000)})
