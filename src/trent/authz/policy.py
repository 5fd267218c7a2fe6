"""Policy documents (key policies and IAM identity policies) parsed into frozen values, or refused.

PolicyError's text is the MalformedPolicyDocumentException message. Texts are AWS's where known: KMS's for
principals; IAM's (as moto reproduces them from AWS) for the rest. Imports the stdlib and trent.kms only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from trent.authz.conditions import Condition, parse_date, parse_operator
from trent.kms.principals import root_arn

PolicyKind = Literal["key", "identity"]

SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
NO_ACTIONS = "Policy statement must contain actions."
NO_RESOURCES = "Policy statement must contain resources."
DUPLICATE_SID = "Statement IDs (SID) in a single policy must be unique."
NO_VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ONE_COLON = "Actions/Condition can contain only one colon."
PRINCIPAL_NOT_ALLOWED = "Policy document should not specify a principal."
NO_PRINCIPAL = "Policy contains a statement with no principal."
INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."

VERSIONS = frozenset({"2008-10-17", "2012-10-17"})
DEFAULT_VERSION = "2008-10-17"  # "If you do not include a Version element, the value defaults to 2008-10-17"
_TOP_ELEMENTS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_ELEMENTS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
_ACCOUNT_ID = re.compile(r"\d{12}")
_NAME = r"[\w+=,.@-]+"
_PRINCIPAL_ARN = re.compile(
    rf"arn:aws(?:-[a-z]+)*:(?:iam::\d{{12}}:(?:root|(?:user|role)/(?:{_NAME}/)*{_NAME})"
    rf"|sts::\d{{12}}:assumed-role/{_NAME}/{_NAME})"
)
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*")
_VENDOR = re.compile(r"[A-Za-z0-9.-]+")


class PolicyError(ValueError):
    """A policy document AWS would refuse; str(error) is the MalformedPolicyDocumentException message."""


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class Principals:
    """A Principal/NotPrincipal element. `aws` holds full ARNs (a bare account id becomes its root ARN) or "*"."""

    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str
    effect: Effect
    principal: Principals | None
    not_principal: Principals | None
    action: tuple[str, ...] | None
    not_action: tuple[str, ...] | None
    resource: tuple[str, ...] | None  # a key-policy statement may omit both: it then applies to the key itself
    not_resource: tuple[str, ...] | None
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    statements: tuple[Statement, ...]


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse_policy(text: str, *, kind: PolicyKind) -> Policy:
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise PolicyError(SYNTAX) from None
    if not isinstance(document, dict) or not _TOP_ELEMENTS.issuperset(document):
        raise PolicyError(SYNTAX)
    version = document.get("Version", DEFAULT_VERSION)
    if version not in VERSIONS or not isinstance(document.get("Id", ""), str):
        raise PolicyError(SYNTAX)
    raw = document.get("Statement")
    raw_statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw_statements, list) or not raw_statements:
        raise PolicyError(SYNTAX)
    statements = tuple(_statement(item, kind) for item in raw_statements)
    sids = [s.sid for s in statements if s.sid]
    # IAM requires unique Sids; KMS's default key policies keep them unique but KMS is not known to insist.
    if kind == "identity" and len(sids) != len(set(sids)):
        raise PolicyError(DUPLICATE_SID)
    return Policy(version=version, statements=statements)


def _statement(raw: object, kind: PolicyKind) -> Statement:
    if not isinstance(raw, dict) or not _STATEMENT_ELEMENTS.issuperset(raw):
        raise PolicyError(SYNTAX)
    if ("Action" in raw and "NotAction" in raw) or ("Resource" in raw and "NotResource" in raw):
        raise PolicyError(SYNTAX)
    sid = raw.get("Sid", "")
    if not isinstance(sid, str):
        raise PolicyError(SYNTAX)
    effect = _effect(raw.get("Effect"))
    action, not_action = _strings(raw, "Action"), _strings(raw, "NotAction")
    resource, not_resource = _strings(raw, "Resource"), _strings(raw, "NotResource")
    if not (action or not_action):
        raise PolicyError(NO_ACTIONS)
    if (kind == "identity" and not (resource or not_resource)) or resource == () or not_resource == ():
        raise PolicyError(NO_RESOURCES)
    for pattern in action or not_action or ():
        _check_action(pattern)
    for pattern in resource or not_resource or ():
        if pattern != "*" and not (pattern.startswith("arn:") and pattern.count(":") >= 5):
            raise PolicyError(f'Resource {pattern} must be in ARN format or "*".')
    principal, not_principal = _principal_elements(raw, kind, effect)
    return Statement(
        sid=sid,
        effect=effect,
        principal=principal,
        not_principal=not_principal,
        action=action,
        not_action=not_action,
        resource=resource,
        not_resource=not_resource,
        conditions=_conditions(raw.get("Condition", {})),
    )


def _effect(value: object) -> Effect:
    if not isinstance(value, str) or value.lower() not in ("allow", "deny"):
        raise PolicyError(SYNTAX)
    try:
        return Effect(value)  # IAM's legacy parser is case-sensitive here, its syntax check is not
    except ValueError:
        raise PolicyError(LEGACY) from None


def _strings(raw: Mapping[str, object], element: str) -> tuple[str, ...] | None:
    value = raw.get(element)
    if value is None and element not in raw:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise PolicyError(SYNTAX)
    return tuple(items)


def _check_action(pattern: str) -> None:
    if pattern == "*":
        return
    parts = pattern.split(":")
    if len(parts) == 1:
        raise PolicyError(NO_VENDOR)
    if len(parts) > 2:
        raise PolicyError(ONE_COLON)
    if parts[0] != "*" and not _VENDOR.fullmatch(parts[0]):
        raise PolicyError(f"Vendor {parts[0]} is not valid")


def _principal_elements(
    raw: Mapping[str, object], kind: PolicyKind, effect: Effect
) -> tuple[Principals | None, Principals | None]:
    present = [element for element in ("Principal", "NotPrincipal") if element in raw]
    if kind == "identity":
        if present:
            raise PolicyError(PRINCIPAL_NOT_ALLOWED)
        return None, None
    if not present:
        raise PolicyError(NO_PRINCIPAL)
    # "NotPrincipal must be used with "Effect":"Deny". Using it with "Effect":"Allow" is not supported."
    # (IAM, AWS JSON policy elements: NotPrincipal)
    if len(present) > 1 or (present == ["NotPrincipal"] and effect is Effect.ALLOW):
        raise PolicyError(INVALID_PRINCIPALS)
    principals = _principals(raw[present[0]])
    return (principals, None) if present == ["Principal"] else (None, principals)


def _principals(value: object) -> Principals:
    if value == "*":
        return Principals(aws=("*",))
    if not isinstance(value, dict) or not value or not {"AWS", "Service"}.issuperset(value):
        raise PolicyError(INVALID_PRINCIPALS)
    aws = tuple(_aws_principal(item) for item in _principal_list(value.get("AWS", [])))
    service = _principal_list(value.get("Service", []))
    if not all(_SERVICE.fullmatch(item) for item in service) or not (aws or service):
        raise PolicyError(INVALID_PRINCIPALS)
    return Principals(aws=aws, service=service)


def _principal_list(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise PolicyError(INVALID_PRINCIPALS)
    return tuple(items)


def _aws_principal(value: str) -> str:
    # "*" is everyone; an account id means that account (its root ARN). KMS also refuses principals that do not
    # exist; a pure layer cannot know that, so only the form is checked. No partial wildcards in principals.
    if value == "*" or _PRINCIPAL_ARN.fullmatch(value):
        return value
    if _ACCOUNT_ID.fullmatch(value):
        return root_arn(value)
    raise PolicyError(INVALID_PRINCIPALS)


def _conditions(raw: object) -> tuple[Condition, ...]:
    if not isinstance(raw, dict):
        raise PolicyError(SYNTAX)
    conditions: list[Condition] = []
    for name, block in raw.items():
        parsed = parse_operator(name)
        if parsed is None or not isinstance(block, dict):
            raise PolicyError(SYNTAX)
        base, qualifier, if_exists = parsed
        for key, value in block.items():
            values = _condition_values(value)
            if not key or (base.startswith("Date") and any(parse_date(v) is None for v in values)):
                raise PolicyError(LEGACY)
            conditions.append(Condition(base, key.lower(), values, if_exists, qualifier))
    return tuple(conditions)


def _scalar(value: object) -> str:
    # IAM reads JSON scalars as strings: true → "true", 10 → "10".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise PolicyError(SYNTAX)


def _condition_values(value: object) -> tuple[str, ...]:
    return tuple(_scalar(item) for item in value) if isinstance(value, list) else (_scalar(value),)
