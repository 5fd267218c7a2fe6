"""`trent audit export` and `trent audit verify --exported`: CloudTrail-format files and signed digests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from trent.app.storage import check_root, open_store
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
from trent.rootoftrust.software import SoftwareRoot
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
    root = SoftwareRoot.open(settings.root_key_path, create=False)
    store = open_store(settings)
    try:
        check_root(settings, root, store)
        chain = open_chain(settings, root, store)
        signer = _export_key(store, root)
        archive = open_archive(settings)
        result, end = export_records(
            archive,
            directory,
            signer,
            chain.key,
            chain.chain_id,
            settings.account_id or principal_ops.home_account(store) or DEFAULT_ACCOUNT,
            None if until is None else until.timestamp(),
        )
        if prune:
            result = replace(result, pruned_through=end.last.seq)
            prune_records(archive, end.last, chain.key, chain.chain_id)
    finally:
        store.close()
    return result


def verify_exported(
    settings: Settings, directory: Path, public_key: Path | None, tally: ExportTally
) -> Iterator[Problem]:
    """Check an export offline; when this data directory's audit log is there too, that it continues the export."""
    given = None if public_key is None else ct.load_public(public_key.read_bytes())
    yield from verify_export(directory, given, tally)
    path = settings.audit_database_path
    if tally.digests == 0:
        yield Problem(None, "export", f"{directory} holds no digest: nothing was exported there")
        return
    if not path.exists() or (settings.postgres_url is None and not settings.database_path.exists()):
        return
    stored, _, root = read_anchor(settings)
    if stored is None:
        return
    identity = Identity.from_bytes(stored)
    if identity.chain_id.hex() != tally.chain_id:
        return  # an export of another server: nothing to compare it with
    key = root.unwrap(WrappedMaterial.from_bytes(identity.wrapped_key), audit_key_aad()).reveal()
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
