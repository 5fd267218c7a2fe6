"""The import operations and the expiry job with an injected clock, on a real SQLite store and software root of
trust: tokens past their 24 hours, material deleted at its ValidTo exactly once when several processes run the
job at the same moment, and material pending rotation never used nor cached before the key rotates to it."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.importing import wrap
from trent.audit.sqlite import SqliteAuditLog
from trent.kms.errors import ExpiredImportTokenException, KMSInvalidStateException
from trent.kms.ids import AccountId, Region
from trent.kms.principals import Principal
from trent.kms.sensitive import Sensitive
from trent.kms.specs import ExpirationModel, ImportType, KeyState, Origin, WrappingAlgorithm, WrappingKeySpec
from trent.ops import encryption, imports, keys, materials, rotation
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring, MissingMaterial
from trent.rootoftrust.software import SoftwareRoot
from trent.store.sqlite import SqliteStore

START = datetime(2026, 3, 1, tzinfo=UTC)
OAEP = WrappingAlgorithm.RSAES_OAEP_SHA_256
CTX = RequestContext(
    Principal(AccountId("111122223333"), "arn:aws:iam::111122223333:root", "AKIAEXAMPLE"), Region("us-east-1"), "r"
)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _deps(path: Path | str, root: SoftwareRoot, clock: Clock) -> Deps:
    audit = SqliteAuditLog(":memory:", os.urandom(32))
    return Deps(store=SqliteStore(path), root_of_trust=root, keyring=Keyring(root), audit=audit, clock=clock)


@pytest.fixture
def root() -> SoftwareRoot:
    return SoftwareRoot({"rk-1": os.urandom(32)}, "rk-1")


def _import(deps: Deps, key_id: str, material: bytes, **kw: object) -> str:
    params = imports.get_parameters_for_import(
        deps, CTX, key_id=key_id, wrapping_algorithm=OAEP, wrapping_key_spec=WrappingKeySpec.RSA_2048
    )
    kw.setdefault("expiration_model", ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE)
    done = imports.import_key_material(
        deps,
        CTX,
        key_id=key_id,
        import_token=params.import_token,
        encrypted_key_material=wrap(params.public_key, OAEP.value, material),
        **kw,  # type: ignore[arg-type]
    )
    return done.key_material_id


def test_a_token_works_for_24_hours(root: SoftwareRoot) -> None:
    clock = Clock()
    deps = _deps(":memory:", root, clock)
    key_id = keys.create_key(deps, CTX, origin=Origin.EXTERNAL).key_metadata.key_id
    params = imports.get_parameters_for_import(
        deps, CTX, key_id=key_id, wrapping_algorithm=OAEP, wrapping_key_spec=WrappingKeySpec.RSA_2048
    )
    assert params.parameters_valid_to == START + timedelta(hours=24)
    material = os.urandom(32)
    wrapped = wrap(params.public_key, OAEP.value, material)
    forever = ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE
    clock.now = START + timedelta(hours=24)
    token = params.import_token
    with pytest.raises(ExpiredImportTokenException):
        imports.import_key_material(
            deps, CTX, key_id=key_id, import_token=token, encrypted_key_material=wrapped, expiration_model=forever
        )
    clock.now = START + timedelta(hours=23, minutes=59)
    imports.import_key_material(
        deps, CTX, key_id=key_id, import_token=token, encrypted_key_material=wrapped, expiration_model=forever
    )
    assert keys.describe_key(deps, CTX, key_id=key_id).key_metadata.key_state is KeyState.ENABLED


def test_expired_material_is_deleted_once_whoever_runs_the_job(root: SoftwareRoot, tmp_path: Path) -> None:
    clock = Clock()
    processes = [_deps(tmp_path / "trent.db", root, clock) for _ in range(4)]  # four processes, one database
    deps = processes[0]
    due, kept = [], []
    for n in range(6):
        key_id = keys.create_key(deps, CTX, origin=Origin.EXTERNAL).key_metadata.key_id
        valid_to = START + timedelta(days=1 if n < 4 else 3)
        _import(deps, key_id, os.urandom(32), expiration_model=ExpirationModel.KEY_MATERIAL_EXPIRES, valid_to=valid_to)
        (due if n < 4 else kept).append(key_id)
    assert materials.delete_expired_material(deps) == 0
    clock.now = START + timedelta(days=1)
    counts: list[int] = []
    barrier = threading.Barrier(len(processes))

    def run(process: Deps) -> None:
        barrier.wait()
        counts.append(materials.delete_expired_material(process))

    threads = [threading.Thread(target=run, args=(p,)) for p in processes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == len(due)  # each material once, whichever process got it
    for key_id in due:
        key = deps.store.get_key(key_id)
        assert key is not None and key.state is KeyState.PENDING_IMPORT and key.valid_to is None
        assert [m.imported for m in deps.store.list_materials(key_id)] == [False]
    for key_id in kept:
        key = deps.store.get_key(key_id)
        assert key is not None and key.state is KeyState.ENABLED and key.valid_to == START + timedelta(days=3)
    outbox = deps.store.outbox(100)
    assert len(outbox) == len(due)  # one DeleteExpiredKeyMaterial record per deletion, committed with it
    assert materials.delete_expired_material(deps) == 0


def test_expiry_waits_for_a_reimport_with_a_later_date(root: SoftwareRoot) -> None:
    clock = Clock()
    deps = _deps(":memory:", root, clock)
    key_id = keys.create_key(deps, CTX, origin=Origin.EXTERNAL).key_metadata.key_id
    material = os.urandom(32)
    expires = ExpirationModel.KEY_MATERIAL_EXPIRES
    _import(deps, key_id, material, expiration_model=expires, valid_to=START + timedelta(days=1))
    _import(deps, key_id, material, expiration_model=expires, valid_to=START + timedelta(days=10))
    clock.now = START + timedelta(days=2)
    assert materials.delete_expired_material(deps) == 0
    clock.now = START + timedelta(days=10)
    assert materials.delete_expired_material(deps) == 1


def test_material_pending_rotation_is_never_used_nor_cached(root: SoftwareRoot) -> None:
    clock = Clock()
    deps = _deps(":memory:", root, clock)
    key_id = keys.create_key(deps, CTX, origin=Origin.EXTERNAL).key_metadata.key_id
    _import(deps, key_id, os.urandom(32))
    first_pending = _import(deps, key_id, os.urandom(32), import_type=ImportType.NEW_KEY_MATERIAL)
    key = deps.store.get_key(key_id)
    assert key is not None and key.current_version == 1 and deps.store.get_material(key_id, 2) is not None
    with pytest.raises(MissingMaterial):
        deps.keyring.load(deps.store, key, 2)
    imports.delete_imported_key_material(deps, CTX, key_id=key_id, key_material_id=first_pending)
    replacement = os.urandom(32)
    second_pending = _import(deps, key_id, replacement, import_type=ImportType.NEW_KEY_MATERIAL)
    assert second_pending != first_pending
    rotation.rotate_key_on_demand(deps, CTX, key_id=key_id)
    key = deps.store.get_key(key_id)
    assert key is not None and key.current_version == 2
    assert deps.keyring.load(deps.store, key).secret == replacement  # version 2 is the replacement, not the first
    blob = encryption.encrypt(deps, CTX, key_id=key_id, plaintext=Sensitive(b"x")).ciphertext_blob
    assert encryption.decrypt(deps, CTX, ciphertext_blob=blob).key_material_id == second_pending


def test_a_use_that_races_a_deletion_is_pending_import(root: SoftwareRoot) -> None:
    deps = _deps(":memory:", root, Clock())
    key_id = keys.create_key(deps, CTX, origin=Origin.EXTERNAL).key_metadata.key_id
    _import(deps, key_id, os.urandom(32))
    enabled = deps.store.get_key(key_id)  # the state a request read, before the deletion committed
    imports.delete_imported_key_material(deps, CTX, key_id=key_id)
    assert enabled is not None
    with pytest.raises(KMSInvalidStateException) as exc:
        Keyring(root).load(deps.store, enabled)  # a worker that never cached it
    assert exc.value.message.endswith("is pending import.")
