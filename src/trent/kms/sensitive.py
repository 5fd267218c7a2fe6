"""Sensitive(bytes): plaintext and key material in transit between layers, kept out of repr and logs."""

from __future__ import annotations

import hmac


class Sensitive:
    """Bytes that must never be printed. `reveal()` is the only way to the value, so every use is greppable."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"<sensitive {len(self._value)} bytes>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        # Constant-time, so comparing secrets in tests or code can't become a timing oracle.
        return isinstance(other, Sensitive) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        raise TypeError("Sensitive values are not hashable")

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Sensitive values are not picklable")
