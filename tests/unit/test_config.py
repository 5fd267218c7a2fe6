from __future__ import annotations

from pathlib import Path

import pytest

from trent.config import DEFAULT_PORT, ConfigError, Settings, load_settings


def test_defaults() -> None:
    settings = load_settings({}, environ={})
    assert settings.host == "127.0.0.1" and settings.port == DEFAULT_PORT
    assert settings.account_id is None  # the data directory's own account; trent serve makes 111122223333 first
    assert settings.data_dir.name == "trent" and settings.workers >= 1


def test_precedence_flags_over_environment_over_file(tmp_path: Path) -> None:
    toml = tmp_path / "trent.toml"
    toml.write_text('port = 1111\nhost = "0.0.0.0"\naccount_id = "222233334444"\n')
    settings = load_settings({"port": 3333}, environ={"TRENT_PORT": "2222", "TRENT_HOST": "::1"}, toml_path=toml)
    assert (settings.port, settings.host, settings.account_id) == (3333, "::1", "222233334444")
    assert load_settings({}, environ={"TRENT_PORT": "2222"}, toml_path=toml).port == 2222
    assert load_settings({}, environ={}, toml_path=toml).port == 1111


@pytest.mark.parametrize(
    ("flags", "environ", "named"),
    [
        ({"port": 70000}, {}, "'port'"),
        ({}, {"TRENT_ACCOUNT_ID": "12"}, "TRENT_ACCOUNT_ID"),
        ({"workers": 0}, {}, "'workers'"),
        ({}, {"TRENT_LOG_LEVEL": "loud"}, "TRENT_LOG_LEVEL"),
        ({}, {"TRENT_WORKERS": "many"}, "TRENT_WORKERS"),
        ({}, {"TRENT_JOB_INTERVAL": "-1"}, "TRENT_JOB_INTERVAL"),
    ],
)
def test_errors_name_the_setting(flags: dict[str, object], environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(flags, environ=environ)


def test_secrets_are_not_shown() -> None:
    settings = load_settings({}, environ={"TRENT_ADMIN_SECRET_ACCESS_KEY": "very-secret-value-123"})
    assert "very-secret-value-123" not in repr(settings)
    assert isinstance(settings, Settings)


def test_unknown_file_setting(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="colour"):
        load_settings({}, environ={}, toml_path=toml)


@pytest.mark.parametrize(("name", "value"), [("TRENT_LOG_LEVEL", "loud"), ("TRENT_LOG_FORMAT", "xml")])
def test_log_settings_are_checked(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match="one of"):
        load_settings({}, environ={name: value})


def test_log_settings() -> None:
    settings = load_settings({}, environ={"TRENT_LOG_LEVEL": "DEBUG", "TRENT_LOG_FORMAT": "json"})
    assert (settings.log_level, settings.log_format) == ("debug", "json")


@pytest.mark.parametrize("level", ["debug", "INFO", "Warning", "error", "critical"])
def test_log_levels_are_the_logging_module_s(level: str) -> None:
    assert load_settings({}, environ={"TRENT_LOG_LEVEL": level}).log_level == level.lower()


@pytest.mark.parametrize("text", ["port = ", "port = 'x'", "[[", "workers = 0"])
def test_a_bad_file_is_one_config_error(tmp_path: Path, text: str) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError, match=str(toml)):
        load_settings({}, environ={}, toml_path=toml)


def test_xks_mutual_tls_needs_https_and_names_need_the_ca() -> None:
    tls = {"tls_cert": "/c.pem", "tls_key": "/k.pem"}
    env = {"TRENT_XKS_CLIENT_CA": "/ca.pem", "TRENT_XKS_CLIENT_NAMES": "cks.kms.us-east-1.amazonaws.com, b.example"}
    settings = load_settings(tls, env)
    assert settings.xks_client_ca == Path("/ca.pem")
    assert settings.xks_client_names == ("cks.kms.us-east-1.amazonaws.com", "b.example")
    assert load_settings({}, {}).xks_client_ca is None and load_settings({}, {}).xks_client_names == ()
    with pytest.raises(ConfigError, match="'xks_client_ca' .* needs HTTPS"):
        load_settings({"xks_client_ca": "/ca.pem"}, {})
    with pytest.raises(ConfigError, match="'xks_client_names' needs 'xks_client_ca'"):
        load_settings(tls, {"TRENT_XKS_CLIENT_NAMES": "x"})


def test_the_xks_proxy_ca_is_a_path_from_any_source() -> None:
    assert load_settings({}, {}).xks_ca is None
    assert load_settings({}, {"TRENT_XKS_CA": "/proxies.pem"}).xks_ca == Path("/proxies.pem")
    assert load_settings({"xks_ca": "/flag.pem"}, {"TRENT_XKS_CA": "/env.pem"}).xks_ca == Path("/flag.pem")


def test_tls_files_come_together_from_any_source(tmp_path: Path) -> None:
    toml = tmp_path / "trent.toml"
    toml.write_text('tls_cert = "/etc/trent/cert.pem"\n')
    settings = load_settings({}, {"TRENT_TLS_KEY": "/etc/trent/key.pem"}, toml)
    assert (settings.tls_cert, settings.tls_key) == (Path("/etc/trent/cert.pem"), Path("/etc/trent/key.pem"))
    assert load_settings({}, {}).tls_cert is None
    with pytest.raises(ConfigError, match="'tls_cert' and 'tls_key' go together"):
        load_settings({"tls_cert": "/etc/trent/cert.pem"}, {})


def test_database_defaults_to_the_embedded_sqlite(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert settings.database is None and settings.database_kind == "sqlite"
    assert settings.database_path == tmp_path / "trent.db" and settings.postgres_url is None


def test_database_selects_postgresql_from_flag_environment_or_file(tmp_path: Path) -> None:
    toml = tmp_path / "trent.toml"
    toml.write_text('database = "postgresql://file@db.example/trent"\n')
    from_file = load_settings({}, environ={}, toml_path=toml)
    assert from_file.database_kind == "postgresql" and from_file.postgres_url == "postgresql://file@db.example/trent"
    environ = {"TRENT_DATABASE_URL": "postgres://env@db.example/trent"}
    assert load_settings({}, environ=environ, toml_path=toml).postgres_url == "postgres://env@db.example/trent"
    flagged = load_settings({"database": "postgresql:///trent?host=/run/pg"}, environ=environ, toml_path=toml)
    assert flagged.postgres_url == "postgresql:///trent?host=/run/pg"


def test_database_sqlite_url_names_the_file(tmp_path: Path) -> None:
    settings = load_settings({"database": f"sqlite://{tmp_path}/elsewhere.db"}, environ={})
    assert settings.database_kind == "sqlite" and settings.postgres_url is None
    assert settings.database_path == tmp_path / "elsewhere.db"


@pytest.mark.parametrize(
    "value", ["mysql://db.example/trent", "db.example:5432", "sqlite://relative.db", "sqlite:///", "file:///x"]
)
def test_a_bad_database_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="TRENT_DATABASE_URL"):
        load_settings({}, environ={"TRENT_DATABASE_URL": value})


def test_a_database_password_is_never_shown() -> None:
    url = "postgresql://trent:hunter2-secret@db.example/trent?sslmode=require"
    assert "hunter2-secret" not in repr(load_settings({"database": url}, environ={}))
    with pytest.raises(ConfigError) as refused:
        load_settings({"database": "mysql://trent:hunter2-secret@db.example/x?password=other-secret"}, environ={})
    assert "hunter2-secret" not in str(refused.value) and "other-secret" not in str(refused.value)
    assert "db.example" in str(refused.value)


def test_throttling_is_off_by_default_and_quotas_come_from_any_source(tmp_path: Path) -> None:
    assert (load_settings(environ={}).throttle, load_settings(environ={}).quotas) == ("off", ())
    flags = load_settings({"throttle": "aws", "quotas": ("CreateKey=2", "rsa=0.5")}, environ={})
    assert (flags.throttle, flags.quotas) == ("aws", (("CreateKey", 2.0), ("rsa", 0.5)))
    environ = load_settings(environ={"TRENT_THROTTLE": "AWS", "TRENT_QUOTAS": "DescribeKey=10, ListKeys=3"})
    assert (environ.throttle, environ.quotas) == ("aws", (("DescribeKey", 10.0), ("ListKeys", 3.0)))
    table = tmp_path / "table.toml"
    table.write_text('throttle = "aws"\n[quotas]\nCreateKey = 1\n"GenerateDataKeyPair:RSA_2048" = 0.25\n')
    assert load_settings(environ={}, toml_path=table).quotas == (
        ("CreateKey", 1.0),
        ("GenerateDataKeyPair:RSA_2048", 0.25),
    )
    listed = tmp_path / "list.toml"
    listed.write_text('throttle = "aws"\nquotas = ["symmetric=100"]\n')
    assert load_settings(environ={}, toml_path=listed).quotas == (("symmetric", 100.0),)


@pytest.mark.parametrize(
    ("quotas", "says"),
    [
        (("CreateKey",), "'CreateKey' is not NAME=RPS"),
        (("=3",), "'=3' is not NAME=RPS"),
        (("CreateKey=fast",), "'fast' is not a number of requests per second"),
        (("CreateKey=0",), "'0' requests per second: must be a positive number"),
        (("CreateKey=-2",), "must be a positive number"),
        (("CreateKey=inf",), "must be a positive number"),
    ],
)
def test_a_bad_quota_is_refused_with_what_is_wrong(quotas: tuple[str, ...], says: str) -> None:
    with pytest.raises(ConfigError, match="'quotas'") as refused:
        load_settings({"throttle": "aws", "quotas": quotas}, environ={})
    assert says in str(refused.value)


def test_quotas_need_throttling_and_throttle_is_off_or_aws() -> None:
    with pytest.raises(ConfigError, match=r"needs 'throttle' aws \(--throttle aws\)"):
        load_settings({"quotas": ("CreateKey=2",)}, environ={})
    with pytest.raises(ConfigError, match="'throttle'.*must be one of off, aws"):
        load_settings({"throttle": "gcp"}, environ={})


def test_the_root_of_trust_settings_from_every_source(tmp_path: Path) -> None:
    toml = tmp_path / "trent.toml"
    toml.write_text(
        'root_of_trust = "pkcs11"\npkcs11_module = "/lib/p11.so"\npkcs11_token_label = "from-file"\n'
        'pkcs11_pin_file = "/etc/trent/pin"\npkcs11_timeout = 2.5\n'
    )
    from_file = load_settings({}, environ={}, toml_path=toml)
    assert (from_file.root_of_trust, from_file.pkcs11_module, from_file.pkcs11_token_label) == (
        "pkcs11",
        Path("/lib/p11.so"),
        "from-file",
    )
    assert from_file.pkcs11_pin_file == Path("/etc/trent/pin") and from_file.pkcs11_timeout == 2.5
    environ = {"TRENT_PKCS11_TOKEN_LABEL": "from-env", "TRENT_ROOT_KEY_PASSPHRASE_FILE": "/etc/trent/passphrase"}
    mixed = load_settings({"pkcs11_module": "/opt/hsm.so"}, environ=environ, toml_path=toml)
    assert (mixed.pkcs11_module, mixed.pkcs11_token_label) == (Path("/opt/hsm.so"), "from-env")
    assert mixed.root_key_passphrase_file == Path("/etc/trent/passphrase")
    assert load_settings({}, environ={}).root_of_trust == "software"


def test_a_pkcs11_root_needs_its_module_token_and_pin_file() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"root_of_trust": "pkcs11", "pkcs11_module": "/lib/p11.so"}, environ={})
    assert str(refused.value) == (
        "setting 'root_of_trust' pkcs11 needs 'pkcs11_token_label' (--pkcs11-token-label, TRENT_PKCS11_TOKEN_LABEL), "
        "'pkcs11_pin_file' (--pkcs11-pin-file, TRENT_PKCS11_PIN_FILE)"
    )
    with pytest.raises(ConfigError, match="TRENT_ROOT_OF_TRUST"):
        load_settings({}, environ={"TRENT_ROOT_OF_TRUST": "tpm"})
    with pytest.raises(ConfigError, match="1 to 32 bytes"):
        load_settings({"pkcs11_token_label": "x" * 33}, environ={})


def test_the_root_key_passphrase_is_never_shown() -> None:
    settings = load_settings({}, environ={"TRENT_ROOT_KEY_PASSPHRASE": "hunter2 hunter2"})
    assert settings.root_key_passphrase == "hunter2 hunter2"
    assert "hunter2" not in repr(settings)


def test_the_seed_file_comes_from_any_source(tmp_path: Path) -> None:
    toml = tmp_path / "trent.toml"
    toml.write_text('seed = "~/from-file.toml"\n')
    assert load_settings({}, environ={}, toml_path=toml).seed == Path.home() / "from-file.toml"
    assert load_settings({}, environ={"TRENT_SEED": "/env.yaml"}, toml_path=toml).seed == Path("/env.yaml")
    assert load_settings({"seed": "/flag.yaml"}, environ={"TRENT_SEED": "/env.yaml"}).seed == Path("/flag.yaml")
    assert load_settings({}, environ={}).seed is None
