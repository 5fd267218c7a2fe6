"""Root keys over time: `trent admin rotate-root-key` (a new root key version, then every blob re-wrapped under
it), `migrate-root` (a software root's blobs moved into a PKCS#11 token) and `seal-root-key` (the root key
file encrypted under a passphrase). Servers keep serving throughout (docs/decisions/0013-pkcs11-root-of-trust.md):
every blob names the root key that made it, old root keys keep opening until nothing names them, and each
process picks up a new active root key within a second of it being added.

Re-wrapping is a resumable batch: each blob not yet under the active root key is unwrapped and wrapped again in
this process (the material never leaves it, and with a token root never leaves the token's wrap/unwrap) and
stored by compare-and-set on its old bytes. Run again, it does what is left. The root check value goes last,
so it naming the active root key means the batch finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from trent.app.exports import EXPORT_KEY_BLOB
from trent.app.roots import check_root, open_root, passphrase, root_name, token_config, token_spec
from trent.app.storage import ROOT_CHECK_BLOB, SetupError, open_store
from trent.app.trail import CHAIN_BLOB
from trent.audit.anchor import Identity
from trent.audit.cloudtrail import EXPORT_KEY_AAD
from trent.audit.sqlite import chain_facts, rewrap_legacy_key
from trent.config import Settings
from trent.kms.keystores import KeyStoreConfig, XksConfig
from trent.rootoftrust import keyfile, pkcs11, software
from trent.rootoftrust.base import (
    RootOfTrust,
    UnwrapError,
    WrappedMaterial,
    audit_key_aad,
    key_store_password_aad,
    material_aad,
    secret_aad,
    wrapping_key_aad,
    xks_credential_aad,
    xks_secret_aad,
)
from trent.rootoftrust.check import make_check, opens_check
from trent.rootoftrust.pkcs11 import Pkcs11Root
from trent.rootoftrust.software import SoftwareRoot
from trent.store.base import Store

# Every process wraps under the active root key it saw at most REFRESH_SECONDS ago; wait out two of those
# before re-wrapping, so that what they wrap from then on is under the new key already.
GRACE_SECONDS = 2 * max(software.REFRESH_SECONDS, pkcs11.REFRESH_SECONDS) + 0.5
_PAGE = 200
_PASSES = 5

# The store's blobs that hold a root-wrapped value: name, the wrapped bytes in the blob, the blob with other
# wrapped bytes, the AAD. The root check value is handled last, apart (rewrap()).
_Take = Callable[[bytes], bytes]
_Put = Callable[[bytes, bytes], bytes]
NAMED_BLOBS: tuple[tuple[str, _Take, _Put, bytes], ...] = (
    (
        CHAIN_BLOB,
        lambda b: Identity.from_bytes(b).wrapped_key,
        lambda b, w: Identity(Identity.from_bytes(b).chain_id, w).to_bytes(),
        audit_key_aad(),
    ),
    (EXPORT_KEY_BLOB, lambda b: b, lambda b, w: w, EXPORT_KEY_AAD),
)


@dataclass
class Rewrapped:
    """What a re-wrapping batch did: blobs re-wrapped, blobs already under the active root key when it began
    (`current`), and blobs that did not open (`failed`: tampered, or of another root of trust)."""

    active: str
    added: str | None = None
    materials: int = 0
    secrets: int = 0
    imports: int = 0
    key_stores: int = 0
    blobs: int = 0
    current: int = 0
    passes: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.materials + self.secrets + self.imports + self.key_stores + self.blobs


def rotate_root_key(settings: Settings, *, resume: bool = False, grace: float = GRACE_SECONDS) -> Rewrapped:
    """Add a root key version (unless `resume`) and re-wrap every blob under the active one."""
    store, root = open_store(settings), None
    try:
        root = open_root(settings)
        check_root(settings, root, store)
        added = None
        if not resume:
            if isinstance(root, SoftwareRoot):
                if root.successor is not None:
                    raise SetupError(
                        f"{root_name(settings)} hands over to a PKCS#11 token (trent admin migrate-root): start "
                        "with --root-of-trust pkcs11 and rotate the token's root key"
                    )
                added = root.add_key()
            elif isinstance(root, Pkcs11Root):
                added = root.add_key()
            else:
                raise SetupError(f"{root_name(settings)} cannot add a root key")
            time.sleep(grace)
        done = rewrap(settings, store, root)
        done.added = added
        return done
    finally:
        store.close()
        if root is not None:
            root.close()


def migrate_root(settings: Settings, *, grace: float = GRACE_SECONDS) -> Rewrapped:
    """Move a software root's installation into the PKCS#11 token the settings name: make the token's root key
    (if it has none), make the root key file hand over to the token (every running process follows within a
    second: it wraps in the token from then on and opens both), then re-wrap every blob in the token. Run again
    after an interruption, it finishes."""
    if settings.root_of_trust != "software":
        raise SetupError(
            "trent admin migrate-root moves a software root of trust into a token: run it with the "
            "settings the installation runs with now (not --root-of-trust pkcs11)"
        )
    spec = token_spec(settings)
    store, root = open_store(settings), None
    try:
        root = open_root(settings)
        assert isinstance(root, SoftwareRoot)
        check_root(settings, root, store)
        Pkcs11Root.open(token_config(spec, settings.pkcs11_timeout), create=True).close()
        if root.successor is None:
            root.change(lambda ring: keyfile.Keyring(ring.keys, ring.active, spec))
            if root.successor is None:
                raise SetupError(f"{root_name(settings)} did not take the hand-over (is it read-only?)")
            time.sleep(grace)
        elif not isinstance(root.successor, Pkcs11Root) or root.successor.token_label != spec["pkcs11_token_label"]:
            raise SetupError(f"{root_name(settings)} already hands over to {root.successor!r}, not to this token")
        return rewrap(settings, store, root)
    finally:
        store.close()
        if root is not None:
            root.close()


def seal_root_key(settings: Settings) -> int:
    """Encrypt the root key file under the passphrase the settings give (atomically, mode 0600); its key count."""
    if settings.root_of_trust != "software":
        raise SetupError("a PKCS#11 root of trust has no root key file to seal")
    given = passphrase(settings)
    if given is None:
        raise SetupError("give the passphrase with --root-key-passphrase-file FILE or TRENT_ROOT_KEY_PASSPHRASE")
    path = settings.root_key_path
    if not path.exists():
        raise SetupError(f"root key file {path} does not exist")
    with keyfile.changing(path):
        if keyfile.is_sealed(path):
            raise SetupError(f"root key file {path} is sealed already")
        ring, _ = keyfile.read(path, None)
        keyfile.write(path, ring, keyfile.Seal.new(given))
    reread, _ = keyfile.read(path, given)
    assert dict(reread.keys) == dict(ring.keys) and reread.active == ring.active
    return len(ring.keys)


def rewrap(settings: Settings, store: Store, root: RootOfTrust) -> Rewrapped:
    """Re-wrap every blob not under the root's active key; passes until one finds nothing more to do (a process
    that had not yet seen the new key may have wrapped under the old one meanwhile), then the check value."""
    done = Rewrapped(root.active_key_id)
    current = 0
    while done.passes < _PASSES:
        before, done.current, done.failed = done.changed, 0, []
        done.passes += 1
        _materials(store, root, done)
        _secrets(store, root, done)
        _xks_secrets(store, root, done)
        _imports(store, root, done)
        _key_stores(store, root, done)
        _named_blobs(store, root, done)
        _legacy_audit_key(settings, root, done)
        current = done.current if done.passes == 1 else current  # under the active key before this batch
        if done.changed == before:
            break
    done.current = current
    check = store.get_blob(ROOT_CHECK_BLOB)
    if check is not None and WrappedMaterial.from_bytes(check).root_key_id != done.active and not done.failed:
        if not opens_check(root, check):
            raise SetupError(f"{root_name(settings)} does not open the store's root check value")
        mine = make_check(root)
        if store.update_blob(ROOT_CHECK_BLOB, lambda old: mine if old == check else None) == mine:
            done.blobs += 1
    return done


def _again(root: RootOfTrust, done: Rewrapped, old: bytes, aad: bytes, name: str) -> bytes | None:
    """`old` wrapped again under the active root key; None if it is under it already or does not open."""
    try:
        wrapped = WrappedMaterial.from_bytes(old)
        if wrapped.root_key_id == done.active:
            done.current += 1
            return None
        return root.wrap(root.unwrap(wrapped, aad), aad).to_bytes()
    except UnwrapError:
        done.failed.append(name)
        return None


def _materials(store: Store, root: RootOfTrust, done: Rewrapped) -> None:
    after = None
    while page := store.list_wrapped_materials(after, _PAGE):
        after = page[-1][:2]
        changes = []
        for key_id, version, old in page:
            new = _again(root, done, old, material_aad(key_id, version), f"key {key_id} material version {version}")
            if new is not None:
                changes.append((key_id, version, old, new))
        if changes:
            with store.transaction() as tx:
                done.materials += sum(tx.rewrap_material(*change) for change in changes)


def _secrets(store: Store, root: RootOfTrust, done: Rewrapped) -> None:
    changes = []
    for record in store.list_access_keys(None):
        name = f"access key {record.access_key_id}"
        new = _again(root, done, record.wrapped_secret, secret_aad(record.access_key_id), name)
        if new is not None:
            changes.append((record.access_key_id, record.wrapped_secret, new))
    for start in range(0, len(changes), _PAGE):
        with store.transaction() as tx:
            done.secrets += sum(tx.rewrap_secret(*change) for change in changes[start : start + _PAGE])


def _xks_secrets(store: Store, root: RootOfTrust, done: Rewrapped) -> None:
    """Each XKS key store's SigV4 secret and, during a rotation, its previous one (counted with the access key
    secrets), compare-and-set on the whole record (an admin command may have changed it meanwhile)."""
    for record in store.list_xks_stores():
        name = f"XKS key store {record.uri_prefix} secret"
        aad = xks_secret_aad(record.uri_prefix, record.access_key_id)
        new = _again(root, done, record.wrapped_secret, aad, name)
        changed = record if new is None else replace(record, wrapped_secret=new)
        if record.previous_access_key_id is not None and record.previous_wrapped_secret is not None:
            aad = xks_secret_aad(record.uri_prefix, record.previous_access_key_id)
            previous = _again(root, done, record.previous_wrapped_secret, aad, name + " (previous)")
            if previous is not None:
                changed = replace(changed, previous_wrapped_secret=previous)
        if changed == record:
            continue
        with store.transaction() as tx:
            if tx.get_xks_store(record.uri_prefix) == record:
                tx.update_xks_store(changed)
                done.secrets += (changed.wrapped_secret != record.wrapped_secret) + (
                    changed.previous_wrapped_secret != record.previous_wrapped_secret
                )


def _imports(store: Store, root: RootOfTrust, done: Rewrapped) -> None:
    """Each EXTERNAL key's import set: its wrapping private key, compare-and-set (a GetParametersForImport may
    have replaced the set meanwhile, or an import used it up)."""
    for parameters in store.list_import_parameters():
        old = parameters.wrapped_private_key
        aad = wrapping_key_aad(parameters.key_id, parameters.token_digest)
        new = _again(root, done, old, aad, f"key {parameters.key_id} import parameters")
        if new is None:
            continue
        with store.transaction() as tx:
            if tx.get_import_parameters(parameters.key_id) == parameters:
                tx.put_import_parameters(replace(parameters, wrapped_private_key=new))
                done.imports += 1


def _key_stores(store: Store, root: RootOfTrust, done: Rewrapped) -> None:
    """Each custom key store's KeyStorePassword (AWS_CLOUDHSM) or XKS proxy secret (EXTERNAL_KEY_STORE),
    compare-and-set on the store's revision (an UpdateCustomKeyStore may have replaced it meanwhile)."""
    for record in store.list_custom_key_stores(None, None):
        config = record.config
        if isinstance(config, XksConfig):
            old = config.wrapped_secret
            aad = xks_credential_aad(record.custom_key_store_id, config.access_key_id)
        else:
            old = config.wrapped_password
            aad = key_store_password_aad(record.custom_key_store_id)
        new = _again(root, done, old, aad, f"custom key store {record.custom_key_store_id} secret")
        if new is None:
            continue
        changed: KeyStoreConfig = (
            replace(config, wrapped_secret=new)
            if isinstance(config, XksConfig)
            else replace(config, wrapped_password=new)
        )
        with store.transaction() as tx:
            if tx.get_custom_key_store(record.custom_key_store_id) == record:
                tx.update_custom_key_store(record.evolve(config=changed), record.revision)
                done.key_stores += 1


def _named_blobs(store: Store, root: RootOfTrust, done: Rewrapped) -> None:
    for name, take, put, aad in NAMED_BLOBS:
        old = store.get_blob(name)
        if old is None:
            continue
        inner = _again(root, done, take(old), aad, f"store blob {name}")
        if inner is None:
            continue
        new = put(old, inner)
        if store.update_blob(name, _replacing(old, new)) == new:
            done.blobs += 1


def _replacing(old: bytes, new: bytes) -> Callable[[bytes | None], bytes | None]:
    """A change that stores `new` only if the blob still is `old` (someone else may have re-wrapped it)."""
    return lambda current: new if current == old else None


def _legacy_audit_key(settings: Settings, root: RootOfTrust, done: Rewrapped) -> None:
    """A SQLite audit database of before decision 0008 still keeps the wrapped audit key it was made with."""
    path = settings.audit_database_path
    if settings.postgres_url is not None or not path.exists():
        return
    old = chain_facts(path).legacy_key
    if old is None:
        return
    new = _again(root, done, old, audit_key_aad(), f"the audit key in {path}")
    if new is not None and rewrap_legacy_key(path, old, new):
        done.blobs += 1
