"""Seed files (`trent serve --seed FILE`, docs/seeds.md): read one (TOML, YAML or JSON, by its extension) into a
Seed, and plant it in a store. Every refusal is a SetupError naming the file, the entry and the reason."""

from __future__ import annotations

import json
import logging
import sys
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trent.app.storage import SetupError
from trent.config import DEFAULT_ACCOUNT
from trent.kms.ids import AccountId
from trent.ops.deps import Deps
from trent.ops.principals import home_account
from trent.ops.seeding import apply_seed as plant
from trent.ops.seeds import Seed, SeedError, parse_seed

__all__ = ["Seed", "apply_seed", "load_seed"]

log = logging.getLogger("trent")


def _yaml(text: str) -> Any:
    import yaml  # PyYAML is imported only for a YAML seed file (a dev server starts faster without it)

    return yaml.safe_load(text)


_READERS: Mapping[str, Callable[[str], Any]] = {
    ".toml": tomllib.loads,
    ".yaml": _yaml,
    ".yml": _yaml,
    ".json": json.loads,
}


def _syntax_errors() -> tuple[type[Exception], ...]:
    """What the readers raise for a file they cannot parse; PyYAML's once a YAML file was read."""
    yaml = sys.modules.get("yaml")
    return (
        (tomllib.TOMLDecodeError, ValueError) if yaml is None else (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError)
    )


def load_seed(path: Path) -> Seed:
    """The seed in `path`; SetupError if it cannot be read or is not a valid seed."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise SetupError(f"seed file {path}: give it the extension .toml, .yaml or .yml (or .json)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SetupError(f"seed file {path} cannot be read: {exc}") from None
    try:
        document = reader(text)
    except _syntax_errors() as exc:
        raise SetupError(f"seed file {path} is not valid {path.suffix.lstrip('.').upper()}: {_where(exc)}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise SetupError(f"seed file {path}: the document must be a table (mapping) of accounts, users, keys, ...")
    try:
        return parse_seed(document, str(path))
    except SeedError as exc:
        raise SetupError(f"seed file {path}: {exc}") from None


def _where(exc: Exception) -> str:
    """What is wrong and where (line, column), never the file's text: PyYAML's messages quote the whole line,
    which may hold key material or a secret; tomllib's and json's name only the place."""
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem or exc.context} (line {mark.line + 1}, column {mark.column + 1})"
    if yaml is not None and isinstance(exc, yaml.YAMLError):
        return type(exc).__name__
    return str(exc)


def apply_seed(seed: Seed, deps: Deps, account: str | None = None, *, chain: bool = True) -> Counter[str]:
    """Make what the seed names and the store lacks (idempotent); `account`: the default of its entries (None:
    the data directory's own account). `chain`: see ops/seeding.py (False in a worker process). What was made
    is logged, by kind and count (never a secret)."""
    default = AccountId(account) if account is not None else _home(deps)
    try:
        made = plant(deps, seed, default, chain=chain)
    except SeedError as exc:
        raise SetupError(f"seed file {seed.source or '(seed)'}: {exc}") from None
    summary = ", ".join(f"{n} {kind}(s)" for kind, n in sorted(made.items())) or "nothing new"
    log.info("seed %s: made %s", seed.source, summary)
    return made


def _home(deps: Deps) -> AccountId:
    return home_account(deps.store) or AccountId(DEFAULT_ACCOUNT)
