"""Root-key rotation re-wraps an external key store's XKS proxy secret (bound to the store id and access key id),
on both stores, and the secret still opens under the new root key (docs/decisions/0016-external-key-stores.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.postgres import url_of
from trent import app
from trent.config import Settings
from trent.kms.ids import AccountId, Region
from trent.kms.keystores import CustomKeyStore, CustomKeyStoreType, XksConfig
from trent.kms.sensitive import Sensitive
from trent.ops import extstores
from trent.rootoftrust.base import WrappedMaterial

pytestmark = pytest.mark.integration
STORE_ID = "cks-0123456789abcdef0"
SECRET = "x" * 43


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else url_of(request.getfixturevalue("postgres_url"))


def test_rotation_re_wraps_the_proxy_secret(database: str | None, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database=database, workers=1)
    deps = app.open_deps(settings)
    try:
        wrapped = extstores.wrap_secret(deps, STORE_ID, "A" * 20, SECRET)
        config = XksConfig("https://proxy.example", "/kms/xks/v1", "A" * 20, wrapped)
        record = CustomKeyStore(
            STORE_ID, AccountId("111122223333"), Region("us-east-1"), "external",
            CustomKeyStoreType.EXTERNAL_KEY_STORE, deps.clock(), config,
        )  # fmt: skip
        with deps.store.transaction() as tx:
            tx.insert_custom_key_store(record)
    finally:
        deps.audit.close()
        deps.store.close()
        deps.root_of_trust.close()
    done = app.rotate_root_key(settings, grace=0)
    assert done.key_stores == 1 and done.failed == []
    deps = app.open_deps(settings, create=False)
    try:
        stored = deps.store.get_custom_key_store(STORE_ID)
        assert stored is not None and isinstance(stored.config, XksConfig)
        assert WrappedMaterial.from_bytes(stored.config.wrapped_secret).root_key_id == done.active
        assert extstores.target(deps, stored).secret == Sensitive(SECRET.encode())
    finally:
        deps.audit.close()
        deps.store.close()
        deps.root_of_trust.close()
