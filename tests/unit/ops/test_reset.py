"""A dev server's reset in-process (ops/reset.py): the store emptied, the seed hook run on it, and no cache of
the process keeps what the ids named before (a seed may give a key id other material than it had)."""

from __future__ import annotations

import os

from tests.contract.records import ACCOUNT, NOW, key
from trent.kms.keys import Account
from trent.ops.deps import Deps
from trent.ops.keyring import Keyring
from trent.ops.reset import reset
from trent.rootoftrust.software import SoftwareRoot
from trent.store.memory import MemoryStore


def _deps() -> Deps:
    root = SoftwareRoot({"rk-test": os.urandom(32)}, "rk-test")
    return Deps(store=MemoryStore(), root_of_trust=root, keyring=Keyring(root), audit=None, clock=lambda: NOW)  # type: ignore[arg-type]


def _store_key(deps: Deps, material: bytes) -> None:
    k = key(1)
    with deps.store.transaction() as tx:
        tx.insert_key(k, deps.keyring.wrap(k.key_id, k.current_version, material), "{}", [])


def test_reset_empties_the_store_then_runs_the_seed_hook() -> None:
    deps = _deps()
    _store_key(deps, b"a" * 32)
    seen: list[bool] = []

    def seed(d: Deps) -> None:
        seen.append(d.store.is_empty())
        with d.store.transaction() as tx:
            tx.put_account(Account(ACCOUNT, NOW))

    reset(deps, seed)
    assert seen == [True]
    assert deps.store.get_key(key(1).key_id) is None and deps.store.get_account(ACCOUNT) is not None


def test_after_a_reset_a_key_id_given_other_material_loads_the_new_material() -> None:
    deps = _deps()
    _store_key(deps, b"a" * 32)
    assert deps.keyring.load(deps.store, key(1)).secret == b"a" * 32  # cached now
    reset(deps, lambda d: _store_key(d, b"b" * 32))
    assert deps.keyring.load(deps.store, key(1)).secret == b"b" * 32
