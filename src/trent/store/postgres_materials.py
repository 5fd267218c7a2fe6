"""The PostgreSQL store's key material versions and import parameters (trent/store/postgres_ops.py has the rest
of its statements; the schema's version 3 added the imported-material columns and import_parameters)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trent.kms.ids import KeyId
from trent.kms.keys import ImportParameters, MaterialVersion
from trent.kms.specs import ExpirationModel, WrappingAlgorithm, WrappingKeySpec
from trent.store.postgres_statements import PostgresStatements

_MATERIALS = (
    "SELECT key_id, version, created, rotation_type, description, expiration_model, valid_to, wrapped IS NOT NULL "
    "FROM key_material"
)
_IMPORT_COLUMNS = "key_id, token_digest, wrapping_algorithm, wrapping_key_spec, wrapped_private_key, created, valid_to"
_PUT_MATERIAL = (
    "INSERT INTO key_material (key_id, version, wrapped, created, rotation_type, description, expiration_model, "
    "valid_to) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
_REPLACING_MATERIAL = (
    " ON CONFLICT (key_id, version) DO UPDATE SET wrapped = excluded.wrapped, created = excluded.created, "
    "rotation_type = excluded.rotation_type, description = excluded.description, "
    "expiration_model = excluded.expiration_model, valid_to = excluded.valid_to"
)
_PUT_IMPORT = (
    f"INSERT INTO import_parameters ({_IMPORT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (key_id) DO UPDATE SET token_digest = excluded.token_digest, "
    "wrapping_algorithm = excluded.wrapping_algorithm, wrapping_key_spec = excluded.wrapping_key_spec, "
    "wrapped_private_key = excluded.wrapped_private_key, created = excluded.created, valid_to = excluded.valid_to"
)


def _material(row: Any) -> MaterialVersion:
    return MaterialVersion(
        key_id=KeyId(row[0]),
        version=row[1],
        created=row[2],
        rotation_type=row[3],
        description=row[4],
        expiration_model=None if row[5] is None else ExpirationModel(row[5]),
        valid_to=row[6],
        imported=bool(row[7]),
    )


def _import_parameters(row: Any) -> ImportParameters:
    return ImportParameters(
        key_id=KeyId(row[0]),
        token_digest=bytes(row[1]),
        wrapping_algorithm=WrappingAlgorithm(row[2]),
        wrapping_key_spec=WrappingKeySpec(row[3]),
        wrapped_private_key=bytes(row[4]),
        created=row[5],
        valid_to=row[6],
    )


def _material_values(material: MaterialVersion, wrapped_material: bytes | None) -> tuple[Any, ...]:
    if material.imported != (wrapped_material is not None):
        raise ValueError("a version is imported exactly when its bytes are there")
    model = material.expiration_model
    return (
        material.key_id,
        material.version,
        wrapped_material,
        material.created,
        material.rotation_type,
        material.description,
        None if model is None else model.value,
        material.valid_to,
    )


class PostgresMaterials(PostgresStatements):
    """Reads and writes of key_material and import_parameters; PostgresOps gives the statements' round trips."""

    def get_material(self, key_id: KeyId, version: int) -> bytes | None:
        row = self._one("SELECT wrapped FROM key_material WHERE key_id = %s AND version = %s", (key_id, version))
        return None if row is None or row[0] is None else bytes(row[0])

    def list_materials(self, key_id: KeyId) -> tuple[MaterialVersion, ...]:
        return tuple(map(_material, self._all(_MATERIALS + " WHERE key_id = %s ORDER BY version", (key_id,))))

    def materials_due_for_expiry(self, now: datetime) -> tuple[MaterialVersion, ...]:
        found = self._all(
            _MATERIALS + " WHERE valid_to IS NOT NULL AND valid_to <= %s AND wrapped IS NOT NULL "
            "ORDER BY key_id, version",
            (now,),
        )
        return tuple(map(_material, found))

    def get_import_parameters(self, key_id: KeyId) -> ImportParameters | None:
        row = self._one(f"SELECT {_IMPORT_COLUMNS} FROM import_parameters WHERE key_id = %s", (key_id,))
        return None if row is None else _import_parameters(row)

    def list_import_parameters(self) -> tuple[ImportParameters, ...]:
        return tuple(
            map(_import_parameters, self._all(f"SELECT {_IMPORT_COLUMNS} FROM import_parameters ORDER BY key_id"))
        )

    # -- writes (only called inside a transaction) ---------------------------------------------------------
    def add_material(self, material: MaterialVersion, wrapped_material: bytes) -> None:
        name = f"{material.key_id} version {material.version}"
        self._insert(_PUT_MATERIAL, _material_values(material, wrapped_material), name)

    def put_material(self, material: MaterialVersion, wrapped_material: bytes | None) -> None:
        self._write(_PUT_MATERIAL + _REPLACING_MATERIAL, _material_values(material, wrapped_material))

    def delete_material(self, key_id: KeyId, version: int) -> None:
        self._write("DELETE FROM key_material WHERE key_id = %s AND version = %s", (key_id, version))

    def put_import_parameters(self, parameters: ImportParameters) -> None:
        self._write(
            _PUT_IMPORT,
            (
                parameters.key_id,
                parameters.token_digest,
                parameters.wrapping_algorithm.value,
                parameters.wrapping_key_spec.value,
                parameters.wrapped_private_key,
                parameters.created,
                parameters.valid_to,
            ),
        )

    def delete_import_parameters(self, key_id: KeyId) -> None:
        self._write("DELETE FROM import_parameters WHERE key_id = %s", (key_id,))
