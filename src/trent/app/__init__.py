"""Composition root: Settings → store, root of trust, deps, the fronts and their routes, the server.

The only package that names concrete adapters (SQLite or PostgreSQL, the software root of trust):
storage.py (the store and the root of trust it was made with), trail.py (the audit trail's wiring),
exports.py (audit export), serving.py (`trent serve` and `trent admin`).
"""

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
