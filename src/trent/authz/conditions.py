"""IAM condition operators, decided against the request's facts (condition-key name in lower case → value).

Spec: IAM User Guide, "IAM JSON policy elements: Condition operators" and "Conditions with multiple context keys or
values"; set operators from "Single-valued vs. multivalued context keys". Imports the stdlib only.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import partial
from ipaddress import ip_address, ip_network
from typing import Any

from trent.authz.wildcards import glob_match

FactScalar = str | bool | int | datetime
FactValue = FactScalar | tuple[str, ...]
# Condition-key name in lower case → value. Multivalued keys (kms:encryptioncontextkeys, aws:tagkeys,
# kms:grantoperations, kms:resourcealiases) hold tuples. Keys the request does not have are absent.
Facts = Mapping[str, FactValue]

NULL = "Null"
IF_EXISTS = "IfExists"


class SetQualifier(StrEnum):
    FOR_ANY_VALUE = "ForAnyValue"
    FOR_ALL_VALUES = "ForAllValues"


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key) pair of a Condition block; a statement holds when all of its conditions hold.

    `operator` is the base name ("StringLike"), without the set qualifier or the IfExists suffix. `values` are
    the policy's values as IAM reads them (JSON scalars as strings), OR-ed together.
    """

    operator: str
    key: str
    values: tuple[str, ...]
    if_exists: bool = False
    qualifier: SetQualifier | None = None


Compare = Callable[[FactScalar, str], bool]


@dataclass(frozen=True, slots=True)
class Operator:
    compare: Compare
    # "If a single negated matching condition operator includes multiple values for a context key, those values
    # are evaluated using a logical NOR." (IAM, Conditions with multiple context keys or values)
    negated: bool = False


def _text(fact: FactScalar) -> str:
    if isinstance(fact, bool):
        return "true" if fact else "false"
    if isinstance(fact, datetime):
        return fact.isoformat()
    return str(fact)


def _number(value: FactScalar) -> Decimal | None:
    if isinstance(value, bool | datetime):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_date(value: FactScalar) -> datetime | None:
    """IAM dates: ISO 8601 (`2024-01-31`, `2024-01-31T12:00:00Z`) or epoch seconds; naive times are UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _ordered(
    parse: Callable[[FactScalar], Any], compare: Callable[[Any, Any], bool], fact: FactScalar, value: str
) -> bool:
    left, right = parse(fact), parse(value)
    return left is not None and right is not None and bool(compare(left, right))


def _string_equals(fact: FactScalar, value: str) -> bool:
    return _text(fact) == value


def _string_equals_ignore_case(fact: FactScalar, value: str) -> bool:
    return _text(fact).lower() == value.lower()


def _string_like(fact: FactScalar, value: str) -> bool:
    return glob_match(value, _text(fact))


def _bool(fact: FactScalar, value: str) -> bool:
    return value.lower() in ("true", "false") and _text(fact).lower() == value.lower()


def _ip_address(fact: FactScalar, value: str) -> bool:
    try:
        return ip_address(_text(fact)) in ip_network(value.strip(), strict=False)
    except ValueError:
        return False


def _arn_like(fact: FactScalar, value: str) -> bool:
    # "Each of the six colon-delimited components of the ARN is checked separately and each can include
    # multi-character match wildcards (*) or single-character match wildcards (?)." — ArnEquals and ArnLike alike.
    text = _text(fact)
    pattern_parts, text_parts = value.split(":", 5), text.split(":", 5)
    if len(pattern_parts) != 6 or len(text_parts) != 6:
        return glob_match(value, text)
    return all(glob_match(p, t) for p, t in zip(pattern_parts, text_parts, strict=True))


_ORDER: Mapping[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "LessThanEquals": operator.le,
    "GreaterThan": operator.gt,
    "GreaterThanEquals": operator.ge,
}

OPERATORS: Mapping[str, Operator] = {
    "StringEquals": Operator(_string_equals),
    "StringNotEquals": Operator(_string_equals, negated=True),
    "StringEqualsIgnoreCase": Operator(_string_equals_ignore_case),
    "StringNotEqualsIgnoreCase": Operator(_string_equals_ignore_case, negated=True),
    "StringLike": Operator(_string_like),
    "StringNotLike": Operator(_string_like, negated=True),
    **{f"Numeric{name}": Operator(partial(_ordered, _number, compare)) for name, compare in _ORDER.items()},
    "NumericNotEquals": Operator(partial(_ordered, _number, operator.eq), negated=True),
    **{f"Date{name}": Operator(partial(_ordered, parse_date, compare)) for name, compare in _ORDER.items()},
    "DateNotEquals": Operator(partial(_ordered, parse_date, operator.eq), negated=True),
    "Bool": Operator(_bool),
    # The policy holds the base64 of the bytes; the fact is given in the same base64 form.
    "BinaryEquals": Operator(_string_equals),
    "IpAddress": Operator(_ip_address),
    "NotIpAddress": Operator(_ip_address, negated=True),
    "ArnEquals": Operator(_arn_like),
    "ArnLike": Operator(_arn_like),
    "ArnNotEquals": Operator(_arn_like, negated=True),
    "ArnNotLike": Operator(_arn_like, negated=True),
}


def parse_operator(name: str) -> tuple[str, SetQualifier | None, bool] | None:
    """ "ForAllValues:StringLikeIfExists" → ("StringLike", FOR_ALL_VALUES, True); None if IAM has no such operator."""
    qualifier = next((q for q in SetQualifier if name.startswith(f"{q}:")), None)
    if qualifier is not None:
        name = name[len(qualifier) + 1 :]
    if_exists = name.endswith(IF_EXISTS)
    base = name.removesuffix(IF_EXISTS)
    if base == NULL:
        # Null tests existence itself, so it takes no IfExists.
        return None if if_exists else (base, qualifier, False)
    return (base, qualifier, if_exists) if base in OPERATORS else None


def _present(fact: FactValue | None) -> FactValue | None:
    # An empty set counts as absent, as Null does: "check ... the context key exists and its value is not null".
    return None if fact is None or fact == () else fact


def matches(condition: Condition, facts: Facts) -> bool:
    fact = _present(facts.get(condition.key))
    if condition.operator == NULL:
        # Null "true": the key is absent from the request context; "false": it is present.
        return any(value.lower() == ("true" if fact is None else "false") for value in condition.values)
    op = OPERATORS[condition.operator]
    if fact is None:
        # "If the key that you specify in a policy condition is not present in the request context, the values do
        # not match and the condition is false. If the policy condition requires that the key is not matched, such
        # as StringNotLike or ArnNotLike, and the right key is not present, the condition is true." ...IfExists is
        # true when the key is absent; ForAllValues "also returns true if there are no context keys in the
        # request"; ForAnyValue returns false then.
        if condition.if_exists or condition.qualifier is SetQualifier.FOR_ALL_VALUES:
            return True
        return False if condition.qualifier is SetQualifier.FOR_ANY_VALUE else op.negated
    members: tuple[FactScalar, ...] = fact if isinstance(fact, tuple) else (fact,)

    def hit(member: FactScalar) -> bool:
        return any(op.compare(member, value) for value in condition.values)

    if condition.qualifier is SetQualifier.FOR_ALL_VALUES:
        return all(hit(member) != op.negated for member in members)
    if condition.qualifier is SetQualifier.FOR_ANY_VALUE:
        return any(hit(member) != op.negated for member in members)
    # A plain operator over a multivalued key matches when any member matches; its negation when none does.
    return any(hit(member) for member in members) != op.negated


def encryption_context_facts(context: Mapping[str, str]) -> dict[str, FactValue]:
    """The facts an encryption context contributes: kms:EncryptionContext:<key> (single-valued) and
    kms:EncryptionContextKeys (multivalued). Condition-key names are case-insensitive, so <key> is lower-cased
    here; values, and the members of kms:EncryptionContextKeys, keep their case (KMS developer guide,
    kms:EncryptionContext:context-key)."""
    facts: dict[str, FactValue] = {
        f"kms:encryptioncontext:{key.lower()}": value for key, value in sorted(context.items())
    }
    if context:
        facts["kms:encryptioncontextkeys"] = tuple(sorted(context))
    return facts
