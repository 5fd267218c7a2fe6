"""A dev server's reset (docs/dev-mode.md): the store emptied, then the start-up state applied again.

The start-up state is whatever `seed_hook` makes: the composition root passes it (by default the serving
account and the admin key given in settings; with a seed file, what the file names too).
"""

from __future__ import annotations

from collections.abc import Callable

from trent.ops.deps import Deps

SeedHook = Callable[[Deps], None]


def reset(deps: Deps, seed_hook: SeedHook) -> None:
    """Forget every key, alias, grant, policy, account, user and access key; then seed_hook(deps). The audit
    trail stays: what happened before a reset is still on record."""
    with deps.store.transaction() as tx:
        tx.wipe()
    forget_cached(deps)
    seed_hook(deps)


def forget_cached(deps: Deps) -> None:
    """Drop this process's caches keyed by ids a reset may give to other things (material, policies, and the
    store's parsed records where it keeps any). Keys made again start from fresh revisions anyway
    (kms/keys.py first_revision); this drops the old records' memory too."""
    deps.keyring.clear()
    deps.policies.clear()
    drop = getattr(deps.store, "forget_cached", None)
    if callable(drop):
        drop()
