"""The in-memory store's key material versions and import parameters (memory_tables.py has the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from trent.kms.ids import KeyId
from trent.kms.keys import ImportParameters, MaterialVersion
from trent.store.base import DuplicateError, WrappedRow

if TYPE_CHECKING:
    from trent.store.memory_tables import Tables


class MaterialReads:
    def _view(self) -> Tables:
        raise NotImplementedError

    def get_material(self, key_id: KeyId, version: int) -> bytes | None:
        found = self._view().materials.get((key_id, version))
        return None if found is None else found[1]

    def list_materials(self, key_id: KeyId) -> tuple[MaterialVersion, ...]:
        materials = self._view().materials
        return tuple(materials[ref][0] for ref in sorted(materials) if ref[0] == key_id)

    def materials_due_for_expiry(self, now: datetime) -> tuple[MaterialVersion, ...]:
        materials = self._view().materials
        due = (materials[ref][0] for ref in sorted(materials))
        return tuple(m for m in due if m.imported and m.valid_to is not None and m.valid_to <= now)

    def get_import_parameters(self, key_id: KeyId) -> ImportParameters | None:
        return self._view().imports.get(key_id)

    def list_import_parameters(self) -> tuple[ImportParameters, ...]:
        imports = self._view().imports
        return tuple(imports[key_id] for key_id in sorted(imports))

    def list_wrapped_materials(self, after: tuple[KeyId, int] | None, limit: int) -> tuple[WrappedRow, ...]:
        materials = self._view().materials
        held = {ref: blob for ref, (_, blob) in materials.items() if blob is not None}  # deleted imports: nothing
        found = sorted(ref for ref in held if after is None or ref > after)[:limit]
        return tuple((k, v, held[(k, v)]) for k, v in found)


class MaterialWrites(MaterialReads):
    def _need_key(self, t: Tables, key_id: KeyId) -> None:
        raise NotImplementedError

    def add_material(self, material: MaterialVersion, wrapped_material: bytes) -> None:
        t = self._view()
        self._need_key(t, material.key_id)
        if (material.key_id, material.version) in t.materials:
            raise DuplicateError(f"{material.key_id} version {material.version}")
        self.put_material(material, wrapped_material)

    def put_material(self, material: MaterialVersion, wrapped_material: bytes | None) -> None:
        t = self._view()
        self._need_key(t, material.key_id)
        if material.imported != (wrapped_material is not None):
            raise ValueError("a version is imported exactly when its bytes are there")
        stored = None if wrapped_material is None else bytes(wrapped_material)
        t.materials[(material.key_id, material.version)] = (material, stored)
        t.changes += 1

    def delete_material(self, key_id: KeyId, version: int) -> None:
        t = self._view()
        if t.materials.pop((key_id, version), None) is not None:
            t.changes += 1

    def put_import_parameters(self, parameters: ImportParameters) -> None:
        t = self._view()
        self._need_key(t, parameters.key_id)
        t.imports[parameters.key_id] = parameters
        t.changes += 1

    def delete_import_parameters(self, key_id: KeyId) -> None:
        t = self._view()
        if t.imports.pop(key_id, None) is not None:
            t.changes += 1

    def rewrap_material(self, key_id: KeyId, version: int, old: bytes, new: bytes) -> bool:
        t = self._view()
        found = t.materials.get((key_id, version))
        if found is None or found[1] != old:
            return False
        t.materials[(key_id, version)] = (found[0], bytes(new))
        t.changes += 1
        return True
