"""Root-key rotation and migration in process, on both stores (SQLite, PostgreSQL): every wrapped blob ends
under the active root key, read back through the store port, and the data opens with it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.postgres import url_of
from tests.softhsm import Token
from trent import app
from trent.config import Settings
from trent.kms.ids import AccountId, Region
from trent.kms.principals import Principal, root_arn
from trent.kms.sensitive import Sensitive
from trent.kms.specs import ExpirationModel, Origin, WrappingAlgorithm, WrappingKeySpec
from trent.ops import imports, keys, principals
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.rootoftrust.base import WrappedMaterial, audit_key_aad
from trent.store.base import Store

pytestmark = pytest.mark.integration
ACCOUNT = AccountId("111122223333")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else url_of(request.getfixturevalue("postgres_url"))


def _named(store: Store) -> set[str]:
    """The root key ids every wrapped blob of the store names."""
    named = set()
    after = None
    while page := store.list_wrapped_materials(after, 2):
        after = page[-1][:2]
        named |= {WrappedMaterial.from_bytes(w).root_key_id for _, _, w in page}
    named |= {WrappedMaterial.from_bytes(a.wrapped_secret).root_key_id for a in store.list_access_keys(None)}
    check = store.get_blob(app.ROOT_CHECK_BLOB)
    assert check is not None
    named.add(WrappedMaterial.from_bytes(check).root_key_id)
    return named


@pytest.fixture
def populated(database: str | None, tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(data_dir=tmp_path / "data", database=database, workers=1)
    deps = app.open_deps(settings)
    try:
        for n in range(5):
            principals.create_access_key(deps, ACCOUNT, root_arn(ACCOUNT), f"AKIAROTATION{n:08d}", Sensitive(b"s" * 40))
        _keys(deps, 7)
    finally:
        _close(deps)
    yield settings


def _keys(deps: Deps, count: int) -> None:
    ctx = RequestContext(Principal(ACCOUNT, root_arn(ACCOUNT), "AKIAROTATION00000000"), Region("us-east-1"), "r")
    for _ in range(count):
        keys.create_key(deps, ctx)


def _import_set(settings: Settings) -> tuple[str, bytes, rsa.RSAPublicKey]:
    """An EXTERNAL key with a GetParametersForImport set (its wrapping private key wrapped by the root)."""
    deps = app.open_deps(settings, create=False)
    try:
        ctx = RequestContext(Principal(ACCOUNT, root_arn(ACCOUNT), "AKIAROTATION00000000"), Region("us-east-1"), "r")
        key_id = keys.create_key(deps, ctx, origin=Origin.EXTERNAL).key_metadata.key_id
        found = imports.get_parameters_for_import(
            deps,
            ctx,
            key_id=key_id,
            wrapping_algorithm=WrappingAlgorithm.RSAES_OAEP_SHA_256,
            wrapping_key_spec=WrappingKeySpec.RSA_2048,
        )
        public = serialization.load_der_public_key(found.public_key)
        assert isinstance(public, rsa.RSAPublicKey)
        return key_id, found.import_token, public
    finally:
        _close(deps)


def _close(deps: Deps) -> None:
    deps.audit.close()
    deps.store.close()
    deps.root_of_trust.close()


def test_rotation_re_wraps_everything_on_either_store(populated: Settings) -> None:
    first = app.rotate_root_key(populated, resume=True, grace=0)
    assert first.changed == 0 and first.current == 7 + 5 + 1  # materials, secrets, the audit chain's key
    done = app.rotate_root_key(populated, grace=0)
    assert (done.materials, done.secrets, done.blobs, done.failed) == (7, 5, 2, [])
    store = app.open_store(populated)
    try:
        assert _named(store) == {done.active}
    finally:
        store.close()
    deps = app.open_deps(populated, create=False)
    try:
        for record in deps.store.list_access_keys(None):
            assert principals.secret_of(deps, record) == Sensitive(b"s" * 40)
    finally:
        _close(deps)


def test_migration_into_a_token_on_either_store(populated: Settings, token_in_process: Token) -> None:
    target = Settings(
        data_dir=populated.data_dir,
        database=populated.database,
        workers=1,
        pkcs11_module=Path(token_in_process.module),
        pkcs11_token_label=token_in_process.label,
        pkcs11_pin_file=token_in_process.pin_file,
    )
    key_id, token, wrapping_key = _import_set(populated)
    done = app.migrate_root(target, grace=0)
    assert (done.materials, done.secrets, done.imports, done.blobs, done.failed) == (7, 5, 1, 2, [])
    assert done.active.startswith("p11-rk-0001-")
    (populated.data_dir / "root.key").unlink()
    deps = app.open_deps(replace(target, root_of_trust="pkcs11"), create=False)
    try:
        assert _named(deps.store) == {done.active}
        for record in deps.store.list_access_keys(None):
            assert principals.secret_of(deps, record) == Sensitive(b"s" * 40)
        # The import set made under the software root still opens: the material it wraps goes in.
        sha256 = hashes.SHA256()
        encrypted = wrapping_key.encrypt(b"k" * 32, padding.OAEP(padding.MGF1(sha256), sha256, None))
        ctx = RequestContext(Principal(ACCOUNT, root_arn(ACCOUNT), "AKIAROTATION00000000"), Region("us-east-1"), "r")
        imports.import_key_material(
            deps,
            ctx,
            key_id=key_id,
            import_token=token,
            encrypted_key_material=encrypted,
            expiration_model=ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE,
        )
    finally:
        _close(deps)


def test_the_audit_key_an_audit_database_of_before_0008_keeps_is_re_wrapped_too(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", workers=1)
    _close(app.open_deps(settings))
    store = app.open_store(settings)
    identity = store.get_blob(app.CHAIN_BLOB)
    store.close()
    assert identity is not None
    legacy = identity[len(b"TAI1") + 16 :]  # such a database kept the same wrapped key the identity now holds
    with sqlite3.connect(settings.audit_database_path) as conn:
        conn.execute("INSERT INTO meta (name, value) VALUES ('audit_key', ?)", (legacy,))
    done = app.rotate_root_key(settings, grace=0)
    with sqlite3.connect(settings.audit_database_path) as conn:
        (kept,) = conn.execute("SELECT value FROM meta WHERE name = 'audit_key'").fetchone()
    assert done.blobs == 3 and WrappedMaterial.from_bytes(kept).root_key_id == done.active
    root = app.open_root(settings)
    try:
        aad = audit_key_aad()
        assert root.unwrap(WrappedMaterial.from_bytes(kept), aad) == root.unwrap(
            WrappedMaterial.from_bytes(legacy), aad
        )
    finally:
        root.close()
