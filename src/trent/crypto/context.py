"""Encryption context → AAD bytes, in the AWS Encryption SDK's unambiguous form.

Spec: AWS Encryption SDK message format, "Encryption context" serialization: a 2-byte count, then each
pair sorted by key bytes, each key and value length-prefixed with 2 bytes (big-endian). An empty context
serializes to no bytes. Never concatenate pairs without lengths: {"ab": "c"} and {"a": "bc"} must differ.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_MAX = 0xFFFF


def to_aad(context: Mapping[str, str]) -> bytes:
    if not context:
        return b""
    pairs = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    if len(pairs) > _MAX:
        raise ValueError("encryption context has too many pairs")
    out = [struct.pack(">H", len(pairs))]
    for key, value in pairs:
        if len(key) > _MAX or len(value) > _MAX:
            raise ValueError("encryption context key or value is too long")
        out.append(struct.pack(">H", len(key)) + key + struct.pack(">H", len(value)) + value)
    return b"".join(out)
