"""authz/conditions.py: every IAM condition operator, with the key present and absent, IfExists, Null and the
ForAnyValue/ForAllValues set operators (IAM User Guide, "Condition operators", "Single-valued vs. multivalued
context keys", "Conditions with multiple context keys or values")."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from trent.authz.conditions import (
    OPERATORS,
    Condition,
    FactValue,
    SetQualifier,
    encryption_context_facts,
    matches,
    parse_operator,
)

ABSENT = object()


def check(operator: str, values: tuple[str, ...], fact: FactValue | object) -> bool:
    parsed = parse_operator(operator)
    assert parsed is not None, operator
    base, qualifier, if_exists = parsed
    facts: dict[str, FactValue] = {} if fact is ABSENT else {"k": fact}  # type: ignore[dict-item]
    return matches(Condition(base, "k", values, if_exists, qualifier), facts)


NOON = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

# (operator, policy values, request fact, expected)
CASES: list[tuple[str, tuple[str, ...], object, bool]] = [
    # String: case-sensitive exact, negation, ignore-case, wildcards only in *Like.
    ("StringEquals", ("a", "b"), "b", True),
    ("StringEquals", ("a",), "A", False),
    ("StringEquals", ("a*",), "abc", False),
    ("StringEquals", ("a",), ABSENT, False),
    ("StringNotEquals", ("a", "b"), "c", True),
    ("StringNotEquals", ("a", "b"), "b", False),  # NOR over the values, not OR
    ("StringNotEquals", ("a",), ABSENT, True),  # negated operator, absent key: true
    ("StringEqualsIgnoreCase", ("ABC",), "abc", True),
    ("StringEqualsIgnoreCase", ("ABC",), "abd", False),
    ("StringEqualsIgnoreCase", ("ABC",), ABSENT, False),
    ("StringNotEqualsIgnoreCase", ("ABC",), "abc", False),
    ("StringNotEqualsIgnoreCase", ("ABC",), "xyz", True),
    ("StringNotEqualsIgnoreCase", ("ABC",), ABSENT, True),
    ("StringLike", ("app-*", "db-??"), "db-01", True),
    ("StringLike", ("app-*",), "App-1", False),
    ("StringLike", ("app-*",), ABSENT, False),
    ("StringNotLike", ("app-*",), "web", True),
    ("StringNotLike", ("app-*",), "app-1", False),
    ("StringNotLike", ("app-*",), ABSENT, True),
    # Numeric: numbers, not strings; unparsable values never match.
    ("NumericEquals", ("10",), 10, True),
    ("NumericEquals", ("10",), "10.0", True),
    ("NumericEquals", ("10",), 11, False),
    ("NumericEquals", ("ten",), 10, False),
    ("NumericEquals", ("10",), ABSENT, False),
    ("NumericNotEquals", ("10",), 11, True),
    ("NumericNotEquals", ("10",), 10, False),
    ("NumericNotEquals", ("10",), ABSENT, True),
    ("NumericLessThan", ("10",), 9, True),
    ("NumericLessThan", ("10",), 10, False),
    ("NumericLessThan", ("10",), ABSENT, False),
    ("NumericLessThanEquals", ("10",), 10, True),
    ("NumericLessThanEquals", ("10",), 11, False),
    ("NumericLessThanEquals", ("10",), ABSENT, False),
    ("NumericGreaterThan", ("10",), 11, True),
    ("NumericGreaterThan", ("10",), 10, False),
    ("NumericGreaterThan", ("10",), ABSENT, False),
    ("NumericGreaterThanEquals", ("10",), 10, True),
    ("NumericGreaterThanEquals", ("10",), 9, False),
    ("NumericGreaterThanEquals", ("10",), ABSENT, False),
    ("NumericEquals", ("1",), True, False),  # a boolean is not a number
    # Date: ISO 8601 or epoch seconds; facts may be datetimes or strings.
    ("DateEquals", ("2024-06-01T12:00:00Z",), NOON, True),
    ("DateEquals", (str(int(NOON.timestamp())),), NOON, True),
    ("DateEquals", ("2024-06-01T12:00:00Z",), "2024-06-01T14:00:00+02:00", True),
    ("DateEquals", ("2024-06-01T12:00:01Z",), NOON, False),
    ("DateEquals", ("2024-06-01T12:00:00Z",), ABSENT, False),
    ("DateNotEquals", ("2024-06-01T12:00:01Z",), NOON, True),
    ("DateNotEquals", ("2024-06-01T12:00:00Z",), NOON, False),
    ("DateNotEquals", ("2024-06-01T12:00:00Z",), ABSENT, True),
    ("DateLessThan", ("2025-01-01",), NOON, True),
    ("DateLessThan", ("2024-01-01",), NOON, False),
    ("DateLessThan", ("2025-01-01",), ABSENT, False),
    ("DateLessThanEquals", ("2024-06-01T12:00:00Z",), NOON, True),
    ("DateLessThanEquals", ("2024-06-01T11:59:59Z",), NOON, False),
    ("DateLessThanEquals", ("2024-06-01T11:59:59Z",), ABSENT, False),
    ("DateGreaterThan", ("2024-01-01",), NOON, True),
    ("DateGreaterThan", ("2024-06-01T12:00:00Z",), NOON, False),
    ("DateGreaterThan", ("2024-01-01",), ABSENT, False),
    ("DateGreaterThanEquals", ("2024-06-01T12:00:00Z",), NOON, True),
    ("DateGreaterThanEquals", ("2025-01-01",), NOON, False),
    ("DateGreaterThanEquals", ("2024-01-01",), "not a date", False),
    ("DateGreaterThanEquals", ("2024-01-01",), ABSENT, False),
    # Bool: "true"/"false", case-insensitive; facts may be real booleans.
    ("Bool", ("true",), True, True),
    ("Bool", ("true",), False, False),
    ("Bool", ("TRUE",), "true", True),
    ("Bool", ("false",), False, True),
    ("Bool", ("yes",), True, False),
    ("Bool", ("true",), ABSENT, False),
    # Binary: the base64 text.
    ("BinaryEquals", ("QmluYXJ5VmFsdWU=",), "QmluYXJ5VmFsdWU=", True),
    ("BinaryEquals", ("QmluYXJ5VmFsdWU=",), "T3RoZXI=", False),
    ("BinaryEquals", ("QmluYXJ5VmFsdWU=",), ABSENT, False),
    # IP: CIDR ranges or single addresses, v4 and v6; aws:SourceIp.
    ("IpAddress", ("203.0.113.0/24",), "203.0.113.9", True),
    ("IpAddress", ("203.0.113.0/24",), "198.51.100.1", False),
    ("IpAddress", ("203.0.113.7",), "203.0.113.7", True),
    ("IpAddress", ("2001:db8::/32",), "2001:db8::1", True),
    ("IpAddress", ("203.0.113.0/24",), "2001:db8::1", False),
    ("IpAddress", ("203.0.113.0/24",), "not-an-ip", False),
    ("IpAddress", ("203.0.113.0/24",), ABSENT, False),
    ("NotIpAddress", ("203.0.113.0/24",), "198.51.100.1", True),
    ("NotIpAddress", ("203.0.113.0/24",), "203.0.113.9", False),
    ("NotIpAddress", ("203.0.113.0/24",), ABSENT, True),
    # ARN: six colon-delimited parts, each matched on its own, wildcards allowed in ArnEquals and ArnLike alike.
    ("ArnEquals", ("arn:aws:iam::111122223333:user/alice",), "arn:aws:iam::111122223333:user/alice", True),
    ("ArnEquals", ("arn:aws:iam::111122223333:user/*",), "arn:aws:iam::111122223333:user/alice", True),
    ("ArnEquals", ("arn:aws:iam::111122223333:user/alice",), "arn:aws:iam::111122223333:user/bob", False),
    ("ArnEquals", ("arn:aws:iam::111122223333:user/alice",), ABSENT, False),
    ("ArnLike", ("arn:aws:iam::*:role/admin-*",), "arn:aws:iam::444455556666:role/admin-ops", True),
    ("ArnLike", ("arn:aws:iam::*:role/admin-*",), "arn:aws:iam::444455556666:user/admin-ops", False),
    # "*" in the account part cannot swallow the colon that ends it.
    ("ArnLike", ("arn:aws:iam::*:root",), "arn:aws:iam::1:2:root", False),
    ("ArnLike", ("arn:aws:iam::*",), "arn:aws:iam::111122223333:root", True),
    ("ArnLike", ("arn:aws:iam::111122223333:*",), ABSENT, False),
    ("ArnNotEquals", ("arn:aws:iam::111122223333:user/alice",), "arn:aws:iam::111122223333:user/bob", True),
    ("ArnNotEquals", ("arn:aws:iam::111122223333:user/alice",), "arn:aws:iam::111122223333:user/alice", False),
    ("ArnNotEquals", ("arn:aws:iam::111122223333:user/alice",), ABSENT, True),
    ("ArnNotLike", ("arn:aws:iam::111122223333:*",), "arn:aws:iam::444455556666:root", True),
    ("ArnNotLike", ("arn:aws:iam::111122223333:*",), "arn:aws:iam::111122223333:root", False),
    ("ArnNotLike", ("arn:aws:iam::111122223333:*",), ABSENT, True),
    # ...IfExists: "If the policy key is present in the context of the request, process the key as specified in
    # the policy. If the key is not present, evaluate the condition element as true."
    ("StringEqualsIfExists", ("a",), ABSENT, True),
    ("StringEqualsIfExists", ("a",), "a", True),
    ("StringEqualsIfExists", ("a",), "b", False),
    ("StringNotEqualsIfExists", ("a",), ABSENT, True),
    ("StringNotEqualsIfExists", ("a",), "a", False),
    ("NumericLessThanIfExists", ("5",), ABSENT, True),
    ("NumericLessThanIfExists", ("5",), 7, False),
    ("DateLessThanIfExists", ("2025-01-01",), ABSENT, True),
    ("BoolIfExists", ("false",), ABSENT, True),
    ("BoolIfExists", ("false",), True, False),
    ("IpAddressIfExists", ("10.0.0.0/8",), ABSENT, True),
    ("IpAddressIfExists", ("10.0.0.0/8",), "192.0.2.1", False),
    ("ArnLikeIfExists", ("arn:aws:iam::*:root",), ABSENT, True),
    ("BinaryEqualsIfExists", ("AA==",), ABSENT, True),
    # Null: "true" means the key is absent; "false" that it is present. An empty set counts as absent.
    ("Null", ("true",), ABSENT, True),
    ("Null", ("true",), "x", False),
    ("Null", ("false",), "x", True),
    ("Null", ("false",), ABSENT, False),
    ("Null", ("true",), (), True),
    ("Null", ("false",), ("a",), True),
    # Multivalued keys. ForAllValues: every member matches one of the values; true when the key is absent or empty.
    ("ForAllValues:StringEquals", ("a", "b"), ("a", "b"), True),
    ("ForAllValues:StringEquals", ("a", "b"), ("a", "c"), False),
    ("ForAllValues:StringEquals", ("a", "b"), ABSENT, True),
    ("ForAllValues:StringEquals", ("a", "b"), (), True),
    ("ForAllValues:StringLike", ("Created*",), ("CreatedBy", "CreatedAt"), True),
    # ForAllValues with a negated operator: every member matches none of the values (IAM's TagKeys example).
    ("ForAllValues:StringNotLike", ("key1*",), ("key1:legal",), False),
    ("ForAllValues:StringNotLike", ("key1*",), ("key2:audit",), True),
    ("ForAllValues:StringNotLike", ("key1*",), ABSENT, True),
    # ForAnyValue: at least one member matches; false when the key is absent or empty, even for negated operators.
    ("ForAnyValue:StringEquals", ("a",), ("x", "a"), True),
    ("ForAnyValue:StringEquals", ("a",), ("x", "y"), False),
    ("ForAnyValue:StringEquals", ("a",), ABSENT, False),
    ("ForAnyValue:StringEquals", ("a",), (), False),
    ("ForAnyValue:StringNotEquals", ("a",), ("a", "b"), True),
    ("ForAnyValue:StringNotEquals", ("a",), ("a",), False),
    ("ForAnyValue:StringNotEquals", ("a",), ABSENT, False),
    ("ForAnyValue:StringEqualsIfExists", ("a",), ABSENT, True),
    # A single-valued fact under a set operator is a set of one.
    ("ForAnyValue:StringEquals", ("a",), "a", True),
    ("ForAllValues:StringEquals", ("a",), "b", False),
    # A plain operator over a multivalued key: any member matches; the negated operator: none does.
    ("StringEquals", ("a",), ("x", "a"), True),
    ("StringNotEquals", ("a",), ("x", "a"), False),
    ("StringNotEquals", ("a",), ("x", "y"), True),
]


@pytest.mark.parametrize(("operator", "values", "fact", "expected"), CASES)
def test_operator(operator: str, values: tuple[str, ...], fact: object, expected: bool) -> None:
    assert check(operator, values, fact) is expected


def test_every_operator_is_covered_present_and_absent() -> None:
    seen: dict[str, set[bool]] = defaultdict(set)
    for operator, _values, fact, _expected in CASES:
        parsed = parse_operator(operator)
        assert parsed is not None
        seen[parsed[0]].add(fact is ABSENT)
    assert {name for name in [*OPERATORS, "Null"] if seen[name] != {True, False}} == set()


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("StringEquals", ("StringEquals", None, False)),
        ("StringLikeIfExists", ("StringLike", None, True)),
        ("ForAnyValue:StringLike", ("StringLike", SetQualifier.FOR_ANY_VALUE, False)),
        ("ForAllValues:ArnNotLikeIfExists", ("ArnNotLike", SetQualifier.FOR_ALL_VALUES, True)),
        ("Null", ("Null", None, False)),
        ("NullIfExists", None),
        ("StringEqualz", None),
        ("stringequals", None),
        ("ForSomeValues:StringEquals", None),
        ("IfExists", None),
    ],
)
def test_parse_operator(name: str, parsed: tuple[str, SetQualifier | None, bool] | None) -> None:
    assert parse_operator(name) == parsed


def test_encryption_context_facts() -> None:
    facts = encryption_context_facts({"Department": "IT", "project": "Alpha"})
    # Condition-key names are case-insensitive, so the context key is lower-cased; values keep their case, and so
    # do the members of kms:EncryptionContextKeys.
    assert facts == {
        "kms:encryptioncontext:department": "IT",
        "kms:encryptioncontext:project": "Alpha",
        "kms:encryptioncontextkeys": ("Department", "project"),
    }
    assert encryption_context_facts({}) == {}
