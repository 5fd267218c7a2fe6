"""X-Amz-Target → operation, and decoded parameters → the typed keyword arguments ops declare.

Coercion follows each operation function's annotations: str → StrEnum, bytes → Sensitive, list → tuple
of dataclasses (Tag), and so on. Built once per operation from `typing.get_type_hints`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from enum import Enum
from functools import cache
from typing import Any

from trent.kms.errors import UnknownOperationException
from trent.kms.operations import Operation
from trent.kms.sensitive import Sensitive
from trent.ops.registry import OPERATIONS
from trent.protocol.awsjson.model import TARGET_PREFIX

Coercer = Callable[[Any], Any]
_OPERATIONS_BY_TARGET = {f"{TARGET_PREFIX}.{op.value}": op for op in Operation}


def operation_for(target: str | None) -> Operation:
    op = _OPERATIONS_BY_TARGET.get(target or "")
    if op is None:
        raise UnknownOperationException()
    return op


def _identity(value: Any) -> Any:
    return value


def coercer_for(hint: Any) -> Coercer:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return coercer_for(inner[0]) if len(inner) == 1 else _identity
    if origin is tuple:
        item = coercer_for(args[0]) if args else _identity
        return lambda value: tuple(item(v) for v in value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    if hint is Sensitive:
        return Sensitive
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        fields = {f.name: coercer_for(t) for f, t in zip(dataclasses.fields(hint), _field_hints(hint), strict=True)}
        cls = hint
        return lambda value: cls(**{k: fields[k](v) for k, v in value.items() if k in fields})
    return _identity


def _field_hints(cls: type) -> list[Any]:
    hints = typing.get_type_hints(cls)
    return [hints[f.name] for f in dataclasses.fields(cls)]


@cache
def _coercers(operation: Operation) -> Mapping[str, Coercer]:
    func = OPERATIONS[operation]
    if getattr(func, "unsupported", False):
        return {}
    hints = typing.get_type_hints(func)
    return {name: coercer_for(hint) for name, hint in hints.items() if name not in ("deps", "ctx", "return")}


def bind(operation: Operation, params: Mapping[str, Any]) -> dict[str, Any]:
    coercers = _coercers(operation)
    if not coercers:
        return {}
    return {name: coercers[name](value) for name, value in params.items() if name in coercers}
