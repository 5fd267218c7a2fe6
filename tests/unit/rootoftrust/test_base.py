"""rootoftrust/base.py: the WrappedMaterial byte format and the AAD helpers."""

from __future__ import annotations

import pytest

from trent.rootoftrust.base import UnwrapError, WrappedMaterial, material_aad, secret_aad

SAMPLE = WrappedMaterial("rk-0123456789abcdef", "AES-256-GCM", bytes(range(60)))
HEADER_LENGTH = 2 + len(SAMPLE.root_key_id) + 1 + len(SAMPLE.algorithm)


def test_layout() -> None:
    # format version, root key id length, root key id, algorithm length, algorithm, then the algorithm's output.
    assert SAMPLE.to_bytes() == b"\x01\x13rk-0123456789abcdef\x0bAES-256-GCM" + bytes(range(60))


@pytest.mark.parametrize(
    "wrapped",
    [
        SAMPLE,
        WrappedMaterial("", "", b""),
        WrappedMaterial("r" * 255, "a" * 255, b"\x00" * 5000),
        WrappedMaterial("clé-racine", "AES-256-GCM", b"x"),
        WrappedMaterial("rk", "AES-256-GCM", b""),
    ],
    ids=["sample", "all empty", "longest ids", "non-ASCII root key id", "empty blob"],
)
def test_round_trip(wrapped: WrappedMaterial) -> None:
    assert WrappedMaterial.from_bytes(wrapped.to_bytes()) == wrapped


def test_repr_hides_the_blob() -> None:
    wrapped = WrappedMaterial("rk-1", "AES-256-GCM", b"\xde\xad\xbe\xef" * 8)

    assert "rk-1" in repr(wrapped)
    assert "blob" not in repr(wrapped)
    assert "xde" not in repr(wrapped).lower()


MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "version only": b"\x01",
    "version 0": b"\x00" + SAMPLE.to_bytes()[1:],
    "version 2": b"\x02" + SAMPLE.to_bytes()[1:],
    "version 255": b"\xff" + SAMPLE.to_bytes()[1:],
    "root key id longer than the data": b"\x01\xff" + b"r" * 40,
    "root key id not UTF-8": b"\x01\x02\xff\xfe\x0bAES-256-GCM" + b"\x00" * 28,
    "algorithm not UTF-8": b"\x01\x02rk\x02\xff\xfe" + b"\x00" * 28,
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=list(MALFORMED))
def test_from_bytes_rejects_malformed(data: bytes) -> None:
    with pytest.raises(UnwrapError):
        WrappedMaterial.from_bytes(data)


def test_from_bytes_rejects_a_truncated_header() -> None:
    """A cut anywhere before the end of the algorithm name leaves a header that names less than was written.

    The blob is the rest of the input, so only a cut inside the header is detectable here; cuts into the blob
    are the AEAD's to catch (tests/unit/rootoftrust/test_software.py).
    """
    data = SAMPLE.to_bytes()
    accepted: list[tuple[int, str]] = []
    for length in range(HEADER_LENGTH):
        try:
            parsed = WrappedMaterial.from_bytes(data[:length])
        except UnwrapError:
            continue
        accepted.append((length, parsed.algorithm))

    assert accepted == []


def test_aad_helpers_are_distinct() -> None:
    aads = [
        material_aad("1234abcd-0000", 1),
        material_aad("1234abcd-0000", 2),
        material_aad("1234abcd-0000", 12),
        material_aad("1234abcd-0001", 1),
        secret_aad("AKIA0000"),
        secret_aad("AKIA0001"),
        secret_aad("1234abcd-0000"),
    ]

    assert len(set(aads)) == len(aads)
