"""PKCS#11 root of trust: every wrap and unwrap runs inside a token (an HSM), under root keys that never leave it.

A root key is an AES-256 token object: SENSITIVE, not EXTRACTABLE, not MODIFIABLE, not COPYABLE, PRIVATE, able
to ENCRYPT and DECRYPT only, labelled KEY_LABEL, its CKA_ID the root key id blobs name
("p11-rk-<version>-<random>"; the highest version is the active one). A wrap is CKM_AES_GCM in the token with
a random 96-bit nonce, a 128-bit tag and the caller's AAD; the blob is nonce || ciphertext || tag, the layout
of the software root (the token's ciphertext || tag is byte-for-byte what pyca's AESGCM gives).

Process model (docs/decisions/0013-pkcs11-root-of-trust.md): per process and module, one library
initialisation, one thread that makes every call (HsmThread), and per token one login session, opened on first
use in the process that uses it: a forked child re-initialises the module and logs in again instead of touching
its parent's sessions. A call that fails is retried once after re-initialising the module; a wrong PIN is
never tried twice. Failures while serving are RootUnavailable (KMSInternalException to the caller).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams

from trent.kms.sensitive import Sensitive
from trent.rootoftrust.base import RootSetupError, RootUnavailable, UnwrapError, WrappedMaterial
from trent.rootoftrust.pkcs11_module import PIN_ERRORS, REFRESH_SECONDS, Module, TokenSession

__all__ = ["ALGORITHM", "KEY_LABEL", "REFRESH_SECONDS", "NoRootKeyError", "Pkcs11Root", "TokenConfig", "read_pin"]

log = logging.getLogger("trent.rootoftrust")
T = TypeVar("T")

ALGORITHM = "PKCS11-AES-256-GCM"
KEY_LABEL = "trent-root-key"
DEFAULT_TIMEOUT = 5.0
_NONCE, _TAG_BITS = 12, 128
_KEY_ID = re.compile(r"p11-rk-(\d{4,9})-[0-9a-f]{8}")
_PROBE = b"trent pkcs11 probe"
# The template of every root key (PKCS#11 2.40 §4.10 secret keys): usable only to encrypt and decrypt inside
# the token, never readable, exportable, copyable or changeable.
ROOT_KEY_TEMPLATE: Mapping[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.MODIFIABLE: False,
    Attribute.COPYABLE: False,
    Attribute.ENCRYPT: True,
    Attribute.DECRYPT: True,
    Attribute.WRAP: False,
    Attribute.UNWRAP: False,
    Attribute.SIGN: False,
    Attribute.VERIFY: False,
    Attribute.DERIVE: False,
}
REPORTED_ATTRIBUTES = (
    Attribute.TOKEN,
    Attribute.PRIVATE,
    Attribute.SENSITIVE,
    Attribute.ALWAYS_SENSITIVE,
    Attribute.EXTRACTABLE,
    Attribute.NEVER_EXTRACTABLE,
    Attribute.MODIFIABLE,
    Attribute.COPYABLE,
    Attribute.LOCAL,
    Attribute.ENCRYPT,
    Attribute.DECRYPT,
    Attribute.WRAP,
    Attribute.UNWRAP,
    Attribute.SIGN,
    Attribute.VERIFY,
    Attribute.DERIVE,
)


@dataclass(frozen=True, slots=True)
class TokenConfig:
    """Where the root keys are: the module (a shared library), the token's label, the user PIN."""

    module: str
    token_label: str
    pin: Sensitive = field(repr=False)
    pin_source: str = "the PIN"  # how messages name where the PIN came from (a file path)
    timeout: float = DEFAULT_TIMEOUT


class NoRootKeyError(RootSetupError):
    """The token holds no Trent root key (and none was to be made)."""


class _Missing(Exception):
    """The token shows no root key of this id (or none at all)."""


class Pkcs11Root:
    """The root of trust in a PKCS#11 token. Build it with `open`; `close` logs out of the token."""

    def __init__(self, config: TokenConfig, module: Module) -> None:
        self._config = config
        self._module = module
        self._closed = False

    def __repr__(self) -> str:
        return f"Pkcs11Root(module={self._config.module!r}, token={self._config.token_label!r})"

    @property
    def token_label(self) -> str:
        return self._config.token_label

    @classmethod
    def open(cls, config: TokenConfig, *, create: bool) -> Pkcs11Root:
        """Reach the token, log in and find its root keys; with `create`, make the first one if it has none.
        Every problem is a RootSetupError naming the module, token or PIN source (never the PIN)."""
        if not Path(config.module).is_file():
            raise RootSetupError(f"PKCS#11 module {config.module} does not exist (--pkcs11-module)")
        root = cls(config, Module.get(config.module, config.timeout))
        try:
            if root._call(lambda: root._key_ids(refresh=True), "open") == () and create:
                root.add_key()
            if not root.key_ids():
                raise NoRootKeyError(
                    f"PKCS#11 token {config.token_label!r} holds no Trent root key (label {KEY_LABEL!r}): it is not "
                    "the token this store was made with"
                )
        except RootSetupError:
            root.close()
            raise
        except (RootUnavailable, p11.PKCS11Error) as exc:
            message = root._setup_message(exc)  # before close: it may ask the module which tokens there are
            root.close()
            raise RootSetupError(message) from None
        return root

    def _setup_message(self, exc: Exception) -> str:
        c = self._config
        cause = (exc.__cause__ or exc.__context__) if isinstance(exc, RootUnavailable) else exc
        if isinstance(exc, RootUnavailable) and not isinstance(cause, p11.PKCS11Error):
            return f"PKCS#11 token {c.token_label!r}: {exc}"
        if isinstance(cause, PIN_ERRORS):
            return (
                f"{c.pin_source} does not hold the user PIN of PKCS#11 token {c.token_label!r}: the token refused it "
                f"({type(cause).__name__}; Trent does not try a PIN twice)"
            )
        if isinstance(cause, p11.NoSuchToken):
            labels = self._labels()
            present = ", ".join(repr(label) for label in labels) if labels else "none"
            return f"no PKCS#11 token labelled {c.token_label!r} in module {c.module} (tokens present: {present})"
        text = str(cause).strip()
        if "loading" in text:
            return f"PKCS#11 module {c.module} cannot be loaded: {text.split(': ', 1)[-1]}"
        return (
            f"PKCS#11 module {c.module} failed to reach token {c.token_label!r} ({type(cause).__name__}"
            f"{': ' + text if text else ''}); for SoftHSM2, check the configuration SOFTHSM2_CONF names and its "
            "token directory"
        )

    def _labels(self) -> list[str]:
        def labels() -> list[str]:
            return [t.label for t in self._module.library().get_tokens()]

        try:
            return self._module.thread.run(labels)
        except (RootUnavailable, p11.PKCS11Error):
            return []

    # -- the port --------------------------------------------------------------------------------------------
    @property
    def active_key_id(self) -> str:
        return self._call(lambda: self._active(refresh=False), "find the active root key")

    def key_ids(self) -> tuple[str, ...]:
        """Every root key version in the token, oldest first."""
        return self._call(lambda: self._key_ids(refresh=True), "list the root keys")

    def wrap(self, material: Sensitive, aad: bytes) -> WrappedMaterial:
        def wrap() -> WrappedMaterial:
            rid = self._active(refresh=False)
            nonce = os.urandom(_NONCE)
            sealed = self._key(rid).encrypt(
                material.reveal(), mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad, _TAG_BITS)
            )
            return WrappedMaterial(rid, ALGORITHM, nonce + bytes(sealed))

        return self._call(wrap, "wrap")

    def unwrap(self, wrapped: WrappedMaterial, aad: bytes) -> Sensitive:
        if wrapped.algorithm != ALGORITHM or _KEY_ID.fullmatch(wrapped.root_key_id) is None:
            raise UnwrapError(f"unknown root key {wrapped.root_key_id!r} or algorithm {wrapped.algorithm!r}")
        if len(wrapped.blob) < _NONCE + _TAG_BITS // 8:
            raise UnwrapError("wrapped material is truncated")

        def unwrap() -> Sensitive:
            key = self._key(wrapped.root_key_id)
            nonce, sealed = wrapped.blob[:_NONCE], wrapped.blob[_NONCE:]
            try:
                opened = key.decrypt(
                    sealed, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad, _TAG_BITS)
                )
            except (p11.GeneralError, p11.EncryptedDataInvalid, p11.EncryptedDataLenRange):
                # SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR, which a failing token also answers: a probe
                # round trip under the same key tells the two apart (PKCS11.md §2a).
                self._probe(key)
                raise UnwrapError("wrapped material failed authentication") from None
            return Sensitive(bytes(opened))

        return self._call(unwrap, "unwrap", missing=UnwrapError)

    def add_key(self) -> str:
        """Generate the next root key version in the token; it is the active one from now on (for every process
        within REFRESH_SECONDS). Never called on its own by serving: only first start and rotation make keys."""

        def add() -> str:
            versions = [_version(rid) for rid in self._key_ids(refresh=True)]
            rid = f"p11-rk-{max(versions, default=0) + 1:04d}-{secrets.token_hex(4)}"
            session = self._token().session
            template = dict(ROOT_KEY_TEMPLATE)
            try:
                session.generate_key(KeyType.AES, 256, id=rid.encode(), label=KEY_LABEL, store=True, template=template)
            except p11.AttributeTypeInvalid:  # a module older than PKCS#11 2.40 does not know CKA_COPYABLE
                del template[Attribute.COPYABLE]
                session.generate_key(KeyType.AES, 256, id=rid.encode(), label=KEY_LABEL, store=True, template=template)
            self._key_ids(refresh=True)
            return rid

        rid = self._call(add, "generate a root key")
        log.info("generated root key %s in PKCS#11 token %r", rid, self._config.token_label)
        return rid

    def key_attributes(self, key_id: str) -> dict[str, bool]:
        """The security attributes of a root key object, as the token reports them (for checks and tests)."""

        def read() -> dict[str, bool]:
            key = self._key(key_id)
            return {a.name: bool(key[a]) for a in REPORTED_ATTRIBUTES}

        return self._call(read, "read root key attributes", missing=UnwrapError)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._module.release()

    # -- on the HSM thread ----------------------------------------------------------------------------------
    def _token(self) -> TokenSession:
        return self._module.token(self._config.token_label, self._config.pin.reveal())

    def _key_ids(self, *, refresh: bool) -> tuple[str, ...]:
        token = self._token()
        if refresh or time.monotonic() - token.listed_at >= REFRESH_SECONDS:
            found = token.session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: KEY_LABEL})
            keys: dict[str, Any] = {}
            for obj in found:
                rid = bytes(obj[Attribute.ID]).decode(errors="replace")
                if _KEY_ID.fullmatch(rid):
                    keys[rid] = obj
            token.keys = keys
            token.active = max(keys, key=lambda rid: (_version(rid), rid), default=None)
            token.listed_at = time.monotonic()
        return tuple(sorted(token.keys, key=lambda rid: (_version(rid), rid)))

    def _active(self, *, refresh: bool) -> str:
        self._key_ids(refresh=refresh)
        active = self._token().active
        if active is None:
            raise _Missing("the token holds no root key")
        return active

    def _key(self, rid: str) -> Any:
        token = self._token()
        key = token.keys.get(rid)
        if key is None:
            self._key_ids(refresh=True)  # made since this process last looked (a rotation elsewhere)
            key = token.keys.get(rid)
        if key is None:
            raise _Missing(f"the token holds no root key {rid!r}")
        return key

    @staticmethod
    def _probe(key: Any) -> None:
        nonce = os.urandom(_NONCE)
        params = GCMParams(nonce, b"probe", _TAG_BITS)
        sealed = key.encrypt(_PROBE, mechanism=Mechanism.AES_GCM, mechanism_param=params)
        if key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=params) != _PROBE:
            raise p11.GeneralError("the token's probe round trip gave something else")

    def _call(self, operation: Callable[[], T], what: str, missing: type[Exception] = RootUnavailable) -> T:
        """Run `operation` on the module's thread; once more after re-initialising if the token failed (logged,
        except while opening: a failure to open is the caller's one message)."""
        module, label = self._module, self._config.token_label
        if self._closed:
            raise RootUnavailable(f"the root of trust in token {label!r} is closed")

        def attempt() -> T:
            for retry in (False, True):
                try:
                    return operation()
                except PIN_ERRORS as exc:
                    raise RootUnavailable(f"PKCS#11 token {label!r} refused the PIN") from exc
                except (p11.PKCS11Error, _Missing) as exc:
                    if retry:
                        if isinstance(exc, _Missing):
                            raise missing(f"{exc} (PKCS#11 token {label!r})") from None
                        raise RootUnavailable(f"PKCS#11 token {label!r} failed to {what}: {_name(exc)}") from exc
                    level = logging.DEBUG if what == "open" else logging.WARNING
                    log.log(level, "PKCS#11 token %r failed to %s (%s); re-initialising", label, what, _name(exc))
                    module.reset()
            raise AssertionError("unreachable")

        return module.thread.run(attempt)


def _version(rid: str) -> int:
    found = _KEY_ID.fullmatch(rid)
    return int(found.group(1)) if found else 0


def _name(exc: Exception) -> str:
    text = str(exc).strip()
    return type(exc).__name__ + (f" ({text})" if text and len(text) < 120 else "")


def read_pin(path: Path) -> Sensitive:
    """The user PIN from a file of mode 0600 (or stricter); a trailing newline is not part of it."""
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise RootSetupError(f"PKCS#11 PIN file {path} has mode {mode:o}; it must not be readable by others")
        pin = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise RootSetupError(f"PKCS#11 PIN file {path} cannot be read: {exc.strerror}") from None
    if not pin:
        raise RootSetupError(f"PKCS#11 PIN file {path} is empty")
    return Sensitive(pin)
