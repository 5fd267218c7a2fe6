"""Keys in a custom key store (Origin AWS_CLOUDHSM): made, used and destroyed inside the store's token.

- Key state: a key in a store that is not CONNECTED is `Unavailable` ("The KMS key is in a custom key store
  that is disconnected", key-state page), unless it is pending deletion; its own state (Enabled, Disabled) is
  kept and comes back when the store connects ("the state changes only when the key becomes available").
  The store's record is read as freshly as the key's (store-backed, memoized only until the next commit:
  docs/decisions/0006-store-epoch.md), so a Disconnect that returned is obeyed by every worker and node.
- Ciphertexts have the blob layout of every symmetric key (crypto/ciphertext.py: key id, material version 1,
  nonce, IV), and the same AAD: the blob header then the encryption context's encoding. The token runs
  AES-256-GCM with the key object itself under the blob's IV (the header's nonce is random and unused), so
  Decrypt tells the keys apart by the key the blob names, never by the blob.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from trent.crypto import ciphertext
from trent.kms.errors import (
    CustomKeyStoreInvalidStateException,
    InvalidCiphertextException,
    KMSInternalException,
    KMSInvalidStateException,
)
from trent.kms.keys import Key
from trent.kms.keystores import CloudHsmConfig, CustomKeyStore
from trent.kms.sensitive import Sensitive
from trent.kms.specs import KeyState
from trent.ops.deps import Deps
from trent.rootoftrust.base import RootUnavailable, UnwrapError, WrappedMaterial, key_store_password_aad
from trent.rootoftrust.tokenkeys import LoginRefused, NoKeyObject, OpenFailed, TokenMissing, TokenRef
from trent.store.base import Reader

log = logging.getLogger("trent.keystores")
T = TypeVar("T")
VERSION = 1  # a key in a custom key store has one material version, its token object, and never rotates
_TAG = 16
# What a key's own state becomes while its store is not connected.
_HIDDEN = frozenset({KeyState.ENABLED, KeyState.DISABLED})


def state_of(reader: Reader, key: Key) -> KeyState:
    """The key's state as AWS reports it: Unavailable while its custom key store is not connected."""
    if key.custom_key_store_id is None or key.state not in _HIDDEN:
        return key.state  # no store read needed
    return shown_state(key, reader.get_custom_key_store(key.custom_key_store_id))


def shown_state(key: Key, store: CustomKeyStore | None) -> KeyState:
    """state_of, given the key's store as read already (None: it has none, or it is gone)."""
    if key.custom_key_store_id is None or key.state not in _HIDDEN:
        return key.state
    return key.state if store is not None and store.connected else KeyState.UNAVAILABLE


def store_of(reader: Reader, key: Key) -> CustomKeyStore | None:
    return None if key.custom_key_store_id is None else reader.get_custom_key_store(key.custom_key_store_id)


def token_ref(deps: Deps, reader: Reader, store: CustomKeyStore) -> TokenRef:
    """Where the store's keys are and the PIN that opens them (unwrapped once per process and password)."""
    config = store.config
    if not isinstance(config, CloudHsmConfig):
        raise TokenMissing(f"custom key store {store.custom_key_store_id} has no token")
    cluster = reader.get_hsm_cluster(config.cluster_id)
    if cluster is None:
        raise TokenMissing(f"cluster {config.cluster_id} is not registered")
    wrapped = config.wrapped_password

    def unwrap() -> Sensitive:
        try:
            aad = key_store_password_aad(store.custom_key_store_id)
            return deps.root_of_trust.unwrap(WrappedMaterial.from_bytes(wrapped), aad)
        except UnwrapError as exc:
            raise KMSInternalException() from exc

    return TokenRef(cluster.module, cluster.token_label, deps.tokens.pin(store.custom_key_store_id, wrapped, unwrap))


def _serving(deps: Deps, key: Key, call: Callable[[TokenRef], T]) -> T:
    """Run `call` on the key's token. A store that is not connected (any more) is the key-state error; a token
    that fails, refuses the PIN or is gone is KMSInternalException (never a success, never a hang)."""
    store = store_of(deps.store, key)
    if store is None or not store.connected:
        raise KMSInvalidStateException(f"{key.arn} is unavailable.")
    try:
        return call(token_ref(deps, deps.store, store))
    except NoKeyObject:
        # "The AWS CloudHSM cluster must contain the key material for the KMS key ... If these conditions are
        # not met, the cryptographic operation fails, and AWS KMS returns a KMSInvalidStateException"
        # (Developer Guide, "Using KMS keys in an AWS CloudHSM key store").
        raise KMSInvalidStateException(f"{key.arn} is unavailable.") from None
    except (RootUnavailable, LoginRefused, TokenMissing) as exc:
        log.warning("custom key store %s cannot serve key %s: %s", store.custom_key_store_id, key.key_id, exc)
        raise KMSInternalException() from None


def create(deps: Deps, store: CustomKeyStore, key: Key) -> None:
    """Generate the key's AES-256 object in the store's token (the store is CONNECTED: CreateKey checked)."""
    try:
        deps.tokens.generate(token_ref(deps, deps.store, store), key.key_id, key.arn)
    except (RootUnavailable, LoginRefused, TokenMissing, NoKeyObject) as exc:
        log.warning("custom key store %s cannot make key %s: %s", store.custom_key_store_id, key.key_id, exc)
        raise KMSInternalException() from None


def seal(deps: Deps, key: Key, plaintext: bytes, context_aad: bytes) -> bytes:
    header, iv = ciphertext.new_header(key.key_id, VERSION)
    body = _serving(deps, key, lambda ref: deps.tokens.encrypt(ref, key.key_id, iv, plaintext, header + context_aad))
    return header + body


def open_blob(deps: Deps, key: Key, blob: ciphertext.Blob, context_aad: bytes) -> bytes:
    if blob.material_version != VERSION or len(blob.body) < _TAG:
        raise InvalidCiphertextException()
    try:
        return _serving(
            deps, key, lambda ref: deps.tokens.decrypt(ref, key.key_id, blob.iv, blob.body, blob.header + context_aad)
        )
    except OpenFailed:
        raise InvalidCiphertextException() from None


def destroy(deps: Deps, key: Key) -> None:
    """Destroy the key's token object, as AWS does "a best effort to delete the key material from the associated
    cluster" (DeleteCustomKeyStore); a token that cannot be reached keeps it, and the log says so."""
    store = store_of(deps.store, key)
    try:
        if store is None:
            raise TokenMissing(f"custom key store {key.custom_key_store_id} is gone")
        deps.tokens.destroy(token_ref(deps, deps.store, store), key.key_id)
    except (RootUnavailable, LoginRefused, TokenMissing, KMSInternalException) as exc:
        log.warning("the token object of destroyed key %s was not destroyed (%s): remove it by hand", key.key_id, exc)


def invalid_state(store: CustomKeyStore, operation: str) -> CustomKeyStoreInvalidStateException:
    return CustomKeyStoreInvalidStateException(
        f"Custom key store {store.custom_key_store_id} is {store.connection_state}, which is not valid for {operation}."
    )


def require_connected(store: CustomKeyStore, operation: str) -> None:
    if not store.connected:
        raise invalid_state(store, operation)
