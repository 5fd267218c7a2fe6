"""`trent admin xks ...`: logical XKS key stores, their SigV4 credentials, and the Trent keys exposed to them.

Every change is one store transaction, with its audit record (eventSource kms-xks-proxy) written before it
commits, as `trent admin`'s revocations are; a running server reads stores and exposures fresh on every XKS request,
so a change (disable-keystore above all) holds from the next request on, in every worker and node (decision
0015). Secrets are stored only wrapped by the root of trust, bound to the store's URI prefix and access key id.
"""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass, replace
from typing import Any

from trent.audit.events import AuditEvent, UserIdentity
from trent.kms.ids import MULTI_REGION_PREFIX, KeyId
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KeySpec, KeyUsage, Origin
from trent.kms.xks import (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    USAGES,
    XksExposure,
    XksKeyStore,
    normal_prefix,
    usage_text,
)
from trent.ops.deps import Deps
from trent.ops.principals import ADMIN_AGENT
from trent.rootoftrust.base import xks_secret_aad
from trent.store.base import DuplicateError, Reader


class XksAdminError(ValueError):
    """A change refused; the message says why in one line and names no secret."""


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    secret: Sensitive | None  # set only when generated now, to be shown once


def new_access_key_id() -> str:
    """24 characters of A-Z and 2-7 (base32 of 120 random bits): the specification's 20-30 of that alphabet."""
    return base64.b32encode(os.urandom(15)).decode()


def new_secret() -> Sensitive:
    """Base64 of 256 random bits, 44 characters: the specification's `openssl rand 32 | base64`."""
    return Sensitive(base64.b64encode(os.urandom(32)))


def _prefix(text: str) -> str:
    prefix = normal_prefix(text)
    if prefix is None:
        raise XksAdminError(
            f"--uri-prefix {text!r}: a URI prefix is segments of a-z, A-Z, 0-9, - and _ separated by /, "
            "at most 116 characters (the XksProxyUriPath it makes, /PREFIX/kms/xks/v1, is at most 128)"
        )
    return prefix


def _credential(access_key_id: str | None, secret: str | None) -> tuple[str, Sensitive, bool]:
    """(access key id, secret, generated) from what was given; XksAdminError if it is not what AWS KMS takes."""
    if (access_key_id is None) != (secret is None):
        raise XksAdminError("--access-key-id and --secret-access-key go together: give both or neither")
    if access_key_id is None or secret is None:
        return new_access_key_id(), new_secret(), True
    if ACCESS_KEY_ID.fullmatch(access_key_id) is None:
        raise XksAdminError("an XKS access key id is 20-30 characters of A-Z and 2-7")
    if SECRET_ACCESS_KEY.fullmatch(secret) is None:
        raise XksAdminError("an XKS secret access key is 43-64 characters of A-Z, a-z, 0-9, +, / and =")
    return access_key_id, Sensitive(secret.encode()), False


def _audited(deps: Deps, event_name: str, parameters: dict[str, Any]) -> None:
    """Record the change before its transaction commits (called inside it): no change goes unaudited."""
    event = AuditEvent(
        event_name=event_name,
        event_time=deps.clock(),
        region="",
        request_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        user_identity=UserIdentity("TrentAdministrator"),
        source_ip="localhost",
        user_agent=ADMIN_AGENT,
        read_only=False,
        recipient_account_id="",
        request_parameters=parameters,
        event_source="kms-xks-proxy",
    )
    deps.audit.record_now([event])


def _wrap(deps: Deps, prefix: str, access_key_id: str, secret: Sensitive) -> bytes:
    return deps.root_of_trust.wrap(secret, xks_secret_aad(prefix, access_key_id)).to_bytes()


def _existing(reader: Reader, prefix: str) -> XksKeyStore:
    found = reader.get_xks_store(prefix)
    if found is None:
        raise XksAdminError(f"there is no XKS key store with URI prefix {prefix!r} (trent admin xks list-keystores)")
    return found


def create_keystore(
    deps: Deps, uri_prefix: str, access_key_id: str | None = None, secret: str | None = None
) -> tuple[XksKeyStore, Credential]:
    prefix = _prefix(uri_prefix)
    key_id, secret_value, generated = _credential(access_key_id, secret)
    record = XksKeyStore(prefix, key_id, _wrap(deps, prefix, key_id, secret_value), True, deps.clock())
    try:
        with deps.store.transaction() as tx:
            tx.insert_xks_store(record)
            _audited(deps, "CreateXksKeyStore", {"uriPrefix": prefix, "accessKeyId": key_id})
    except DuplicateError:
        raise XksAdminError(f"an XKS key store has URI prefix {prefix!r} or access key id {key_id} already") from None
    return record, Credential(key_id, secret_value if generated else None)


def rotate_credential(
    deps: Deps, uri_prefix: str, access_key_id: str | None = None, secret: str | None = None
) -> tuple[XksKeyStore, Credential]:
    """A new credential; the current one stays valid as the previous one until retire_credential (the
    specification's rotation: both work while AWS KMS's UpdateCustomKeyStore takes effect)."""
    prefix = _prefix(uri_prefix)
    key_id, secret_value, generated = _credential(access_key_id, secret)
    with deps.store.transaction() as tx:
        current = tx.get_xks_store(prefix)
        if current is None:
            raise XksAdminError(f"there is no XKS key store with URI prefix {prefix!r}")
        if key_id in (current.access_key_id, current.previous_access_key_id):
            raise XksAdminError(f"access key id {key_id} is already one of this store's")
        record = replace(
            current,
            access_key_id=key_id,
            wrapped_secret=_wrap(deps, prefix, key_id, secret_value),
            previous_access_key_id=current.access_key_id,
            previous_wrapped_secret=current.wrapped_secret,
        )
        try:
            tx.update_xks_store(record)
        except DuplicateError:
            raise XksAdminError(f"access key id {key_id} is another XKS key store's") from None
        _audited(deps, "RotateXksCredential", {"uriPrefix": prefix, "accessKeyId": key_id})
    return record, Credential(key_id, secret_value if generated else None)


def retire_credential(deps: Deps, uri_prefix: str) -> XksKeyStore:
    """Forget the previous credential: from now on only the current one authenticates."""
    prefix = _prefix(uri_prefix)
    with deps.store.transaction() as tx:
        current = _existing(tx, prefix)
        record = replace(current, previous_access_key_id=None, previous_wrapped_secret=None)
        tx.update_xks_store(record)
        _audited(deps, "RetireXksCredential", {"uriPrefix": prefix, "accessKeyId": current.previous_access_key_id})
    return record


def set_enabled(deps: Deps, uri_prefix: str, enabled: bool) -> XksKeyStore:
    prefix = _prefix(uri_prefix)
    with deps.store.transaction() as tx:
        record = replace(_existing(tx, prefix), enabled=enabled)
        tx.update_xks_store(record)
        _audited(deps, "EnableXksKeyStore" if enabled else "DisableXksKeyStore", {"uriPrefix": prefix})
    return record


def delete_keystore(deps: Deps, uri_prefix: str) -> None:
    prefix = _prefix(uri_prefix)
    with deps.store.transaction() as tx:
        _existing(tx, prefix)
        tx.delete_xks_store(prefix)
        _audited(deps, "DeleteXksKeyStore", {"uriPrefix": prefix})


def _key_id(text: str) -> KeyId:
    """A key id, or a key ARN's."""
    return KeyId(text.rsplit(":key/", 1)[-1])


def expose(
    deps: Deps,
    uri_prefix: str,
    key: str,
    usage: str = "ENCRYPT,DECRYPT",
    principals: tuple[str, ...] = (),
    operations: tuple[str, ...] = (),
) -> XksExposure:
    """Expose a Trent key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT) to a store as external key `key id`."""
    prefix = _prefix(uri_prefix)
    usages = USAGES.get(usage.upper().replace(" ", ""))
    if usages is None:
        raise XksAdminError(f"--usage {usage!r}: one of ENCRYPT,DECRYPT, ENCRYPT, DECRYPT or NONE")
    key_id = _key_id(key)
    if key_id.startswith(MULTI_REGION_PREFIX):
        # Related multi-Region keys share their key id, the externalKeyId would name none of them alone; and
        # AWS KMS keys in an external key store are single-Region.
        raise XksAdminError(f"key {key_id} is a multi-Region key: only single-Region keys can be external keys")
    found = deps.store.get_key(key_id)
    if found is None:
        raise XksAdminError(f"there is no key {key_id}")
    if found.custom_key_store_id is not None or found.origin not in (Origin.AWS_KMS, Origin.EXTERNAL):
        # Its material is in a custom key store (an HSM token, another external key store), not Trent's own.
        raise XksAdminError(
            f"key {key_id} is in custom key store {found.custom_key_store_id} (Origin {found.origin.value}): only "
            "keys with Trent's own material (Origin AWS_KMS or EXTERNAL) can be external keys"
        )
    if found.spec is not KeySpec.SYMMETRIC_DEFAULT or found.usage is not KeyUsage.ENCRYPT_DECRYPT:
        raise XksAdminError(
            f"key {key_id} is {found.spec.value} for {found.usage.value}: only SYMMETRIC_DEFAULT keys for "
            "ENCRYPT_DECRYPT can be external keys (the XKS Proxy API is AES-256-GCM)"
        )
    record = XksExposure(prefix, key_id, usages, deps.clock(), tuple(principals), tuple(operations))
    with deps.store.transaction() as tx:
        _existing(tx, prefix)
        tx.put_xks_exposure(record)
        parameters: dict[str, Any] = {"uriPrefix": prefix, "keyId": key_id, "keyUsage": usage_text(usages)}
        if principals or operations:
            parameters |= {"allowedPrincipals": list(principals), "allowedOperations": list(operations)}
        _audited(deps, "ExposeXksKey", parameters)
    return record


def unexpose(deps: Deps, uri_prefix: str, key: str) -> None:
    prefix = _prefix(uri_prefix)
    key_id = _key_id(key)
    with deps.store.transaction() as tx:
        if tx.get_xks_exposure(prefix, key_id) is None:
            raise XksAdminError(f"key {key_id} is not exposed to XKS key store {prefix!r}")
        tx.delete_xks_exposure(prefix, key_id)
        _audited(deps, "UnexposeXksKey", {"uriPrefix": prefix, "keyId": key_id})


def describe(deps: Deps, record: XksKeyStore) -> dict[str, Any]:
    """A store as `list-keystores` shows it: never a secret."""
    return {
        "UriPrefix": record.uri_prefix,
        "XksProxyUriPath": record.uri_path,
        "AccessKeyId": record.access_key_id,
        "PreviousAccessKeyId": record.previous_access_key_id,
        "Enabled": record.enabled,
        "Created": record.created.isoformat(),
        "Keys": [
            {
                "KeyId": e.key_id,
                "KeyUsage": usage_text(e.usage),
                "AllowedPrincipals": list(e.allowed_principals),
                "AllowedOperations": list(e.allowed_operations),
            }
            for e in deps.store.list_xks_exposures(record.uri_prefix)
        ],
    }


def list_keystores(deps: Deps) -> list[dict[str, Any]]:
    return [describe(deps, record) for record in deps.store.list_xks_stores()]
