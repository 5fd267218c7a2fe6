"""The PostgreSQL store's schema: versioned migrations, applied at start by whichever node gets there first.

Every node runs `migrate()` when it opens the store. The whole migration is one transaction that first takes
a transaction-level advisory lock on a fixed key, so when several nodes start at once one migrates and the
others wait, then find the version current and do nothing. The lock is released by the commit (or by the
rollback when the migrating process dies), never left behind. Advisory-lock keys are per database, so two
Trent databases on one server do not wait for each other.

The tables mirror the SQLite store's (trent/store/sqlite_schema.py) with PostgreSQL's own types: timestamptz (which
keeps microseconds, as Python's datetime does), bytea for wrapped material, boolean for flags. Text columns
that are ordered or paged on use the "C" collation, so the order (and so every paging marker) is the byte
order SQLite uses, whatever the database's default locale.
"""

from __future__ import annotations

from typing import Any

import psycopg

from trent.store import postgres_xks
from trent.store.base import SchemaTooNewError
from trent.store.postgres_keystores import SCHEMA_V5

# pg_advisory_xact_lock keys (one bigint each). Fixed numbers: every node of every version must agree.
MIGRATION_LOCK = 0x7472_656E_0001  # "tren" + 1
WRITER_LOCK = 0x7472_656E_0002
BLOB_LOCK_CLASS = 0x7472_0003  # the first of two int4 keys (a separate key space); the second hashes the name

SCHEMA: tuple[str, ...] = (
    # version 1: what SQLite's versions 1-4 built (keys, principals and grants, the audit outbox, blobs)
    """
    CREATE TABLE keys (
        key_id text COLLATE "C" PRIMARY KEY,
        account text COLLATE "C" NOT NULL,
        region text COLLATE "C" NOT NULL,
        spec text NOT NULL,
        usage text NOT NULL,
        origin text NOT NULL,
        state text NOT NULL,
        creation_date timestamptz NOT NULL,
        description text NOT NULL DEFAULT '',
        deletion_date timestamptz,
        pending_window_days integer,
        current_version integer NOT NULL,
        revision bigint NOT NULL,
        policy_revision bigint NOT NULL,
        multi_region boolean NOT NULL DEFAULT false,
        valid_to timestamptz,
        expiration_model text,
        rotation_period_days integer,
        next_rotation_date timestamptz,
        on_demand_rotation_start timestamptz
    );
    CREATE INDEX keys_by_scope ON keys (account, region, key_id);
    CREATE INDEX keys_by_deletion ON keys (deletion_date) WHERE deletion_date IS NOT NULL;
    CREATE INDEX keys_by_rotation ON keys (next_rotation_date) WHERE next_rotation_date IS NOT NULL;
    CREATE TABLE key_material (
        key_id text COLLATE "C" NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        version integer NOT NULL,
        wrapped bytea NOT NULL,
        created timestamptz NOT NULL,
        rotation_type text,
        PRIMARY KEY (key_id, version)
    );
    CREATE TABLE key_policies (
        key_id text COLLATE "C" PRIMARY KEY REFERENCES keys (key_id) ON DELETE CASCADE,
        policy text NOT NULL
    );
    CREATE TABLE tags (
        key_id text COLLATE "C" NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        tag_key text COLLATE "C" NOT NULL,
        tag_value text NOT NULL,
        PRIMARY KEY (key_id, tag_key)
    );
    CREATE TABLE aliases (
        account text COLLATE "C" NOT NULL,
        region text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        key_id text COLLATE "C" NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        creation_date timestamptz NOT NULL,
        last_updated_date timestamptz NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE INDEX aliases_by_key ON aliases (key_id);
    CREATE TABLE access_keys (
        access_key_id text COLLATE "C" PRIMARY KEY,
        account text COLLATE "C" NOT NULL,
        principal_arn text NOT NULL,
        wrapped_secret bytea NOT NULL,
        created timestamptz NOT NULL,
        active boolean NOT NULL DEFAULT true
    );
    CREATE TABLE accounts (
        account text COLLATE "C" PRIMARY KEY,
        created timestamptz NOT NULL
    );
    CREATE TABLE users (
        arn text COLLATE "C" PRIMARY KEY,
        account text COLLATE "C" NOT NULL,
        name text NOT NULL,
        created timestamptz NOT NULL,
        policy text,
        policy_revision bigint NOT NULL DEFAULT 0,
        UNIQUE (account, name)
    );
    CREATE TABLE grants (
        grant_id text COLLATE "C" PRIMARY KEY,
        key_id text COLLATE "C" NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
        grantee text NOT NULL,
        operations text NOT NULL,
        issuing_account text NOT NULL,
        created timestamptz NOT NULL,
        name text,
        retiring text COLLATE "C",
        constraints text
    );
    CREATE INDEX grants_by_key ON grants (key_id, grant_id);
    CREATE INDEX grants_by_retiring ON grants (retiring, grant_id);
    -- The audit outbox (docs/decisions/0009-audit-atomicity.md); seq gives "oldest first".
    CREATE TABLE audit_outbox (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        event_id text PRIMARY KEY,
        row bytea NOT NULL
    );
    CREATE INDEX audit_outbox_by_seq ON audit_outbox (seq);
    -- Opaque records other components authenticate themselves (docs/decisions/0008-audit-retention.md).
    CREATE TABLE blobs (
        name text PRIMARY KEY,
        value bytea NOT NULL
    );
    """,
    # version 2: each key's latest use (GetKeyLastUsage), recorded by the audit writers
    """
    CREATE TABLE key_use (
        key_arn text COLLATE "C" PRIMARY KEY,
        used timestamptz NOT NULL,
        operation text NOT NULL,
        event_id text NOT NULL,
        request_id text NOT NULL
    );
    CREATE TABLE key_use_tracking (id integer PRIMARY KEY CHECK (id = 1), since timestamptz NOT NULL);
    INSERT INTO key_use_tracking (id, since) VALUES (1, now());
    """,
    # version 3: imported key material (issue 13; SQLite's version 6, docs/decisions/0012-import-key-material.md):
    # a version's bytes may be gone, its description and expiry; each key's imported material ids; the import
    # parameters of each EXTERNAL key (a digest of its token, its wrapping private key wrapped)
    """
    ALTER TABLE key_material ALTER COLUMN wrapped DROP NOT NULL,
        ADD COLUMN description text,
        ADD COLUMN expiration_model text,
        ADD COLUMN valid_to timestamptz;
    CREATE INDEX key_material_by_expiry ON key_material (valid_to) WHERE valid_to IS NOT NULL;
    ALTER TABLE keys ADD COLUMN material_ids text NOT NULL DEFAULT '';
    CREATE TABLE import_parameters (
        key_id text COLLATE "C" PRIMARY KEY REFERENCES keys (key_id) ON DELETE CASCADE,
        token_digest bytea NOT NULL,
        wrapping_algorithm text NOT NULL,
        wrapping_key_spec text NOT NULL,
        wrapped_private_key bytea NOT NULL,
        created timestamptz NOT NULL,
        valid_to timestamptz NOT NULL
    );
    """,
    # version 4: multi-Region keys (SQLite's version 7, docs/multi-region.md): related keys share a key id, so
    # the store knows each by `<key id>/<region>` (kms/ids.py regional_key_id); each names their primary's region
    """
    ALTER TABLE keys ADD COLUMN primary_region text;
    """,
    # version 5: custom key stores, their HSM clusters, and each key's store (SQLite's version 8;
    # store/postgres_keystores.py, docs/decisions/0014-custom-key-stores.md)
    SCHEMA_V5,
    # version 6: the XKS proxy's logical key stores and exposures (SQLite's version 9; trent/store/postgres_xks.py)
    postgres_xks.SCHEMA,
    # version 7: each key's external key (XksKeyId) for keys in an external key store (SQLite's version 10;
    # docs/decisions/0016-external-key-stores.md)
    """
    ALTER TABLE keys ADD COLUMN xks_key_id text;
    """,
)


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The version a database was migrated to; 0 when no Trent ever migrated it."""
    row = conn.execute("SELECT to_regclass('trent_schema') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT version FROM trent_schema").fetchone()
    return 0 if found is None else int(found[0])


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring the database to the newest version this Trent knows, once, whoever else starts at the same time.

    Raises SchemaTooNewError, changing nothing, when a newer Trent migrated the database already: an older
    one would misread (or corrupt) tables it does not know. Returns the version it found.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        # Under the lock: whoever holds it is alone, so IF NOT EXISTS cannot race another node's CREATE.
        conn.execute(
            "CREATE TABLE IF NOT EXISTS trent_schema ("
            "singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), version integer NOT NULL)"
        )
        conn.execute("INSERT INTO trent_schema (version) VALUES (0) ON CONFLICT DO NOTHING")
        found = schema_version(conn)
        if found > len(SCHEMA):
            raise SchemaTooNewError("PostgreSQL store database", found, len(SCHEMA))
        for number, script in enumerate(SCHEMA[found:], start=found + 1):
            conn.execute(script, prepare=False)  # several statements: the simple query protocol, never prepared
            conn.execute("UPDATE trent_schema SET version = %s", (number,))
    return found
