"""authz/wildcards.py: IAM `*` and `?` over whole strings."""

from __future__ import annotations

import pytest

from trent.authz.wildcards import glob_match


@pytest.mark.parametrize(
    ("pattern", "text", "ignore_case", "expected"),
    [
        ("*", "", False, True),
        ("*", "anything:at/all", False, True),
        ("kms:*", "kms:Encrypt", False, True),
        ("kms:*", "kmsx:Encrypt", False, False),
        ("kms:Generate*", "kms:GenerateDataKeyPair", False, True),
        ("kms:Generate*", "kms:Encrypt", False, False),
        ("kms:?ncrypt", "kms:Encrypt", False, True),
        ("kms:?ncrypt", "kms:ncrypt", False, False),
        ("kms:Encrypt", "kms:Encrypt", False, True),
        ("kms:Encrypt", "kms:EncryptX", False, False),
        ("kms:Encrypt", "KMS:ENCRYPT", False, False),
        ("kms:Encrypt", "KMS:ENCRYPT", True, True),
        ("a*b*c", "aXXbYYc", False, True),
        ("a*b*c", "aXXbYY", False, False),
        ("*a", "bbba", False, True),
        ("a**", "a", False, True),
        ("?", "", False, False),
        ("", "", False, True),
        ("", "a", False, False),
        # A literal "*" in the text is matched by a "*" in the pattern like any other character.
        ("a*", "a*", False, True),
    ],
)
def test_glob(pattern: str, text: str, ignore_case: bool, expected: bool) -> None:
    assert glob_match(pattern, text, ignore_case=ignore_case) is expected


def test_many_stars_stay_fast() -> None:
    # A regex translation would backtrack exponentially here; the two-pointer matcher is O(len(pattern)·len(text)).
    assert glob_match("*a" * 40 + "b", "a" * 2000) is False
