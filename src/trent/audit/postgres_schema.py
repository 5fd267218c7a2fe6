"""The audit trail's tables on PostgreSQL (in the store's database, each name prefixed audit_), their versioned
migrations, and the connection every audit session uses.

Migrations are the store's recipe (trent/store/postgres_schema.py): one transaction under a transaction-level
advisory lock of their own, so nodes starting together migrate once; a version newer than this Trent knows is
refused, changing nothing. The audit version lives in its own one-row table, so the store and the audit trail
migrate independently.

Tables (why: docs/decisions/0011-audit-on-postgresql.md):
- audit_chains: one row per writer chain (one per writer process lifetime): its random 16-byte id, the
  writer's name, when it began, and its authenticated head (seq, hash, HMAC of audit/chain.py's head_mac).
  The head is moved in the statement that inserts the records, fenced on the head the writer expects.
- audit_records: every record of every chain, PK (chain, seq): the exact canonical body bytes (bytea: jsonb
  would re-serialize them and break the hash), their hash, and the time and key ARN for searching.
- audit_journaled: the event ids of journaled records already chained, shared by every chain, so a change's
  record (the worker's submission and the outbox drain, decision 0009) is chained once across all writers.
- audit_anchors: the global anchor chain a leader job appends (audit/postgres.py: anchor()); each anchor holds
  the heads of the chains that moved since the previous one, is hash-chained to it and MACed.
- audit_anchored: the anchor job's bookkeeping (each chain's seq as last anchored), read by no verifier.
- audit_meta: the trail's identity (the chain id the store's audit.chain blob names).
"""

from __future__ import annotations

from typing import Any

import psycopg

from trent import pgsession
from trent.audit.port import AuditFormatError
from trent.pgsession import READER_SETTINGS, SESSION_SETTINGS

# pg_advisory_xact_lock keys. Fixed numbers: every node of every version must agree (the store uses ...01-...03).
MIGRATION_LOCK = 0x7472_656E_0011
ANCHOR_LOCK = 0x7472_656E_0012

# Every session's settings (ms), as the store's: a node frozen inside a transaction loses its locks after 5 s.

SCHEMA: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE audit_meta (name text PRIMARY KEY, value bytea NOT NULL);
    CREATE TABLE audit_chains (
        chain_id bytea PRIMARY KEY,
        writer text NOT NULL,
        started timestamptz NOT NULL DEFAULT now(),
        head_seq bigint NOT NULL,
        head_hash bytea NOT NULL,
        head_mac bytea NOT NULL,
        base bytea
    );
    CREATE TABLE audit_records (
        chain_id bytea NOT NULL,
        seq bigint NOT NULL,
        event_time double precision NOT NULL,
        key_arn text COLLATE "C",
        body bytea NOT NULL,
        hash bytea NOT NULL,
        PRIMARY KEY (chain_id, seq)
    );
    -- `trent audit query` reads the merged view in this order, streaming.
    CREATE INDEX audit_records_by_time ON audit_records (event_time, chain_id, seq);
    CREATE TABLE audit_journaled (event_id text COLLATE "C" PRIMARY KEY);
    CREATE TABLE audit_anchors (
        seq bigint PRIMARY KEY,
        made timestamptz NOT NULL DEFAULT now(),
        heads bytea NOT NULL,
        hash bytea NOT NULL,
        mac bytea NOT NULL
    );
    CREATE TABLE audit_anchored (chain_id bytea PRIMARY KEY, seq bigint NOT NULL);
    """,
)


def connect(url: str, *, reader: bool = False) -> psycopg.Connection[Any]:
    """An audit session (trent/pgsession.py); `reader`: one that reads a long snapshot, without idle timeout."""
    return pgsession.connect(url, READER_SETTINGS if reader else SESSION_SETTINGS)


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The audit version a database was migrated to; 0 when no Trent made audit tables in it."""
    row = conn.execute("SELECT to_regclass('audit_schema') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT version FROM audit_schema").fetchone()
    return 0 if found is None else int(found[0])


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring the audit tables to the newest version, once whoever else starts; the version found.
    AuditFormatError, changing nothing, if a newer Trent migrated them."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS audit_schema ("
            "singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), version integer NOT NULL)"
        )
        conn.execute("INSERT INTO audit_schema (version) VALUES (0) ON CONFLICT DO NOTHING")
        found = schema_version(conn)
        if found > len(SCHEMA):
            raise AuditFormatError(
                f"the PostgreSQL audit tables have version {found}, newer than this Trent knows ({len(SCHEMA)})"
            )
        for number, script in enumerate(SCHEMA[found:], start=found + 1):
            conn.execute(script, prepare=False)  # several statements: the simple query protocol
            conn.execute("UPDATE audit_schema SET version = %s", (number,))
    return found
