"""The SQLite store's key material versions and import parameters (trent/store/sqlite_schema.py has the
schema: key_material since version 1, its imported-material columns and import_parameters since version 6)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from trent.kms.ids import KeyId
from trent.kms.keys import ImportParameters, MaterialVersion
from trent.kms.specs import ExpirationModel, WrappingAlgorithm, WrappingKeySpec
from trent.store.base import DuplicateError

_MATERIAL_COLUMNS = (
    "key_id, version, created, rotation_type, description, expiration_model, valid_to, wrapped IS NOT NULL"
)
_IMPORT_COLUMNS = "key_id, token_digest, wrapping_algorithm, wrapping_key_spec, wrapped_private_key, created, valid_to"


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _material(row: Any) -> MaterialVersion:
    return MaterialVersion(
        key_id=KeyId(row[0]),
        version=row[1],
        created=datetime.fromtimestamp(row[2], UTC),
        rotation_type=row[3],
        description=row[4],
        expiration_model=None if row[5] is None else ExpirationModel(row[5]),
        valid_to=_dt(row[6]),
        imported=bool(row[7]),
    )


def _import_parameters(row: Any) -> ImportParameters:
    return ImportParameters(
        key_id=KeyId(row[0]),
        token_digest=bytes(row[1]),
        wrapping_algorithm=WrappingAlgorithm(row[2]),
        wrapping_key_spec=WrappingKeySpec(row[3]),
        wrapped_private_key=bytes(row[4]),
        created=datetime.fromtimestamp(row[5], UTC),
        valid_to=datetime.fromtimestamp(row[6], UTC),
    )


class SqliteMaterials:
    """Reads and writes of key_material and import_parameters, over the store's one connection."""

    _c: sqlite3.Connection

    def get_material(self, key_id: KeyId, version: int) -> bytes | None:
        row = self._c.execute(
            "SELECT wrapped FROM key_material WHERE key_id = ? AND version = ?", (key_id, version)
        ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def list_materials(self, key_id: KeyId) -> tuple[MaterialVersion, ...]:
        rows = self._c.execute(
            f"SELECT {_MATERIAL_COLUMNS} FROM key_material WHERE key_id = ? ORDER BY version", (key_id,)
        )
        return tuple(_material(r) for r in rows)

    def materials_due_for_expiry(self, now: datetime) -> tuple[MaterialVersion, ...]:
        rows = self._c.execute(
            f"SELECT {_MATERIAL_COLUMNS} FROM key_material "
            "WHERE valid_to IS NOT NULL AND valid_to <= ? AND wrapped IS NOT NULL ORDER BY key_id, version",
            (now.timestamp(),),
        )
        return tuple(_material(r) for r in rows)

    def get_import_parameters(self, key_id: KeyId) -> ImportParameters | None:
        row = self._c.execute(f"SELECT {_IMPORT_COLUMNS} FROM import_parameters WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else _import_parameters(row)

    def list_import_parameters(self) -> tuple[ImportParameters, ...]:
        rows = self._c.execute(f"SELECT {_IMPORT_COLUMNS} FROM import_parameters ORDER BY key_id")
        return tuple(map(_import_parameters, rows))

    # -- writes (only called inside a transaction) -----------------------------------------------------------
    def add_material(self, material: MaterialVersion, wrapped_material: bytes) -> None:
        try:
            self._write_material("INSERT", material, wrapped_material)
        except sqlite3.IntegrityError as exc:
            raise DuplicateError(f"{material.key_id} version {material.version}") from exc

    def put_material(self, material: MaterialVersion, wrapped_material: bytes | None) -> None:
        self._write_material("INSERT OR REPLACE", material, wrapped_material)

    def _write_material(self, verb: str, material: MaterialVersion, wrapped_material: bytes | None) -> None:
        if material.imported != (wrapped_material is not None):
            raise ValueError("a version is imported exactly when its bytes are there")
        self._c.execute(
            f"{verb} INTO key_material (key_id, version, wrapped, created, rotation_type, description, "
            "expiration_model, valid_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                material.key_id,
                material.version,
                wrapped_material,
                material.created.timestamp(),
                material.rotation_type,
                material.description,
                None if material.expiration_model is None else material.expiration_model.value,
                _ts(material.valid_to),
            ),
        )

    def delete_material(self, key_id: KeyId, version: int) -> None:
        self._c.execute("DELETE FROM key_material WHERE key_id = ? AND version = ?", (key_id, version))

    def put_import_parameters(self, parameters: ImportParameters) -> None:
        self._c.execute(
            f"INSERT OR REPLACE INTO import_parameters ({_IMPORT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                parameters.key_id,
                parameters.token_digest,
                parameters.wrapping_algorithm.value,
                parameters.wrapping_key_spec.value,
                parameters.wrapped_private_key,
                parameters.created.timestamp(),
                parameters.valid_to.timestamp(),
            ),
        )

    def delete_import_parameters(self, key_id: KeyId) -> None:
        self._c.execute("DELETE FROM import_parameters WHERE key_id = ?", (key_id,))
