"""SoftHSM2 tokens for tests: each in a directory of its own, reached through a SOFTHSM2_CONF of its own (SoftHSM2
reads it at C_Initialize), made with softhsm2-util. Debian's softhsm2 package; `.ci/run` installs it."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


class NoSoftHsmError(RuntimeError):
    """softhsm2 is not installed (apt-get install softhsm2)."""


def module_path() -> str:
    given = os.environ.get("PKCS11_MODULE")
    for candidate in (given, *MODULE_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    raise NoSoftHsmError("SoftHSM2 is not installed: apt-get install softhsm2 (the PKCS#11 tests need it)")


@dataclass(frozen=True)
class Token:
    """One SoftHSM2 token: its directory (config, token store, PIN file), label and PINs."""

    directory: Path
    label: str
    pin: str
    so_pin: str
    module: str

    @property
    def conf(self) -> Path:
        return self.directory / "softhsm2.conf"

    @property
    def tokens(self) -> Path:
        return self.directory / "tokens"

    @property
    def pin_file(self) -> Path:
        return self.directory / "pin"

    def env(self) -> dict[str, str]:
        """The environment a process needs to reach this token (and nothing else)."""
        return {"SOFTHSM2_CONF": str(self.conf)}

    def server_env(self) -> dict[str, str]:
        """For `trent serve` and `trent admin`: a PKCS#11 root of trust in this token, by TRENT_* variables."""
        return {
            **self.env(),
            "TRENT_ROOT_OF_TRUST": "pkcs11",
            "TRENT_PKCS11_MODULE": self.module,
            "TRENT_PKCS11_TOKEN_LABEL": self.label,
            "TRENT_PKCS11_PIN_FILE": str(self.pin_file),
        }

    def flags(self) -> list[str]:
        return [
            "--root-of-trust",
            "pkcs11",
            "--pkcs11-module",
            self.module,
            "--pkcs11-token-label",
            self.label,
            "--pkcs11-pin-file",
            str(self.pin_file),
        ]

    def remove(self) -> Path:
        """Take the token away (its object store moved aside), as pulling an HSM would; returns where it went."""
        aside = self.directory / "tokens-removed"
        self.tokens.rename(aside)
        return aside

    def put_back(self) -> None:
        (self.directory / "tokens-removed").rename(self.tokens)

    def objects(self) -> list[Path]:
        """The token's object files (SoftHSM2 keeps each object in a file of its own)."""
        return sorted(p for p in self.tokens.rglob("*.object") if p.name != "token.object")


def make_token(directory: Path, label: str = "trent-root", pin: str | None = None) -> Token:
    """Initialise a new token in `directory` (made if need be), with random PINs unless `pin` is given."""
    softhsm2_util = shutil.which("softhsm2-util")
    if softhsm2_util is None:
        raise NoSoftHsmError("softhsm2-util is not installed: apt-get install softhsm2")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokens").mkdir(mode=0o700)
    token = Token(directory, label, pin or secrets.token_hex(8), secrets.token_hex(8), module_path())
    token.conf.write_text(
        f"directories.tokendir = {token.tokens}/\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
        "slots.mechanisms = ALL\n"
        "library.reset_on_fork = false\n"
    )
    fd = os.open(token.pin_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token.pin + "\n")
    subprocess.run(
        [softhsm2_util, "--init-token", "--free", "--label", label, "--so-pin", token.so_pin, "--pin", token.pin],
        env={**os.environ, **token.env()},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return token


def in_token(token: Token, script: str) -> str:
    """Run `script` (Python, with `lib`, `session` (logged in as the user) and `pkcs11` bound) in a process of its
    own on the token: what anyone holding the PIN could do, beside Trent's own login."""
    prelude = (
        "import pkcs11\n"
        f"lib = pkcs11.lib({token.module!r})\n"
        f"session = lib.get_token(token_label={token.label!r}).open(user_pin={token.pin!r}, rw=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + script],
        env={**os.environ, **token.env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
