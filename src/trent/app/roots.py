"""The root of trust the settings name: the software root key file (sealed or not, perhaps handing over to a
token), or a PKCS#11 token; how messages name it; and the checks that it is the one the store was made with."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from trent.app.storage import ROOT_CHECK_BLOB, SetupError, database_name, held_data
from trent.config import Settings
from trent.kms.sensitive import Sensitive
from trent.rootoftrust.base import RootOfTrust, UnwrapError, WrappedMaterial
from trent.rootoftrust.check import make_check, opens_check
from trent.rootoftrust.keyfile import RootKeyFileError
from trent.rootoftrust.software import SoftwareRoot
from trent.store.base import Store

if TYPE_CHECKING:
    # python-pkcs11 is imported only for a PKCS#11 root of trust (or a software one that hands over to it).
    from trent.rootoftrust.pkcs11 import TokenConfig


def root_name(settings: Settings) -> str:
    """The root of trust as messages name it."""
    if settings.root_of_trust == "pkcs11":
        return f"PKCS#11 token {settings.pkcs11_token_label!r}"
    return f"root key file {settings.root_key_path}"


def token_spec(settings: Settings) -> dict[str, str]:
    """The settings of the PKCS#11 token the settings name, as a software keyring's successor records them."""
    module, label, pin = settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_pin_file
    if module is None or label is None or pin is None:
        raise SetupError("a PKCS#11 root of trust needs --pkcs11-module, --pkcs11-token-label and --pkcs11-pin-file")
    return {
        "root_of_trust": "pkcs11",
        "pkcs11_module": str(module.absolute()),
        "pkcs11_token_label": label,
        "pkcs11_pin_file": str(pin.absolute()),
    }


def token_config(spec: Mapping[str, str], timeout: float) -> TokenConfig:
    if spec.get("root_of_trust") != "pkcs11" or not {"pkcs11_module", "pkcs11_token_label", "pkcs11_pin_file"} <= set(
        spec
    ):
        raise RootKeyFileError(f"a successor root of trust this Trent does not know: {dict(spec)!r}")
    from trent.rootoftrust.pkcs11 import TokenConfig, read_pin

    pin_file = Path(spec["pkcs11_pin_file"])
    return TokenConfig(
        spec["pkcs11_module"], spec["pkcs11_token_label"], read_pin(pin_file), f"PIN file {pin_file}", timeout
    )


def passphrase(settings: Settings) -> Sensitive | None:
    """The sealed root key file's passphrase: --root-key-passphrase-file, else TRENT_ROOT_KEY_PASSPHRASE."""
    path = settings.root_key_passphrase_file
    if path is not None:
        try:
            text = path.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise RootKeyFileError(f"root key passphrase file {path} cannot be read: {exc.strerror}") from None
        return Sensitive(text)
    given = settings.root_key_passphrase
    return None if not given else Sensitive(given.encode())


def open_root(settings: Settings, *, create: bool = False) -> RootOfTrust:
    """The root of trust of the settings. `create`: make its first root key if it has none (the caller has
    checked that no data wrapped by another one exists)."""
    timeout = settings.pkcs11_timeout
    if settings.root_of_trust == "pkcs11":
        return _token_root(token_spec(settings), timeout, create)
    return SoftwareRoot.open(
        settings.root_key_path,
        create=create,
        passphrase=passphrase(settings),
        successor=lambda spec: _token_root(spec, timeout, False),
    )


def _token_root(spec: Mapping[str, str], timeout: float, create: bool) -> RootOfTrust:
    from trent.rootoftrust.pkcs11 import Pkcs11Root

    return Pkcs11Root.open(token_config(spec, timeout), create=create)


def open_root_for(settings: Settings, store: Store, *, create: bool) -> RootOfTrust:
    """As open_root, for a start that may be the first: a root key is made only for a store (and data
    directory) that holds nothing, since a new one could unwrap none of the data."""
    held = held_data(settings, store) if create else []
    if settings.root_of_trust == "software":
        if create and held and not settings.root_key_path.exists():
            raise SetupError(
                f"root key file {settings.root_key_path} is missing, but {' and '.join(held)} hold data wrapped by "
                f"it; restore it from your backup to {settings.root_key_path} (chmod 600), or start with an empty "
                "store and data directory (Trent never makes a new root key for existing data)"
            )
        return open_root(settings, create=create)
    from trent.rootoftrust.pkcs11 import NoRootKeyError

    try:
        return open_root(settings, create=create and not held)
    except NoRootKeyError:
        if not held:
            raise
        raise SetupError(
            f"{root_name(settings)} holds no Trent root key, but {' and '.join(held)} hold data wrapped by one: "
            "give the token the store was made with (Trent never makes a new root key for existing data)"
        ) from None


def check_root(settings: Settings, root: RootOfTrust, store: Store, *, write: bool = False) -> None:
    """Refuse a root of trust other than the one the store was made with. `write`: store the check value if
    there is none yet (the first writer wins when nodes race; the others are then checked against it)."""
    stored = store.get_blob(ROOT_CHECK_BLOB)
    if stored is None and write:
        mine = make_check(root)
        stored = store.update_blob(ROOT_CHECK_BLOB, lambda old: mine if old is None else None)
    refuse_another_root(settings, root, stored)


def refuse_another_root(settings: Settings, root: RootOfTrust, check: bytes | None) -> None:
    if check is None or opens_check(root, check):
        return
    made_by = _made_by(check)
    if settings.root_of_trust == "pkcs11" and made_by.startswith("rk-"):
        raise SetupError(
            f"{database_name(settings)} is still checked by software root key {made_by}: its move into "
            f"{root_name(settings)} is not finished; run `trent admin migrate-root --to pkcs11 ...` again (it "
            "resumes), or start with the root key file until it is"
        )
    if settings.root_of_trust == "pkcs11":
        raise SetupError(
            f"{root_name(settings)} does not hold the root key {database_name(settings)} was created with: give "
            "every node the token the store was made with"
        )
    raise SetupError(
        f"root key file {settings.root_key_path} does not match the root key {database_name(settings)} was "
        "created with: give every node the root key file the store was made with"
    )


def _made_by(check: bytes) -> str:
    try:
        return WrappedMaterial.from_bytes(check).root_key_id
    except UnwrapError:
        return ""
