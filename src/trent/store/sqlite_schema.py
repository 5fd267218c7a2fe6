"""The SQLite store's schema: one script per version, applied in order (PRAGMA user_version counts them).

A new version is appended, never edited in place: a database migrated by an older Trent runs only the rest.
"""

from __future__ import annotations

from trent.store import sqlite_keystores, sqlite_xks

SCHEMA: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE keys (
        key_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        spec TEXT NOT NULL,
        usage TEXT NOT NULL,
        origin TEXT NOT NULL,
        state TEXT NOT NULL,
        creation_date REAL NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        deletion_date REAL,
        pending_window_days INTEGER,
        current_version INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        policy_revision INTEGER NOT NULL,
        multi_region INTEGER NOT NULL DEFAULT 0,
        valid_to REAL,
        expiration_model TEXT,
        rotation_period_days INTEGER,
        next_rotation_date REAL,
        on_demand_rotation_start REAL
    );
    CREATE INDEX keys_by_scope ON keys (account, region, key_id);
    CREATE INDEX keys_by_deletion ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
    CREATE TABLE key_material (
        key_id TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        wrapped BLOB NOT NULL,
        created REAL NOT NULL,
        rotation_type TEXT,
        PRIMARY KEY (key_id, version)
    );
    CREATE TABLE key_policies (
        key_id TEXT PRIMARY KEY REFERENCES keys (key_id) ON DELETE CASCADE,
        policy TEXT NOT NULL
    );
    CREATE TABLE tags (
        key_id TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        tag_key TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (key_id, tag_key)
    );
    CREATE TABLE aliases (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        key_id TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        creation_date REAL NOT NULL,
        last_updated_date REAL NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE INDEX aliases_by_key ON aliases (key_id);
    CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        principal_arn TEXT NOT NULL,
        wrapped_secret BLOB NOT NULL,
        created REAL NOT NULL,
        active INTEGER NOT NULL DEFAULT 1
    );
    """,
    # version 2: principals and grants
    """
    CREATE TABLE accounts (
        account TEXT PRIMARY KEY,
        created REAL NOT NULL
    );
    INSERT INTO accounts (account, created) SELECT DISTINCT account, min(created) FROM access_keys GROUP BY account;
    CREATE TABLE users (
        arn TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        name TEXT NOT NULL,
        created REAL NOT NULL,
        policy TEXT,
        policy_revision INTEGER NOT NULL DEFAULT 0,
        UNIQUE (account, name)
    );
    CREATE TABLE grants (
        grant_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        grantee TEXT NOT NULL,
        operations TEXT NOT NULL,
        issuing_account TEXT NOT NULL,
        created REAL NOT NULL,
        name TEXT,
        retiring TEXT,
        constraints TEXT
    );
    CREATE INDEX grants_by_key ON grants (key_id, grant_id);
    CREATE INDEX grants_by_retiring ON grants (retiring, grant_id);
    """,
    # version 3: the audit outbox, each change's audit record committed with it (decision 0009). The row is
    # opaque here: the audit writer's encoding of the record, which it appends to the chain, then deletes.
    """
    CREATE TABLE audit_outbox (
        event_id TEXT PRIMARY KEY,
        row BLOB NOT NULL
    );
    """,
    # version 4: opaque records other components authenticate themselves (the audit chain's identity and
    # checkpoint, docs/decisions/0008-audit-retention.md); kept here because deleting this database loses
    # every key anyway, so it is the one place whose loss is not silent.
    """
    CREATE TABLE blobs (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    """,
    # version 5: each key's latest successful use (GetKeyLastUsage), recorded by the audit writers (before
    # issue 12 audit.db kept it), and since when: this version's arrival. Uses audit.db recorded before it
    # are not carried over, so TrackingStartDate says from when the answers are complete.
    """
    CREATE TABLE key_use (
        key_arn TEXT PRIMARY KEY,
        used REAL NOT NULL,
        operation TEXT NOT NULL,
        event_id TEXT NOT NULL,
        request_id TEXT NOT NULL
    );
    CREATE TABLE key_use_tracking (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        since REAL NOT NULL
    );
    INSERT INTO key_use_tracking (id, since) VALUES (1, (julianday('now') - 2440587.5) * 86400.0);
    """,
    # version 6: imported key material (issue 13, docs/decisions/0012-import-key-material.md). A version's
    # bytes may be gone (deleted or expired imported material keeps its record), so key_material is rebuilt
    # with `wrapped` nullable, plus each version's description and expiry; the KeyMaterialId of each imported
    # version rides on the key (material_ids, comma-separated); import_parameters holds each EXTERNAL key's
    # latest GetParametersForImport set: a digest of its token, and its wrapping private key, wrapped.
    """
    CREATE TABLE key_material_v6 (
        key_id TEXT NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        wrapped BLOB,
        created REAL NOT NULL,
        rotation_type TEXT,
        description TEXT,
        expiration_model TEXT,
        valid_to REAL,
        PRIMARY KEY (key_id, version)
    );
    INSERT INTO key_material_v6 (key_id, version, wrapped, created, rotation_type)
        SELECT key_id, version, wrapped, created, rotation_type FROM key_material;
    DROP TABLE key_material;
    ALTER TABLE key_material_v6 RENAME TO key_material;
    CREATE INDEX key_material_by_expiry ON key_material (valid_to) WHERE valid_to IS NOT NULL;
    ALTER TABLE keys ADD COLUMN material_ids TEXT NOT NULL DEFAULT '';
    CREATE TABLE import_parameters (
        key_id TEXT PRIMARY KEY REFERENCES keys (key_id) ON DELETE CASCADE,
        token_digest BLOB NOT NULL,
        wrapping_algorithm TEXT NOT NULL,
        wrapping_key_spec TEXT NOT NULL,
        wrapped_private_key BLOB NOT NULL,
        created REAL NOT NULL,
        valid_to REAL NOT NULL
    );
    """,
    # version 7: multi-Region keys (docs/multi-region.md). Related keys share a key id, so the store knows each
    # by `<key id>/<region>` (kms/ids.py regional_key_id); each names the region of their primary key.
    """
    ALTER TABLE keys ADD COLUMN primary_region TEXT;
    """,
    # version 8: custom key stores, their HSM clusters, and each key's store (store/sqlite_keystores.py)
    sqlite_keystores.SCHEMA_V8,
    # version 9: the XKS proxy's logical key stores and exposures (docs/xks.md, trent/store/sqlite_xks.py)
    sqlite_xks.SCHEMA,
    # version 10: each key's external key (XksKeyId) for keys in an external key store (decision 0016)
    """
    ALTER TABLE keys ADD COLUMN xks_key_id TEXT;
    """,
)
