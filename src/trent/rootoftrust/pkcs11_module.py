"""A PKCS#11 module in this process: loaded and initialised once, called from one thread (HsmThread), with one
login session per token, opened on first use in the process that uses it (rootoftrust/pkcs11.py says why).

After a fork the child never touches its parent's sessions or object handles: it initialises the module again
(C_Finalize of the inherited copy, then C_Initialize) and logs in itself. A PIN the token refused is never
offered again by the process (an HSM locks a PIN after a few wrong ones).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import exceptions as p11

from trent.rootoftrust.base import RootUnavailable
from trent.rootoftrust.hsm import HsmThread

PIN_ERRORS = (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, p11.PinExpired, p11.PinLocked)
REFRESH_SECONDS = 1.0  # how stale a process's idea of the active root key may be when it wraps


class TokenSession:
    """One token's login session in this process, the PIN it logged in with (a digest), and the root key
    objects found in it; `objects`: the key objects of a custom key store's keys found in it (tokenkeys.py)."""

    def __init__(self, session: Any, pin_digest: bytes = b"") -> None:
        self.session = session
        self.pin_digest = pin_digest
        self.keys: dict[str, Any] = {}
        self.objects: dict[str, Any] = {}
        self.active: str | None = None
        self.listed_at = -REFRESH_SECONDS


class Module:
    """A PKCS#11 module loaded in this process, shared by every root on it: the library, the one thread that
    calls it, and each token's session. Apart from get and release, its methods run on that thread."""

    _loaded: dict[str, Module] = {}
    _guard = threading.Lock()

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.thread = HsmThread(f"pkcs11 {Path(path).name}", timeout)
        self.lib: Any = None
        self.pid = -1
        self.tokens: dict[str, TokenSession] = {}
        # (token, PIN digest) pairs the token refused: never offered again by this process
        self.refused: set[tuple[str, bytes]] = set()
        self.users = 0

    @classmethod
    def get(cls, path: str, timeout: float) -> Module:
        with cls._guard:
            module = cls._loaded.get(path)
            if module is None:
                module = cls._loaded[path] = Module(path, timeout)
            module.users += 1
            return module

    def release(self) -> None:
        """One root on the module is done; the last one logs out and finalises the module (under the guard, so
        no new root starts on the module meanwhile: the next one initialises it afresh)."""
        with self._guard:
            self.users -= 1
            if self.users > 0:
                return
            self._loaded.pop(self.path, None)
            with contextlib.suppress(RootUnavailable):
                self.thread.run(self._finalize)
            self.thread.stop()

    def library(self) -> Any:
        if self.lib is not None and self.pid == os.getpid() and self.lib.initialized:
            return self.lib
        self.tokens.clear()  # never a parent's session or object handle
        lib = pkcs11.lib(self.path)  # dlopen and C_Initialize, once per process (python-pkcs11 caches it)
        if self.pid not in (-1, os.getpid()):  # forked: the library state is a copy of the parent's
            with contextlib.suppress(p11.PKCS11Error):  # a module that resets at fork is not initialised here
                lib.finalize()
            lib.initialize()
        self.lib, self.pid = lib, os.getpid()
        return lib

    def token(self, label: str, pin: bytes) -> TokenSession:
        """The process's login session on the token. Another PIN than the one it logged in with is refused
        (PinIncorrect) without asking the token: a second login cannot check it, and logging out would end
        every other user's session (PKCS11.md §4)."""
        lib = self.library()
        digest = hashlib.sha256(pin).digest()
        found = self.tokens.get(label)
        if found is not None:
            if not hmac.compare_digest(found.pin_digest, digest):
                raise p11.PinIncorrect()
            return found
        if (label, digest) in self.refused:
            raise RootUnavailable(f"the PIN of token {label!r} was refused; restart with the right one")
        token = lib.get_token(token_label=label)
        try:
            session = token.open(user_pin=pin.decode(), rw=True)
        except PIN_ERRORS:
            self.refused.add((label, digest))  # an HSM locks a PIN after a few tries: this was one
            raise
        found = self.tokens[label] = TokenSession(session, digest)
        return found

    def reset(self) -> None:
        """After a failure: forget every session and handle; the next call initialises the module again."""
        self._finalize()
        self.tokens.clear()

    def _finalize(self) -> None:
        mine = self.pid == os.getpid()  # a forked child never closes its parent's sessions
        for token in self.tokens.values() if mine else ():
            with contextlib.suppress(p11.PKCS11Error):
                token.session.close()  # logs out: this is the process's one login on the token
        self.tokens.clear()
        if self.lib is not None and mine:
            with contextlib.suppress(p11.PKCS11Error):
                self.lib.finalize()
            self.lib = None


def _after_fork_in_child() -> None:
    Module._guard = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)
