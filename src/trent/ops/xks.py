"""The XKS proxy API's four operations over Trent keys, and the one audit event of each request.

The mapping (docs/decisions/0015-xks-proxy.md): an external key is a Trent key (SYMMETRIC_DEFAULT) exposed to
a logical key store; the externalKeyId is its key id. Its exposure's usage is GetKeyMetadata's keyUsage and
decides InvalidKeyUsageException; its key state gives keyStatus (ENABLED only when the key is Enabled) and
InvalidStateException for Encrypt and Decrypt; a key that is gone is KeyNotFoundException. Everything is read
fresh per request (store record, exposure, key), so an admin change holds from the next request in every
worker; only a material version's unwrapped bytes are cached (the keyring), as for every KMS operation.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata as package_metadata

from trent.audit.events import AuditEvent, UserIdentity
from trent.crypto import xks as crypto
from trent.kms.errors import KMSInvalidStateException
from trent.kms.ids import KeyId, unique_id
from trent.kms.keys import Key
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KeySpec, KeyState, Origin
from trent.kms.xks import (
    DECRYPT,
    ENCRYPT,
    AccessDeniedException,
    InternalException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    InvalidStateException,
    KeyNotFoundException,
    XksError,
    XksExposure,
    XksKeyStore,
    usage_text,
)
from trent.ops import dispatch, storekeys
from trent.ops.deps import Deps
from trent.ops.keyring import MissingMaterial

log = logging.getLogger("trent.request")
# Origins whose material is Trent's own (wrapped by the root of trust): only those can back an external key. A
# key in a custom key store (AWS_CLOUDHSM, EXTERNAL_KEY_STORE) has its material elsewhere.
SOFTWARE_ORIGINS = frozenset({Origin.AWS_KMS, Origin.EXTERNAL})
EVENT_SOURCE = "kms-xks-proxy"
# The requestMetadata members recorded in each event (the specification's, Appendix B: SHOULD be logged).
RECORDED_METADATA = (
    "awsPrincipalArn",
    "awsSourceVpc",
    "awsSourceVpce",
    "kmsKeyArn",
    "kmsOperation",
    "kmsRequestId",
    "kmsViaService",
)


@dataclass(slots=True)
class XksContext:
    """One XKS request as ops see it: the store it was signed for, who signed, its requestMetadata, and what
    it touched (for its audit event)."""

    store: XksKeyStore | None
    operation: str  # GetKeyMetadata, Encrypt, Decrypt, GetHealthStatus, or Unknown
    request_id: str
    region: str = ""
    access_key_id: str = ""
    source_ip: str = ""
    user_agent: str = ""
    uri_prefix: str = ""
    external_key_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)  # encryptionAlgorithm and the like: never data
    keys: list[str] = field(default_factory=list)
    authenticated: bool = False


@dataclass(frozen=True, slots=True)
class KeyMetadata:
    key_spec: str
    key_usage: tuple[str, ...]
    key_status: str


@dataclass(frozen=True, slots=True)
class Encrypted:
    sealed: crypto.Sealed
    integrity_value: bytes | None


@dataclass(frozen=True, slots=True)
class Health:
    fleet_size: int
    vendor: str
    model: str
    ekm_id: str
    ekm_model: str
    status: str  # ACTIVE, DEGRADED or UNAVAILABLE


def _version() -> str:
    try:
        return package_metadata.version("trent-kms")
    except package_metadata.PackageNotFoundError:
        return "dev"


def _resolve(deps: Deps, ctx: XksContext) -> tuple[Key, XksExposure]:
    """The exposure and its key; KeyNotFoundException, then AccessDeniedException (the allow-list)."""
    assert ctx.store is not None and ctx.external_key_id is not None
    exposure = deps.store.get_xks_exposure(ctx.store.uri_prefix, KeyId(ctx.external_key_id))
    key = None if exposure is None else deps.store.get_key(exposure.key_id)
    if exposure is None or key is None:
        raise KeyNotFoundException(f"The external key {ctx.external_key_id} is not found.")
    ctx.keys.append(key.arn)
    principal, operation = ctx.metadata.get("awsPrincipalArn", ""), ctx.metadata.get("kmsOperation", "")
    if exposure.allowed_principals and principal not in exposure.allowed_principals:
        raise AccessDeniedException(f"The awsPrincipalArn is not allowed to use external key {ctx.external_key_id}.")
    if exposure.allowed_operations and operation not in exposure.allowed_operations:
        raise AccessDeniedException(
            f"The kmsOperation {operation[:64]} is not allowed on external key {ctx.external_key_id}."
        )
    if key.custom_key_store_id is not None or key.origin not in SOFTWARE_ORIGINS:
        # Exposed before `expose` refused such keys, or a store written by hand: never served. The
        # specification's error for a key the proxy cannot use in any operation (InvalidKeyUsageException is
        # Encrypt's and Decrypt's only, this is GetKeyMetadata's too).
        raise InvalidStateException(f"The external key {ctx.external_key_id} is in a custom key store.")
    if key.spec is not KeySpec.SYMMETRIC_DEFAULT:
        raise InvalidKeyUsageException(f"The external key {ctx.external_key_id} is not an AES-256 key.")
    return key, exposure


def _enabled(deps: Deps, key: Key) -> bool:
    """The key's effective state is Enabled (ops/storekeys.py state_of: as every KMS operation sees it)."""
    return storekeys.state_of(deps.store, key) is KeyState.ENABLED


def _usable(deps: Deps, key: Key, exposure: XksExposure, ctx: XksContext, *needs: str) -> None:
    missing = [need for need in needs if need not in exposure.usage]
    if missing:
        raise InvalidKeyUsageException(
            f"The external key {ctx.external_key_id} does not support {' and '.join(missing)} "
            f"(its usage: {usage_text(exposure.usage)})."
        )
    if not _enabled(deps, key):
        raise InvalidStateException(f"The external key {ctx.external_key_id} is not enabled.")


def _material(deps: Deps, key: Key, version: int | None = None) -> bytes:
    try:
        return deps.keyring.load(deps.store, key, version).secret
    except KMSInvalidStateException:
        raise InvalidStateException(f"The external key {key.key_id} has no key material.") from None
    except MissingMaterial:
        if version is not None:
            raise  # a ciphertext names a version the key never had: Decrypt's InvalidCiphertextException
        raise InvalidStateException(f"The external key {key.key_id} has no key material.") from None


def get_key_metadata(deps: Deps, ctx: XksContext) -> KeyMetadata:
    key, exposure = _resolve(deps, ctx)
    usage = tuple(u for u in (ENCRYPT, DECRYPT) if u in exposure.usage)
    return KeyMetadata("AES_256", usage, "ENABLED" if _enabled(deps, key) else "DISABLED")


def encrypt(deps: Deps, ctx: XksContext, plaintext: Sensitive, aad: bytes, integrity: bool) -> Encrypted:
    """AES-256-GCM under the key's current material. With a CDIV asked for: the value computed first, then the
    answer decrypted and compared, as Appendix C recommends, so the key must allow DECRYPT too: AWS's test
    client (aws-samples/aws-kms-xksproxy-test-client, test_encrypt_only_key) expects an encrypt-only key to
    answer such an Encrypt with InvalidKeyUsageException."""
    key, exposure = _resolve(deps, ctx)
    _usable(deps, key, exposure, ctx, *((ENCRYPT, DECRYPT) if integrity else (ENCRYPT,)))
    material = _material(deps, key)
    sealed = crypto.seal(material, key.current_version, plaintext.reveal(), aad)
    if not integrity:
        return Encrypted(sealed, None)
    value = crypto.integrity_value(aad, sealed)
    try:
        ok = crypto.open_sealed(material, sealed, aad) == plaintext.reveal()
    except crypto.XksDecryptError:
        ok = False
    if not ok:
        raise InternalException("The encryption could not be verified.")
    return Encrypted(sealed, value)


def decrypt(deps: Deps, ctx: XksContext, sealed: crypto.Sealed, aad: bytes) -> Sensitive:
    key, exposure = _resolve(deps, ctx)
    _usable(deps, key, exposure, ctx, DECRYPT)
    invalid = InvalidCiphertextException(
        "The request was rejected because the specified ciphertext, initialization vector, additional "
        "authenticated data or authentication tag is corrupted, missing, or otherwise invalid."
    )
    try:
        version = crypto.material_version(sealed.ciphertext_metadata)
        material = _material(deps, key, version)
        return Sensitive(crypto.open_sealed(material, sealed, aad))
    except (crypto.XksDecryptError, MissingMaterial):
        raise invalid from None


def health(deps: Deps, ctx: XksContext) -> Health:
    """A deep check of what an Encrypt needs besides its key: the store answers, and AES-GCM works."""
    status = "ACTIVE"
    try:
        deps.store.is_empty()
        probe = crypto.seal(bytes(32), 0, b"trent xks health", b"")
        if crypto.open_sealed(bytes(32), probe, b"") != b"trent xks health":
            status = "UNAVAILABLE"
    except Exception:
        log.exception("XKS health check failed, request %s", ctx.request_id)
        status = "UNAVAILABLE"
    root = type(deps.root_of_trust).__name__
    return Health(1, "Trent", f"Trent XKS proxy {_version()}", socket.gethostname()[:64], f"Trent ({root})", status)


def event(deps: Deps, ctx: XksContext, error: XksError | None) -> AuditEvent:
    """The request's one audit record: operation, key store, requestMetadata, outcome. No plaintext, AAD,
    ciphertext, IV or tag can be in it: only the allow-listed metadata members and named string parameters."""
    parameters: dict[str, object] = {"uriPrefix": ctx.uri_prefix}
    if ctx.external_key_id is not None:
        parameters["externalKeyId"] = ctx.external_key_id
    recorded = {name: ctx.metadata[name] for name in RECORDED_METADATA if isinstance(ctx.metadata.get(name), str)}
    if recorded:
        parameters["requestMetadata"] = recorded
    parameters.update(ctx.parameters)
    identity = (
        UserIdentity("XksKeyStore", arn=ctx.store.uri_path, access_key_id=ctx.access_key_id)
        if ctx.authenticated and ctx.store is not None
        else UserIdentity("Unknown", access_key_id=ctx.access_key_id)
    )
    keys = tuple(dict.fromkeys(ctx.keys))
    return AuditEvent(
        event_name="Xks" + ctx.operation,
        event_time=deps.clock(),
        region=ctx.region,
        request_id=ctx.request_id,
        event_id=unique_id(),
        user_identity=identity,
        source_ip=ctx.source_ip,
        user_agent=ctx.user_agent,
        read_only=True,
        recipient_account_id=keys[0].split(":")[4] if keys else "",
        resources=keys,
        request_parameters=parameters,
        error_code=None if error is None else error.name,
        error_message=None if error is None else error.message,
        event_source=EVENT_SOURCE,
    )


def record(deps: Deps, ctx: XksContext, error: XksError | None, started: float) -> asyncio.Future[None]:
    """Submit the request's event: the answer waits until it is durable (fail closed)."""
    return dispatch.record(deps, event(deps, ctx, error), started)


def now() -> float:
    return time.perf_counter()
