"""`trent audit export` and `trent audit verify --exported`: CloudTrail-format files and signed digests."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from trent.app.roots import check_root, open_root
from trent.app.storage import open_store
from trent.app.trail import open_archive, open_chain, read_anchor
from trent.audit import cloudtrail as ct
from trent.audit.anchor import BASE, Identity, Position, unseal
from trent.audit.export import Exported
from trent.audit.export import export as export_records
from trent.audit.export import prune as prune_records
from trent.audit.exported import ExportTally, verify_export
from trent.audit.verify import Problem
from trent.config import DEFAULT_ACCOUNT, Settings
from trent.kms.sensitive import Sensitive
from trent.ops import principals as principal_ops
from trent.rootoftrust.base import RootOfTrust, WrappedMaterial, audit_key_aad
from trent.store.base import Store

EXPORT_KEY_BLOB = "audit.export-key"


def _export_key(store: Store, root: RootOfTrust) -> rsa.RSAPrivateKey:
    """The RSA key that signs export digests, made on first export; its private part wrapped by the root."""

    def make(old: bytes | None) -> bytes | None:
        if old is not None:
            return None
        der = ct.new_signing_key().private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return root.wrap(Sensitive(der), ct.EXPORT_KEY_AAD).to_bytes()

    wrapped = store.update_blob(EXPORT_KEY_BLOB, make)
    assert wrapped is not None
    key = serialization.load_der_private_key(
        root.unwrap(WrappedMaterial.from_bytes(wrapped), ct.EXPORT_KEY_AAD).reveal(), None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def export_audit(settings: Settings, directory: Path, until: datetime | None, prune: bool) -> Exported:
    """Export the records not yet in `directory` (up to `until`), sign their digest; with `prune`, delete from
    audit.db every record the directory's export holds, keeping the chain provable across the cut."""
    if not directory.is_dir():
        raise FileNotFoundError(f"no directory at {directory}; create it first")
    if not settings.data_dir.exists():
        raise FileNotFoundError(f"data directory {settings.data_dir} does not exist")
    root = open_root(settings)
    store = open_store(settings)
    try:
        check_root(settings, root, store)
        chain = open_chain(settings, root, store)
        signer = _export_key(store, root)
        archive = open_archive(settings)
        account = settings.account_id or principal_ops.home_account(store) or DEFAULT_ACCOUNT
        cutoff = None if until is None else until.timestamp()
        # SQLite: the one chain, into `directory`. PostgreSQL: each writer's chain into a directory of its own
        # (its digests and base are sealed under its id); the result sums them.
        chains = [(chain.chain_id, directory)] if settings.postgres_url is None else []
        for chain_id in [] if settings.postgres_url is None else archive.chains():
            (directory / chain_id.hex()).mkdir(exist_ok=True)
            chains.append((chain_id, directory / chain_id.hex()))
        result = Exported(0, 0, Position(0, b""), None, None)
        for chain_id, into in chains:
            done, end = export_records(archive, into, signer, chain.key, chain_id, account, cutoff)
            if prune:
                done = replace(done, pruned_through=end.last.seq)
                prune_records(archive, end.last, chain.key, chain_id)
            result = _sum(result, done) if len(chains) > 1 else done
    finally:
        store.close()
        root.close()
    return result


_CHAIN_DIR = re.compile(r"[0-9a-f]{32}")


def _sum(total: Exported, more: Exported) -> Exported:
    return replace(
        total,
        records=total.records + more.records,
        files=total.files + more.files,
        digest=more.digest or total.digest,
        pruned_through=more.pruned_through if more.pruned_through is not None else total.pruned_through,
    )


def verify_exported(
    settings: Settings, directory: Path, public_key: Path | None, tally: ExportTally
) -> Iterator[Problem]:
    """Check an export offline; when this data directory's audit log is there too, that it continues the export.
    An export of a PostgreSQL trail holds a directory per writer's chain: each is checked, the tally sums them."""
    given = None if public_key is None else ct.load_public(public_key.read_bytes())
    per_chain = (
        sorted(p for p in directory.iterdir() if p.is_dir() and _CHAIN_DIR.fullmatch(p.name))
        if directory.is_dir()
        else []
    )
    if per_chain and not (directory / "AWSLogs").exists():
        for sub in per_chain:
            one = ExportTally()
            yield from verify_export(sub, given, one)
            tally.digests, tally.files, tally.records = (
                tally.digests + one.digests,
                tally.files + one.files,
                tally.records + one.records,
            )
            tally.fingerprints |= one.fingerprints
            tally.last = max(tally.last, one.last, key=lambda p: p.seq)
        tally.chain_id = f"{len(per_chain)} chains"
        return
    yield from verify_export(directory, given, tally)
    path = settings.audit_database_path
    if tally.digests == 0:
        yield Problem(None, "export", f"{directory} holds no digest: nothing was exported there")
        return
    if not path.exists() or (settings.postgres_url is None and not settings.database_path.exists()):
        return
    stored, _, root = read_anchor(settings)
    try:
        if stored is None:
            return
        identity = Identity.from_bytes(stored)
        if identity.chain_id.hex() != tally.chain_id:
            return  # an export of another server: nothing to compare it with
        key = root.unwrap(WrappedMaterial.from_bytes(identity.wrapped_key), audit_key_aad()).reveal()
    finally:
        root.close()
    try:
        base = open_archive(settings).facts().base
        start = Position(0, b"") if base is None else unseal(BASE, key, identity.chain_id, base)
        if start.seq > tally.last.seq:
            yield Problem(
                None,
                "export",
                f"the live log was pruned through record {start.seq}, but the export ends at record "
                f"{tally.last.seq}: records {tally.last.seq + 1}-{start.seq} are in neither",
            )
        elif start.seq == tally.last.seq and start.seq and start.digest != tally.last.digest:
            yield Problem(None, "export", f"the live log's base is not the export's record {start.seq}")
        tally.continued_from = start.seq
    except sqlite3.Error as exc:
        yield Problem(None, "database", f"the audit database cannot be read: {exc}")
