"""Model-driven request decoding and validation, compiled once per operation.

Wrong JSON types are SerializationException (the request cannot be read); constraint violations (required,
length, range, enum, pattern) are collected and reported together, in AWS's Coral form:
"N validation error(s) detected: Value '<v>' at '<path>' failed to satisfy constraint: <constraint>; ...".
Values of sensitive members and blobs are never printed (AWS prints "Value at 'plaintext' ...").

Members are decoded before their container's constraints are checked, as Coral deserializes the whole
request before it validates it: a wrong type anywhere is a SerializationException, and what a violation
prints has the model's shape. What a message holds is bounded (docs/decisions/0007-hostile-input.md): a
value is printed to MAX_VALUE_CHARS characters and MAX_DEPTH levels, at most MAX_LISTED violations are
listed (the count is the true one), and KmsError caps the whole message.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from trent.kms.errors import SerializationException, ValidationException
from trent.protocol.awsjson.model import Shape, input_shape, lower_camel, snake

MAX_VALUE_CHARS = 1024  # of a value printed in a violation; a longer one is cut and ends "..."
MAX_DEPTH = 8  # levels of a value printed; deeper ones print as "..."
MAX_LISTED = 10  # violations listed in one message


class Errors:
    """The violations found: all are counted, the first MAX_LISTED are kept."""

    __slots__ = ("count", "listed")

    def __init__(self) -> None:
        self.count = 0
        self.listed: list[str] = []

    def append(self, violation: str) -> None:
        self.count += 1
        if self.count <= MAX_LISTED:
            self.listed.append(violation)

    def extend(self, other: Errors) -> None:
        if not other.count:
            return
        self.count += other.count
        self.listed.extend(other.listed[: max(0, MAX_LISTED - len(self.listed))])


Decoder = Callable[[Any, str, Errors], Any]
_MISSING = object()


def _render(value: Any, depth: int = 0) -> str:
    """Java's toString of a value, as Coral prints it inside quotes (depth-bounded)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_DEPTH:
        return "..."
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render(v, depth + 1) for v in value[:MAX_VALUE_CHARS]) + "]"
    if isinstance(value, dict):
        items = list(value.items())[:MAX_VALUE_CHARS]
        return "{" + ", ".join(f"{k}={_render(v, depth + 1)}" for k, v in items) + "}"
    return str(value)


def shown(text: str) -> str:
    """`text` as a message may hold it: at most MAX_VALUE_CHARS characters, marked "..." when cut."""
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def _violation(value: Any, path: str, constraint: str, hidden: bool) -> str:
    printed = "Value" if hidden else f"Value '{shown(_render(value))}'"
    return f"{printed} at '{shown(path)}' failed to satisfy constraint: {constraint}"


def _java_length(value: str) -> int:
    """String length as Java counts it (UTF-16 code units), which is what the model's min/max mean."""
    return len(value) if value.isascii() else len(value.encode("utf-16-le")) // 2


# Patterns Trent widens (docs/decisions/0016-external-key-stores.md): an XKS proxy endpoint may name a port, and
# may be plain http:// to a loopback address (Trent against Trent in tests); ops/extstores.py checks the rest.
WIDENED_PATTERNS = {
    "XksProxyUriEndpointType": r"^https://[a-zA-Z0-9.-]+(:[0-9]{1,5})?$|^http://(127\.0\.0\.1|localhost)(:[0-9]{1,5})?$",
}


def _constraints(shape: Shape) -> Callable[[Any, int, str, Errors, bool], None]:
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    word = "value" if shape.type_name in ("integer", "long") else "length"
    pattern_text = WIDENED_PATTERNS.get(shape.name, meta.get("pattern"))
    pattern = re.compile(pattern_text) if pattern_text is not None else None
    enum = tuple(meta.get("enum", ()))

    def check(value: Any, size: int, path: str, errors: Errors, hidden: bool) -> None:
        if low is not None and size < low:
            errors.append(_violation(value, path, f"Member must have {word} greater than or equal to {low}", hidden))
        if high is not None and size > high:
            errors.append(_violation(value, path, f"Member must have {word} less than or equal to {high}", hidden))
        if pattern is not None and pattern.fullmatch(value) is None:
            errors.append(
                _violation(value, path, f"Member must satisfy regular expression pattern: {pattern.pattern}", hidden)
            )
        if enum and value not in enum:
            errors.append(_violation(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]", hidden))

    return check


def _wrong_type(expected: str, value: Any) -> SerializationException:
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected.")
    if isinstance(value, list):
        return SerializationException("Start of list found where not expected")
    return SerializationException(f"{type(value).__name__.upper()}_VALUE can not be converted to {expected}")


def _string(shape: Shape, hidden: bool) -> Decoder:
    check = _constraints(shape)

    def decode(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, str):
            raise _wrong_type("a String", value)
        check(value, _java_length(value), path, errors, hidden)
        return value

    return decode


def _blob(shape: Shape, hidden: bool) -> Decoder:
    check = _constraints(shape)

    def decode(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, str):
            raise _wrong_type("a Blob", value)
        try:
            data = binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            raise SerializationException(f"Value at '{path}' is not valid base64.") from None
        check(data, len(data), path, errors, True)
        return data

    return decode


def _integer(shape: Shape, hidden: bool) -> Decoder:
    check = _constraints(shape)

    def decode(value: Any, path: str, errors: Errors) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise _wrong_type("an Integer", value)
        check(int(value), int(value), path, errors, hidden)
        return int(value)

    return decode


def _boolean(shape: Shape, hidden: bool) -> Decoder:
    def decode(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, bool):
            raise _wrong_type("a Boolean", value)
        return value

    return decode


def _timestamp(shape: Shape, hidden: bool) -> Decoder:
    def decode(value: Any, path: str, errors: Errors) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong_type("a Timestamp", value)
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise SerializationException(f"Value at '{path}' is not a valid timestamp.") from None

    return decode


def _list(shape: Shape, hidden: bool) -> Decoder:
    check = _constraints(shape)
    member = decoder_for(shape.member)
    enum = tuple(shape.member.metadata.get("enum", ()))

    def decode(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, list):
            raise _wrong_type("a List", value)
        inner = Errors()
        decoded = tuple(member(v, f"{path}.{i}.member", inner) for i, v in enumerate(value, 1))
        check(value, len(value), path, errors, hidden)
        if enum and any(v not in enum for v in value):
            # One violation for the list, whose members' own are not repeated.
            errors.append(
                _violation(
                    value,
                    path,
                    f"Member must satisfy constraint: [Member must satisfy enum value set: [{', '.join(enum)}]]",
                    hidden,
                )
            )
        else:
            errors.extend(inner)
        return decoded

    return decode


def _map(shape: Shape, hidden: bool) -> Decoder:
    check = _constraints(shape)
    key, val = decoder_for(shape.key), decoder_for(shape.value)

    def decode(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, dict):
            raise _wrong_type("a Map", value)
        inner = Errors()
        decoded = {key(k, path, inner): val(v, f"{path}.{k}", inner) for k, v in value.items()}
        check(value, len(value), path, errors, hidden)
        errors.extend(inner)
        return decoded

    return decode


def _structure(shape: Shape, hidden: bool) -> Decoder:
    members = [(name, snake(name), lower_camel(name), decoder_for(m)) for name, m in shape.members.items()]
    required = frozenset(shape.required_members)

    def decode(value: Any, path: str, errors: Errors) -> Any:
        if not isinstance(value, dict):
            raise _wrong_type("a Structure", value)
        out: dict[str, Any] = {}
        prefix = f"{path}." if path else ""
        for name, attr, camel, member in members:
            item = value.get(name, _MISSING)
            if item is _MISSING or item is None:
                if name in required:
                    errors.append(
                        f"Value null at '{prefix}{camel}' failed to satisfy constraint: Member must not be null"
                    )
                continue
            out[attr] = member(item, prefix + camel, errors)
        return out

    return decode


_DECODERS: dict[str, Callable[[Shape, bool], Decoder]] = {
    "string": _string,
    "blob": _blob,
    "integer": _integer,
    "long": _integer,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "list": _list,
    "map": _map,
    "structure": _structure,
}


def decoder_for(shape: Shape) -> Decoder:
    return _DECODERS[shape.type_name](shape, bool(shape.metadata.get("sensitive")))


@cache
def request_decoder(operation: str) -> Decoder:
    shape = input_shape(operation)
    return decoder_for(shape) if shape is not None else (lambda value, path, errors: {})


def decode_request(operation: str, document: Any) -> dict[str, Any]:
    """JSON document → snake_case parameters with blobs decoded; raises Serialization/ValidationException."""
    if not isinstance(document, dict):
        raise _wrong_type("a Structure", document)
    errors = Errors()
    params: dict[str, Any] = request_decoder(operation)(document, "", errors)
    if errors.count:
        count = errors.count
        raise ValidationException(
            f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors.listed)
        )
    return params
