"""The round trips a PostgreSQL table mixin (postgres_keystores.py, postgres_materials.py, postgres_xks.py)
calls; PostgresOps (postgres_ops.py) gives them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class PostgresStatements:
    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        raise NotImplementedError

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _write(self, sql: str, args: Sequence[Any]) -> int:
        raise NotImplementedError

    def _insert(self, sql: str, args: Sequence[Any], name: str) -> None:
        raise NotImplementedError
