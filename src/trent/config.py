"""Settings: one frozen object, built once from flags > TRENT_* environment > TOML file > defaults.

Stdlib only. Nothing is read at import time. Errors name the setting and the bad value.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from trent.kms.principals import ACCESS_KEY_ID, ACCESS_KEY_ID_RULE, DEV_ACCESS_KEY_ID, DEV_ACCESS_KEY_ID_RULE
from trent.xksclient.hosts import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9600
DEFAULT_ACCOUNT = "111122223333"
ENV_PREFIX = "TRENT_"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trent"


class ConfigError(ValueError):
    """A setting has a value Trent cannot use; the message names it."""


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError("out of range")
    return port


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError("must be positive")
    return number


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        raise ValueError(f"not one of {', '.join(LOG_LEVELS)}")
    return value.lower()


def _account(value: str) -> str:
    if re.fullmatch(r"[0-9]{12}", value) is None:
        raise ValueError("an account id is 12 digits")
    return value


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError("must be one of " + ", ".join(allowed))
    return value


THROTTLES = ("off", "aws")


def _rps(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of requests per second") from None
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"{text!r} requests per second: must be a positive number")
    return rate


def _quotas(value: object) -> tuple[tuple[str, float], ...]:
    """NAME=RPS items: repeated flags, a comma-separated string (environment), or a TOML table or list. Only the
    form is checked here; whether NAME is a quota, at start (app: kms/quotas.py knows the names)."""
    if isinstance(value, Mapping):
        items = [f"{name}={rate}" for name, rate in value.items()]
    elif isinstance(value, str):
        items = [item for item in re.split(r"[,\s]+", value) if item]
    elif isinstance(value, (list, tuple)):
        items = [str(item) for item in value]
    else:
        raise ValueError("must be NAME=RPS items")
    quotas = []
    for item in items:
        name, sep, rate = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{item!r} is not NAME=RPS (for example CreateKey=2)")
        quotas.append((name.strip(), _rps(rate.strip())))
    return tuple(quotas)


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


DATABASE_SCHEMES = ("postgresql", "postgres", "sqlite")
ROOTS_OF_TRUST = ("software", "pkcs11")
PKCS11_SETTINGS = ("pkcs11_module", "pkcs11_token_label", "pkcs11_pin_file")


def _token_label(value: str) -> str:
    if not 1 <= len(value.encode()) <= 32:  # CK_TOKEN_INFO.label is 32 bytes (PKCS#11 2.40 §3.2)
        raise ValueError("a PKCS#11 token label is 1 to 32 bytes")
    return value


def _database(value: str) -> str:
    """postgresql://... (or postgres://), handed to libpq as it is; sqlite:///<absolute path>."""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in DATABASE_SCHEMES:
        raise ValueError("must be postgresql://... or sqlite:///<absolute path>")
    if scheme.lower() == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise ValueError("a SQLite database is sqlite:///<absolute path> (three slashes, then the path)")
        return "sqlite://" + rest
    return value


def redact_database(value: object) -> str:
    """The database URL fit for a message or a log: any password in it replaced by ***."""
    text = str(value)
    scheme, sep, rest = text.partition("://")
    authority, slash, tail = rest.partition("/")
    if sep and "@" in authority:
        credentials, _, host = authority.rpartition("@")
        if ":" in credentials:
            authority = credentials.split(":", 1)[0] + ":***@" + host
    text = scheme + sep + authority + slash + tail
    return re.sub(r"(password=)[^&\s]*", r"\1***", text, flags=re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=default_data_dir)
    account_id: str | None = None  # None: the data directory's own account (DEFAULT_ACCOUNT on first start)
    workers: int = field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)))
    admin_access_key_id: str | None = None
    admin_secret_access_key: str | None = field(default=None, repr=False)
    job_interval: float = 5.0
    max_body_bytes: int = 1024 * 1024
    log_level: str = "info"
    log_format: str = "auto"  # json, text, or auto: text on a terminal, else JSON (trent/logs.py)
    audit_path: Path | None = None  # default: <data_dir>/audit.db
    audit_socket: Path | None = None  # where workers reach the audit writer; chosen by `trent serve`
    tls_cert: Path | None = None  # PEM certificate chain; with tls_key, the listener speaks HTTPS
    tls_key: Path | None = None  # PEM private key (unencrypted)
    # Mutual TLS for the XKS proxy API (docs/xks.md): client certificates must chain to this CA, and XKS
    # requests need one (whose subject CN is one of xks_client_names, if any are given).
    xks_client_ca: Path | None = None
    xks_client_names: tuple[str, ...] = ()
    xks_ca: Path | None = None  # the CA bundle external key stores' proxies chain to; None: the system's
    root_key_file: Path | None = None  # the software root key; default <data_dir>/root.key (several nodes share one)
    root_key_passphrase_file: Path | None = None  # the passphrase of a sealed root key file
    root_key_passphrase: str | None = field(default=None, repr=False)  # the same, from TRENT_ROOT_KEY_PASSPHRASE
    root_of_trust: str = "software"  # or "pkcs11": the root keys are in a PKCS#11 token (pkcs11_* settings)
    pkcs11_module: Path | None = None  # the PKCS#11 module (a shared library), e.g. SoftHSM2's
    pkcs11_token_label: str | None = None
    pkcs11_pin_file: Path | None = None  # the token's user PIN, in a file of mode 0600
    pkcs11_timeout: float = 5.0  # seconds each call into the module may take before the request fails
    # The store: None is the embedded SQLite in the data directory; else a URL that _database() checked. Kept
    # out of repr: a PostgreSQL URL may hold a password.
    database: str | None = field(default=None, repr=False)
    throttle: str = "off"  # "aws": AWS KMS's request quotas (docs/throttling.md)
    quotas: tuple[tuple[str, float], ...] = ()  # (quota name, requests per second): replaces AWS's default
    dev: bool = False  # a throwaway server for tests and laptops: authentication off (docs/dev-mode.md)
    dev_allow_remote: bool = False  # dev mode on an address other machines can reach
    seed: Path | None = None  # a seed file (TOML or YAML): what `trent serve` makes at start (docs/seeds.md)
    # False only for a dev server's throwaway data directory (removed at exit: nothing in it outlives the
    # server): its SQLite databases are not fsynced (docs/dev-mode.md). No flag, variable or file sets it.
    durable: bool = True

    @property
    def database_kind(self) -> str:
        """ "postgresql" (a server shared by many nodes) or "sqlite" (embedded, the default)."""
        if self.database is not None and not self.database.startswith("sqlite://"):
            return "postgresql"
        return "sqlite"

    @property
    def postgres_url(self) -> str | None:
        return self.database if self.database_kind == "postgresql" else None

    @property
    def audit_database_path(self) -> Path:
        return self.audit_path or self.data_dir / "audit.db"

    @property
    def database_path(self) -> Path:
        """The SQLite store's file: sqlite:///<path> if given, else trent.db in the data directory."""
        if self.database is not None and self.database.startswith("sqlite://"):
            return Path(self.database.removeprefix("sqlite://"))
        return self.data_dir / "trent.db"

    @property
    def root_key_path(self) -> Path:
        return self.root_key_file or self.data_dir / "root.key"


_PARSERS: Mapping[str, Callable[[Any], Any]] = {
    "host": str,
    "port": _port,
    "data_dir": lambda v: Path(v).expanduser(),
    "account_id": _account,
    "workers": _positive,
    "admin_access_key_id": str,
    "admin_secret_access_key": str,
    "job_interval": _seconds,
    "max_body_bytes": _positive,
    "log_level": _log_level,
    "log_format": lambda v: _choice(v.lower(), ("json", "text", "auto")),
    "audit_path": lambda v: Path(v).expanduser(),
    "tls_cert": lambda v: Path(v).expanduser(),
    "tls_key": lambda v: Path(v).expanduser(),
    "xks_client_ca": lambda v: Path(v).expanduser(),
    "xks_ca": lambda v: Path(v).expanduser(),
    "xks_client_names": lambda v: tuple(n.strip() for n in v.split(",") if n.strip()),
    "root_key_file": lambda v: Path(v).expanduser(),
    "root_key_passphrase_file": lambda v: Path(v).expanduser(),
    "root_key_passphrase": str,
    "root_of_trust": lambda v: _choice(v.lower(), ROOTS_OF_TRUST),
    "pkcs11_module": lambda v: Path(v).expanduser(),
    "pkcs11_token_label": _token_label,
    "pkcs11_pin_file": lambda v: Path(v).expanduser(),
    "pkcs11_timeout": _seconds,
    "database": _database,
    "throttle": lambda v: _choice(v.lower(), THROTTLES),
    "quotas": _quotas,
    "dev": _bool,
    "dev_allow_remote": _bool,
    "seed": lambda v: Path(v).expanduser(),
}
# Settings whose parser takes the value as given (a TOML table or list, repeated flags), not its str().
_STRUCTURED = frozenset({"quotas"})
# Environment variables whose name is not TRENT_<SETTING>.
_ENV_NAMES: Mapping[str, str] = {"database": ENV_PREFIX + "DATABASE_URL"}


def _parse(name: str, value: object, source: str) -> Any:
    try:
        return _PARSERS[name](value if name in _STRUCTURED else str(value))
    except (ValueError, TypeError) as exc:
        hidden = "secret" in name or name == "root_key_passphrase"
        shown = "<hidden>" if hidden else repr(redact_database(value) if name == "database" else value)
        raise ConfigError(f"{source} {name!r} has value {shown}: {exc}") from None


def _check_dev(values: Mapping[str, Any]) -> None:
    dev = values.get("dev", False)
    host = values.get("host", DEFAULT_HOST)
    if dev and not values.get("dev_allow_remote") and not is_loopback(host):
        raise ConfigError(
            f"setting 'dev' (--dev) turns authentication off: it listens only on a loopback address, not {host!r}, "
            "unless 'dev_allow_remote' (--dev-allow-remote) is given"
        )
    database = str(values.get("database") or "")
    if dev and database and not database.startswith("sqlite://"):
        raise ConfigError(
            "setting 'dev' (--dev) is a throwaway server on its own SQLite store: a reset would empty the PostgreSQL "
            "database 'database' names, which other nodes may share; leave 'database' unset"
        )
    given = values.get("admin_access_key_id")
    if given is not None:
        pattern, rule = (DEV_ACCESS_KEY_ID, DEV_ACCESS_KEY_ID_RULE) if dev else (ACCESS_KEY_ID, ACCESS_KEY_ID_RULE)
        if pattern.fullmatch(given) is None:
            shorter = "" if dev else "; shorter test ids such as FOOBARKEY are accepted with --dev"
            raise ConfigError(f"setting 'admin_access_key_id' (TRENT_ADMIN_ACCESS_KEY_ID) {given!r}: {rule}{shorter}")


def load_settings(
    flags: Mapping[str, object | None] | None = None,
    environ: Mapping[str, str] | None = None,
    toml_path: Path | None = None,
) -> Settings:
    """Merge the sources, highest first: flags, TRENT_<NAME> environment variables, the TOML file."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if toml_path is not None:
        try:
            document = tomllib.loads(toml_path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {toml_path}: {exc}") from None
        for name, value in document.items():
            if name not in _PARSERS:
                raise ConfigError(f"config file {toml_path}: unknown setting {name!r}")
            values[name] = _parse(name, value, f"config file {toml_path}: setting")
    for name in _PARSERS:
        env_name = _ENV_NAMES.get(name, ENV_PREFIX + name.upper())
        env_value = environ.get(env_name)
        if env_value:
            values[name] = _parse(name, env_value, "environment variable " + env_name + ", setting")
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = _parse(name, value, "flag for setting")
    if values.get("quotas") and values.get("throttle", "off") == "off":
        raise ConfigError("setting 'quotas' (--quota) changes AWS's quotas: it needs 'throttle' aws (--throttle aws)")
    if ("tls_cert" in values) != ("tls_key" in values):
        raise ConfigError("settings 'tls_cert' and 'tls_key' go together: give both or neither")
    if "xks_client_ca" in values and "tls_cert" not in values:
        raise ConfigError("setting 'xks_client_ca' (mutual TLS) needs HTTPS: 'tls_cert' and 'tls_key'")
    if values.get("xks_client_names") and "xks_client_ca" not in values:
        raise ConfigError("setting 'xks_client_names' needs 'xks_client_ca' (the CA client certificates chain to)")
    missing = [name for name in PKCS11_SETTINGS if name not in values]
    if values.get("root_of_trust") == "pkcs11" and missing:
        needed = ", ".join(f"{n!r} (--{n.replace('_', '-')}, {ENV_PREFIX}{n.upper()})" for n in missing)
        raise ConfigError(f"setting 'root_of_trust' pkcs11 needs {needed}")
    _check_dev(values)
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in known})
