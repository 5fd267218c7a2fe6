"""Composition root: Settings → store, root of trust, deps, the fronts and their routes, the server.

The only package that names concrete adapters (SQLite or PostgreSQL, the software root of trust):
storage.py (the store and the root of trust it was made with), trail.py (the audit trail's wiring),
exports.py (audit export), serving.py (`trent serve` and `trent admin`).

What this package offers is loaded on first use (PEP 562): `trent serve` imports serving.py and what it needs,
never the export, root key or audit query modules (the start time of a dev server: benchmarks/results/dev_start.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trent.app.devmode import WARNING as DEV_WARNING
    from trent.app.devmode import announcement as dev_announcement
    from trent.app.devmode import request_reset
    from trent.app.devmode import throwaway as dev_throwaway
    from trent.app.exports import export_audit, verify_exported
    from trent.app.rootkeys import Rewrapped, migrate_root, rotate_root_key, seal_root_key
    from trent.app.roots import check_root, open_root, root_name
    from trent.app.serving import (
        AdminKey,
        administration,
        build_service,
        ensure_admin_key,
        open_deps,
        quota_rates,
        run_jobs,
        serve,
        serving_account,
        site_for,
    )
    from trent.app.storage import (
        OPERATOR_ERRORS,
        ROOT_CHECK_BLOB,
        SetupError,
        database_name,
        migrate_store,
        open_store,
        operator_errors,
    )
    from trent.app.trail import (
        CHAIN_BLOB,
        CHECKPOINT_BLOB,
        AuditChainError,
        StoreKeyUses,
        StoreOutbox,
        open_archive,
        open_chain,
        query_audit,
        run_audit_writer,
        verify_audit,
    )

# What each name is, where: imported on first use by __getattr__ below (the imports above are for type checkers).
_LAZY: dict[str, tuple[str, str]] = {
    "administration": ("trent.app.serving", "administration"),
    "AdminKey": ("trent.app.serving", "AdminKey"),
    "AuditChainError": ("trent.app.trail", "AuditChainError"),
    "build_service": ("trent.app.serving", "build_service"),
    "CHAIN_BLOB": ("trent.app.trail", "CHAIN_BLOB"),
    "check_root": ("trent.app.roots", "check_root"),
    "CHECKPOINT_BLOB": ("trent.app.trail", "CHECKPOINT_BLOB"),
    "database_name": ("trent.app.storage", "database_name"),
    "dev_announcement": ("trent.app.devmode", "announcement"),
    "dev_throwaway": ("trent.app.devmode", "throwaway"),
    "DEV_WARNING": ("trent.app.devmode", "WARNING"),
    "ensure_admin_key": ("trent.app.serving", "ensure_admin_key"),
    "export_audit": ("trent.app.exports", "export_audit"),
    "migrate_root": ("trent.app.rootkeys", "migrate_root"),
    "migrate_store": ("trent.app.storage", "migrate_store"),
    "open_archive": ("trent.app.trail", "open_archive"),
    "open_chain": ("trent.app.trail", "open_chain"),
    "open_deps": ("trent.app.serving", "open_deps"),
    "open_root": ("trent.app.roots", "open_root"),
    "open_store": ("trent.app.storage", "open_store"),
    "OPERATOR_ERRORS": ("trent.app.storage", "OPERATOR_ERRORS"),
    "operator_errors": ("trent.app.storage", "operator_errors"),
    "query_audit": ("trent.app.trail", "query_audit"),
    "quota_rates": ("trent.app.serving", "quota_rates"),
    "request_reset": ("trent.app.devmode", "request_reset"),
    "Rewrapped": ("trent.app.rootkeys", "Rewrapped"),
    "ROOT_CHECK_BLOB": ("trent.app.storage", "ROOT_CHECK_BLOB"),
    "root_name": ("trent.app.roots", "root_name"),
    "rotate_root_key": ("trent.app.rootkeys", "rotate_root_key"),
    "run_audit_writer": ("trent.app.trail", "run_audit_writer"),
    "run_jobs": ("trent.app.serving", "run_jobs"),
    "seal_root_key": ("trent.app.rootkeys", "seal_root_key"),
    "serve": ("trent.app.serving", "serve"),
    "serving_account": ("trent.app.serving", "serving_account"),
    "SetupError": ("trent.app.storage", "SetupError"),
    "site_for": ("trent.app.serving", "site_for"),
    "StoreKeyUses": ("trent.app.trail", "StoreKeyUses"),
    "StoreOutbox": ("trent.app.trail", "StoreOutbox"),
    "verify_audit": ("trent.app.trail", "verify_audit"),
    "verify_exported": ("trent.app.exports", "verify_exported"),
}
__all__ = [
    "CHAIN_BLOB",
    "CHECKPOINT_BLOB",
    "DEV_WARNING",
    "OPERATOR_ERRORS",
    "Rewrapped",
    "ROOT_CHECK_BLOB",
    "AdminKey",
    "AuditChainError",
    "SetupError",
    "StoreKeyUses",
    "StoreOutbox",
    "administration",
    "build_service",
    "check_root",
    "database_name",
    "dev_announcement",
    "dev_throwaway",
    "ensure_admin_key",
    "export_audit",
    "migrate_root",
    "migrate_store",
    "open_archive",
    "open_chain",
    "open_deps",
    "open_root",
    "open_store",
    "operator_errors",
    "query_audit",
    "quota_rates",
    "request_reset",
    "root_name",
    "rotate_root_key",
    "seal_root_key",
    "run_audit_writer",
    "run_jobs",
    "serve",
    "serving_account",
    "site_for",
    "verify_audit",
    "verify_exported",
]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # once: the next use is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
