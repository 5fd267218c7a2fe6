"""What every `trent` command that opens the data directory shares: --config, where the data lives
(--data-dir, --database, the root of trust) and the settings they make. cli.py, cli_admin.py and cli_audit.py
use it; it holds no command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from trent.config import ConfigError, Settings, load_settings


def settings_for(config: Path | None, **flags: object) -> Settings:
    context = click.get_current_context(silent=True)
    flags = {**(context.meta.get(WHERE, {}) if context is not None else {}), **flags}
    try:
        settings = load_settings(flags, toml_path=config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    return settings


config_option = click.option(
    "--config", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="TOML settings file."
)
WHERE = "trent.where"


def remember(ctx: click.Context, param: click.Parameter, value: object) -> object:
    """Where the data lives, beyond --data-dir (--database, the root of trust): kept in the context for
    settings_for(), so no command's signature changes."""
    if value is not None and param.name is not None:
        ctx.meta.setdefault(WHERE, {})[param.name] = value
    return value


database_option = click.option(
    "--database",
    expose_value=False,
    callback=remember,
    help="The store: postgresql://... (one database shared by many nodes) or sqlite:///<path> "
    "[TRENT_DATABASE_URL; default: trent.db in the data directory].",
)
root_key_file_option = click.option(
    "--root-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    expose_value=False,
    callback=remember,
    help="The software root key file; several nodes share one [TRENT_ROOT_KEY_FILE; default: DATA_DIR/root.key].",
)


FILE = click.Path(path_type=Path, dir_okay=False)
# The root of trust: where every command that opens the store finds it (kept in the context, as --database).
ROOT_OPTIONS = (
    root_key_file_option,
    click.option(
        "--root-key-passphrase-file",
        type=FILE,
        expose_value=False,
        callback=remember,
        help="The passphrase of a sealed root key file [TRENT_ROOT_KEY_PASSPHRASE_FILE; or the passphrase itself "
        "in TRENT_ROOT_KEY_PASSPHRASE].",
    ),
    click.option(
        "--root-of-trust",
        type=click.Choice(["software", "pkcs11"]),
        expose_value=False,
        callback=remember,
        help="software (the root key file) or pkcs11 (root keys in a PKCS#11 token) [TRENT_ROOT_OF_TRUST; "
        "default software].",
    ),
    click.option(
        "--pkcs11-module",
        type=FILE,
        expose_value=False,
        callback=remember,
        help="The PKCS#11 module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so [TRENT_PKCS11_MODULE].",
    ),
    click.option(
        "--pkcs11-token-label",
        expose_value=False,
        callback=remember,
        help="The label of the token that holds the root keys [TRENT_PKCS11_TOKEN_LABEL].",
    ),
    click.option(
        "--pkcs11-pin-file",
        type=FILE,
        expose_value=False,
        callback=remember,
        help="A file (mode 0600) holding the token's user PIN [TRENT_PKCS11_PIN_FILE].",
    ),
)


def data_dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    data_dir = click.option(
        "--data-dir", type=click.Path(path_type=Path, file_okay=False), help="Data directory [TRENT_DATA_DIR]."
    )
    for option in reversed(ROOT_OPTIONS):
        command = option(command)
    return data_dir(database_option(command))
