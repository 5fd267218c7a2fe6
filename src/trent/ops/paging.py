"""Opaque Marker strings for the List* operations: the last item's sort key, base64url with a prefix."""

from __future__ import annotations

import base64
import binascii

from trent.kms.errors import InvalidMarkerException

_PREFIX = "trent1:"


def marker(last: str | None) -> str | None:
    if last is None:
        return None
    return _PREFIX + base64.urlsafe_b64encode(last.encode()).decode()


def after(value: str | None) -> str | None:
    """The sort key a Marker stands for; InvalidMarkerException if this server did not issue it."""
    if value is None:
        return None
    if not value.startswith(_PREFIX):
        raise InvalidMarkerException("Invalid marker")
    try:
        return base64.urlsafe_b64decode(value[len(_PREFIX) :].encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidMarkerException("Invalid marker") from None
