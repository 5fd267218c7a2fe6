"""Result dataclasses → AWS JSON 1.1 response bodies, driven by the operation's output shape.

Members are found by name (snake_case of the model's member), blobs become base64, timestamps epoch
seconds, enums their string value; None is left out. Encoders are compiled once per operation.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

import orjson

from trent.kms.sensitive import Sensitive
from trent.protocol.awsjson.model import Shape, output_shape, snake

Encoder = Callable[[Any], Any]


def _blob(value: Any) -> str:
    raw = value.reveal() if isinstance(value, Sensitive) else value
    return base64.b64encode(raw).decode("ascii")


def _timestamp(value: datetime) -> float:
    return round(value.timestamp(), 3)


def _list(shape: Shape) -> Encoder | None:
    member = encoder_for(shape.member)
    if member is None:
        return None
    return lambda value: [member(v) for v in value]


def _map(shape: Shape) -> Encoder | None:
    val = encoder_for(shape.value)
    if val is None:
        return None
    return lambda value: {str(k): val(v) for k, v in value.items()}


def _structure(shape: Shape) -> Encoder:
    members = [(name, snake(name), encoder_for(m)) for name, m in shape.members.items()]

    def encode(value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        get = value.get if type(value) is dict else value.__getattribute__
        for name, attr, enc in members:
            try:
                item = get(attr)
            except AttributeError:
                continue
            if item is not None:
                out[name] = item if enc is None else enc(item)
        return out

    return encode


def encoder_for(shape: Shape) -> Encoder | None:
    """The conversion a member needs, or None when orjson writes the value as it is (strings, numbers,
    booleans, and StrEnum members, which orjson writes as their string values)."""
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape)
    if kind == "list":
        return _list(shape)
    if kind == "map":
        return _map(shape)
    if kind == "blob":
        return _blob
    if kind == "timestamp":
        return _timestamp
    return None


@cache
def response_encoder(operation: str) -> Encoder:
    shape = output_shape(operation)
    encoder = encoder_for(shape) if shape is not None else None
    return encoder if encoder is not None else (lambda value: {})


def encode_response(operation: str, result: Any) -> bytes:
    return orjson.dumps(response_encoder(operation)(result))
