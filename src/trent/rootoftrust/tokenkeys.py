"""Keys of custom key stores: AES-256 key objects inside a PKCS#11 token, used there and never anywhere else.

A key of an AWS_CLOUDHSM custom key store is one token object, generated in the token with the root keys'
template (pkcs11.py ROOT_KEY_TEMPLATE: SENSITIVE, not EXTRACTABLE, not COPYABLE, not MODIFIABLE, ENCRYPT and
DECRYPT only): its CKA_ID is the KMS key id and its CKA_LABEL the key ARN, as AWS labels the key it makes in
a CloudHSM cluster (Developer Guide, "Create a KMS key in an AWS CloudHSM key store"). Encrypt and decrypt
are CKM_AES_GCM in the token with the caller's 96-bit IV, AAD and a 128-bit tag.

Calls go through the PKCS#11 root's process model (pkcs11_module.py): one module initialisation, one thread
and one login per token per process, made anew after a fork; a failed call is retried once after
re-initialising the module; a refused PIN is never offered twice. A token that fails or does not answer is
RootUnavailable (KMSInternalException to the caller), never a hang.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from trent.kms.sensitive import Sensitive
from trent.rootoftrust.base import RootUnavailable

if TYPE_CHECKING:
    from trent.rootoftrust.pkcs11_module import Module, TokenSession

# python-pkcs11 (and this package's modules on it) are imported where a token is used, never at import: every
# process holds a TokenKeys (in Deps), and a server without custom key stores starts ~20 ms sooner without it.

T = TypeVar("T")
_TAG_BITS = 128
_PROBE = b"trent key store probe"


class LoginRefused(Exception):
    """The token refused the PIN (KeyStorePassword): ConnectionErrorCode INVALID_CREDENTIALS."""


class TokenMissing(Exception):
    """The module cannot be loaded, or holds no token of the label: no HSM to connect to."""


class NoKeyObject(Exception):
    """The token holds no key object of this key id (destroyed, or never made there)."""


class OpenFailed(Exception):
    """AES-GCM authentication failed in the token: a wrong ciphertext, IV, tag or AAD (the token works)."""


@dataclass(frozen=True, slots=True)
class TokenRef:
    """Where a custom key store's keys are: its cluster's module and token, and the token user's PIN."""

    module: str
    token_label: str
    pin: Sensitive = field(repr=False)


class TokenKeys:
    """This process's access to the tokens of custom key stores (one per process; Deps holds it)."""

    def __init__(self, timeout: float | None = None) -> None:
        self._timeout = timeout  # None: rootoftrust/pkcs11.py's DEFAULT_TIMEOUT
        self._modules: dict[str, Module] = {}
        self._guard = threading.Lock()
        self._pins: dict[tuple[str, bytes], Sensitive] = {}

    def __repr__(self) -> str:
        return f"TokenKeys(modules={len(self._modules)})"

    def close(self) -> None:
        """Release the modules (the last user of one logs out and finalises it); the next call loads it again."""
        with self._guard:
            modules, self._modules = self._modules, {}
            self._pins.clear()
        for module in modules.values():
            module.release()

    def pin(self, store_id: str, wrapped: bytes, unwrap: Callable[[], Sensitive]) -> Sensitive:
        """The store's PIN, unwrapped once per (store, wrapped bytes): those never change (UpdateCustomKeyStore
        wraps a new password into new bytes)."""
        ref = (store_id, hashlib.sha256(wrapped).digest())
        found = self._pins.get(ref)
        if found is None:
            found = self._pins[ref] = unwrap()
        return found

    # -- operations ------------------------------------------------------------------------------------------
    def connect(self, ref: TokenRef) -> None:
        """Log in (once per process): LoginRefused, TokenMissing or RootUnavailable when it cannot."""
        self._call(ref, lambda token: None, "log in")

    def generate(self, ref: TokenRef, key_id: str, label: str) -> None:
        def generate(token: TokenSession) -> None:
            from pkcs11 import Attribute, KeyType
            from pkcs11 import exceptions as p11

            from trent.rootoftrust.pkcs11 import ROOT_KEY_TEMPLATE

            template = dict(ROOT_KEY_TEMPLATE)
            try:
                obj = token.session.generate_key(
                    KeyType.AES, 256, id=key_id.encode(), label=label, store=True, template=template
                )
            except p11.AttributeTypeInvalid:  # a module older than PKCS#11 2.40 does not know CKA_COPYABLE
                del template[Attribute.COPYABLE]
                obj = token.session.generate_key(
                    KeyType.AES, 256, id=key_id.encode(), label=label, store=True, template=template
                )
            token.objects[key_id] = obj

        self._call(ref, generate, "generate a key")

    def encrypt(self, ref: TokenRef, key_id: str, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """ciphertext || tag."""

        def encrypt(token: TokenSession) -> bytes:
            from pkcs11 import Mechanism
            from pkcs11.mechanisms import GCMParams

            params = GCMParams(iv, aad, _TAG_BITS)
            return bytes(
                self._object(token, key_id).encrypt(plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=params)
            )

        return self._call(ref, encrypt, "encrypt")

    def decrypt(self, ref: TokenRef, key_id: str, iv: bytes, sealed: bytes, aad: bytes) -> bytes:
        """The plaintext of ciphertext || tag; OpenFailed if it does not authenticate."""

        def decrypt(token: TokenSession) -> bytes:
            from pkcs11 import Mechanism
            from pkcs11 import exceptions as p11
            from pkcs11.mechanisms import GCMParams

            key = self._object(token, key_id)
            try:
                opened = key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad, _TAG_BITS))
            except (p11.GeneralError, p11.EncryptedDataInvalid, p11.EncryptedDataLenRange):
                # SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR, as a failing token would: a probe round
                # trip under the same key tells the two apart (as the PKCS#11 root does).
                _probe(key)
                raise OpenFailed() from None
            return bytes(opened)

        return self._call(ref, decrypt, "decrypt")

    def destroy(self, ref: TokenRef, key_id: str) -> bool:
        """Destroy the key's object; False if the token holds none."""

        def destroy(token: TokenSession) -> bool:
            from pkcs11 import Attribute, ObjectClass

            token.objects.pop(key_id, None)
            found = list(
                token.session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.ID: key_id.encode()})
            )
            for obj in found:
                obj.destroy()
            return bool(found)

        return self._call(ref, destroy, "destroy a key")

    def attributes(self, ref: TokenRef, key_id: str) -> dict[str, bool]:
        """The key object's security attributes as the token reports them (for checks and tests)."""

        def read(token: TokenSession) -> dict[str, bool]:
            from trent.rootoftrust.pkcs11 import REPORTED_ATTRIBUTES

            key = self._object(token, key_id)
            return {a.name: bool(key[a]) for a in REPORTED_ATTRIBUTES}

        return self._call(ref, read, "read key attributes")

    def random(self, ref: TokenRef, count: int) -> bytes:
        return self._call(ref, lambda token: bytes(token.session.generate_random(count * 8)), "generate random")

    # -- on the module's thread ------------------------------------------------------------------------------
    @staticmethod
    def _object(token: TokenSession, key_id: str) -> Any:
        from pkcs11 import Attribute, ObjectClass

        obj = token.objects.get(key_id)
        if obj is None:
            found = list(
                token.session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.ID: key_id.encode()})
            )
            if not found:
                raise NoKeyObject(key_id)
            obj = token.objects[key_id] = found[0]
        return obj

    def _module(self, path: str) -> Module:
        from trent.rootoftrust.pkcs11 import DEFAULT_TIMEOUT
        from trent.rootoftrust.pkcs11_module import Module

        with self._guard:
            module = self._modules.get(path)
            if module is None:
                if not Path(path).is_file():
                    raise TokenMissing(f"PKCS#11 module {path} does not exist")
                timeout = DEFAULT_TIMEOUT if self._timeout is None else self._timeout
                module = self._modules[path] = Module.get(path, timeout)
            return module

    def _call(self, ref: TokenRef, operation: Callable[[TokenSession], T], what: str) -> T:
        from pkcs11 import exceptions as p11

        from trent.rootoftrust.pkcs11_module import PIN_ERRORS

        module = self._module(ref.module)
        label = ref.token_label

        def attempt() -> T:
            for retry in (False, True):
                try:
                    return operation(module.token(label, ref.pin.reveal()))
                except PIN_ERRORS as exc:
                    raise LoginRefused(f"PKCS#11 token {label!r} refused the PIN") from exc
                except OpenFailed:
                    raise
                except (p11.PKCS11Error, NoKeyObject) as exc:
                    # A missing token or object too: a module lists the tokens it had at C_Initialize (SoftHSM2
                    # reads its token directory then), and a token going away shows no objects; re-initialised,
                    # it either fails (RootUnavailable) or truly lacks the token or the object.
                    if retry:
                        if isinstance(exc, NoKeyObject):
                            raise
                        if isinstance(exc, p11.NoSuchToken):
                            raise TokenMissing(f"no PKCS#11 token labelled {label!r} in module {ref.module}") from exc
                        raise RootUnavailable(
                            f"PKCS#11 token {label!r} failed to {what}: {type(exc).__name__}"
                        ) from exc
                    module.reset()  # every session and handle of this process on the module, made anew
            raise AssertionError("unreachable")

        return module.thread.run(attempt)


def _probe(key: Any) -> None:
    from pkcs11 import Mechanism
    from pkcs11 import exceptions as p11
    from pkcs11.mechanisms import GCMParams

    params = GCMParams(os.urandom(12), b"probe", _TAG_BITS)
    sealed = key.encrypt(_PROBE, mechanism=Mechanism.AES_GCM, mechanism_param=params)
    if key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=params) != _PROBE:
        raise p11.GeneralError("the token's probe round trip gave something else")
