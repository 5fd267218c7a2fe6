"""The `trent` command: serve | admin. Parses flags and calls app; holds no domain logic."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from trent import app, cli_clusters, cli_xks, logs
from trent.audit.exported import ExportTally
from trent.audit.port import AuditQuery
from trent.audit.verify import Tally
from trent.config import ConfigError, Settings, load_settings
from trent.kms.ids import AccountId
from trent.kms.principals import root_arn, user_arn
from trent.kms.sensitive import Sensitive
from trent.ops import principals
from trent.ops.deps import Deps


def _settings(config: Path | None, **flags: object) -> Settings:
    context = click.get_current_context(silent=True)
    flags = {**(context.meta.get(_WHERE, {}) if context is not None else {}), **flags}
    try:
        settings = load_settings(flags, toml_path=config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    return settings


_config_option = click.option(
    "--config", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="TOML settings file."
)
_WHERE = "trent.where"


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> object:
    """Where the data lives, beyond --data-dir (--database, the root of trust): kept in the context for
    _settings(), so no command's signature changes."""
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_WHERE, {})[param.name] = value
    return value


_database_option = click.option(
    "--database",
    expose_value=False,
    callback=_remember,
    help="The store: postgresql://... (one database shared by many nodes) or sqlite:///<path> "
    "[TRENT_DATABASE_URL; default: trent.db in the data directory].",
)
_root_key_file_option = click.option(
    "--root-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    expose_value=False,
    callback=_remember,
    help="The software root key file; several nodes share one [TRENT_ROOT_KEY_FILE; default: DATA_DIR/root.key].",
)


_FILE = click.Path(path_type=Path, dir_okay=False)
# The root of trust: where every command that opens the store finds it (kept in the context, as --database).
_ROOT_OPTIONS = (
    _root_key_file_option,
    click.option(
        "--root-key-passphrase-file",
        type=_FILE,
        expose_value=False,
        callback=_remember,
        help="The passphrase of a sealed root key file [TRENT_ROOT_KEY_PASSPHRASE_FILE; or the passphrase itself "
        "in TRENT_ROOT_KEY_PASSPHRASE].",
    ),
    click.option(
        "--root-of-trust",
        type=click.Choice(["software", "pkcs11"]),
        expose_value=False,
        callback=_remember,
        help="software (the root key file) or pkcs11 (root keys in a PKCS#11 token) [TRENT_ROOT_OF_TRUST; "
        "default software].",
    ),
    click.option(
        "--pkcs11-module",
        type=_FILE,
        expose_value=False,
        callback=_remember,
        help="The PKCS#11 module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so [TRENT_PKCS11_MODULE].",
    ),
    click.option(
        "--pkcs11-token-label",
        expose_value=False,
        callback=_remember,
        help="The label of the token that holds the root keys [TRENT_PKCS11_TOKEN_LABEL].",
    ),
    click.option(
        "--pkcs11-pin-file",
        type=_FILE,
        expose_value=False,
        callback=_remember,
        help="A file (mode 0600) holding the token's user PIN [TRENT_PKCS11_PIN_FILE].",
    ),
)


def _data_dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    data_dir = click.option(
        "--data-dir", type=click.Path(path_type=Path, file_okay=False), help="Data directory [TRENT_DATA_DIR]."
    )
    for option in reversed(_ROOT_OPTIONS):
        command = option(command)
    return data_dir(_database_option(command))


class _Trent(click.Group):
    """Every operator error (a bad file, mode, setting, a busy port or data directory) is one line and exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except app.operator_errors() as exc:
            raise click.ClickException(str(exc) or type(exc).__name__) from None


@click.group(cls=_Trent)
@click.version_option(package_name="trent-kms")
def main() -> None:
    """Trent: a key management service that speaks the AWS KMS API."""


@main.command()
@_config_option
@_data_dir_option
@click.option("--host", help="Address to listen on [TRENT_HOST; default 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on; 0 picks a free one [TRENT_PORT; default 9600].")
@click.option(
    "--account-id",
    help="Account of the admin key made at first start [TRENT_ACCOUNT_ID; default: the data directory's, "
    "111122223333 on first start].",
)
@click.option("--workers", type=int, help="Worker processes [TRENT_WORKERS; default: one per core].")
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, dir_okay=False),
    help="PEM certificate chain: serve HTTPS (with --tls-key) [TRENT_TLS_CERT].",
)
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False), help="PEM private key [TRENT_TLS_KEY].")
@click.option(
    "--xks-client-ca",
    type=click.Path(path_type=Path, dir_okay=False),
    help="PEM CA certificates: mutual TLS for the XKS proxy API (docs/xks.md) [TRENT_XKS_CLIENT_CA].",
)
@click.option(
    "--xks-ca",
    type=click.Path(path_type=Path, dir_okay=False),
    help="PEM CA certificates to trust for external key stores' XKS proxies, instead of the system's "
    "(docs/decisions/0016-external-key-stores.md) [TRENT_XKS_CA].",
)
@click.option(
    "--xks-client-names",
    help="With --xks-client-ca: the subject CNs XKS clients may have, comma-separated, e.g. "
    "cks.kms.us-east-1.amazonaws.com [TRENT_XKS_CLIENT_NAMES].",
)
@click.option(
    "--throttle",
    type=click.Choice(["off", "aws"], case_sensitive=False),
    help="aws: answer ThrottlingException past AWS KMS's default request quotas, per account and Region "
    "(docs/throttling.md) [TRENT_THROTTLE; default off].",
)
@click.option(
    "--quota",
    "quotas",
    multiple=True,
    metavar="NAME=RPS",
    help="With --throttle aws: this many requests a second for quota NAME (symmetric, rsa, ecc, ml-dsa, an "
    "operation such as CreateKey, GenerateDataKeyPair:RSA_2048; docs/throttling.md); repeatable "
    "[TRENT_QUOTAS, comma-separated].",
)
@click.option(
    "--dev",
    is_flag=True,
    default=None,
    help="A throwaway server for tests and laptops: AUTHENTICATION OFF (any credentials), a temporary data "
    "directory unless --data-dir, POST /_trent/reset and /_trent/clock (docs/dev-mode.md) [TRENT_DEV].",
)
@click.option(
    "--dev-allow-remote",
    is_flag=True,
    default=None,
    help="With --dev: allow a --host other machines can reach [TRENT_DEV_ALLOW_REMOTE].",
)
@click.option(
    "--seed",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A seed file (TOML or YAML): accounts, users, access keys, keys with given ids and material, aliases "
    "and grants, made at start if missing (docs/seeds.md) [TRENT_SEED].",
)
def serve(config: Path | None, **flags: object) -> None:
    """Run the KMS endpoint (creates the data directory, root key and admin key on first start)."""
    flags["quotas"] = flags.get("quotas") or None  # none given: the environment's or the file's, if any
    given = _settings(config, **flags)
    logs.configure(given.log_level, given.log_format, process="supervisor")
    if given.dev:
        click.echo(app.DEV_WARNING, err=True)
    with app.dev_throwaway(given) as settings:
        _serve(settings, throwaway=settings.data_dir != given.data_dir)


def _serve(settings: Settings, throwaway: bool) -> None:
    def announce(endpoint: str, admin: app.AdminKey | None) -> None:
        if settings.dev:
            click.echo("\n".join(app.dev_announcement(endpoint, settings, throwaway)))
            sys.stdout.flush()
            return
        store = "" if settings.postgres_url is None else f", store: {app.database_name(settings)}"
        lines = [f"Trent is listening on {endpoint}  (data directory: {settings.data_dir}{store})"]
        if admin is not None and admin.secret is not None:
            lines += [
                "Created the admin access key of account " + admin.account + " (shown only this once):",
                f"  aws_access_key_id     = {admin.access_key_id}",
                f"  aws_secret_access_key = {admin.secret.reveal().decode()}",
            ]
        if settings.throttle == "aws":
            changed = "".join(f", {name}={rate:g}/s" for name, rate in app.quota_rates(settings).items())
            lines.append(f"Throttling: AWS KMS's default request quotas per account and Region{changed}")
        lines += [
            "Use it with any AWS SDK or the AWS CLI, e.g.:",
            f"  aws kms list-keys --endpoint-url {endpoint} --region us-east-1",
            "More access keys: trent admin create-access-key --help",
        ]
        click.echo("\n".join(lines))
        sys.stdout.flush()

    sys.exit(app.serve(settings, announce))


@main.group()
def admin() -> None:
    """Administer accounts, users, identity policies and access keys (works while the server runs)."""


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


@contextlib.contextmanager
def _admin(config: Path | None, data_dir: Path | None) -> Iterator[Deps]:
    with app.administration(_settings(config, data_dir=data_dir)) as deps:
        yield deps


def _account_of(deps: Deps, account_id: str | None, config: Path | None) -> AccountId:
    """--account-id (TRENT_ACCOUNT_ID), which must exist; else the data directory's own account."""
    return principals.resolve_account(deps, account_id or _settings(config).account_id)


_account_option = click.option("--account-id", help="The account [default: the data directory's].")


@admin.command("create-account")
@_config_option
@_data_dir_option
@click.argument("account_id")
@click.option("--access-key-id", "given_id", help="Give the account's admin access key this id.")
@click.option("--secret-access-key", "given_secret", help="Give the account's admin access key this secret.")
@click.option("--no-access-key", is_flag=True, help="Create the account without an admin access key.")
def create_account(
    config: Path | None,
    data_dir: Path | None,
    account_id: str,
    given_id: str | None,
    given_secret: str | None,
    no_access_key: bool,
) -> None:
    """Create an account and, unless told not to, its admin (root) access key, printed as JSON."""
    with _admin(config, data_dir) as deps:
        account = principals.create_account(deps, account_id)
        out: dict[str, str] = {"Account": account.account, "Principal": root_arn(account.account)}
        if not no_access_key:
            secret = None if given_secret is None else Sensitive(given_secret.encode())
            record, secret = principals.create_access_key(
                deps, account.account, root_arn(account.account), given_id, secret
            )
            out |= {"AccessKeyId": record.access_key_id, "SecretAccessKey": secret.reveal().decode()}
    _echo_json(out)


@admin.command("list-accounts")
@_config_option
@_data_dir_option
def list_accounts(config: Path | None, data_dir: Path | None) -> None:
    """List accounts, one per line."""
    with _admin(config, data_dir) as deps:
        for account in deps.store.list_accounts():
            click.echo(account.account)


@admin.command("create-user")
@_config_option
@_data_dir_option
@_account_option
@click.argument("user_name")
def create_user(config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str) -> None:
    """Create an IAM-style user, arn:aws:iam::<account>:user/<name>. It can do nothing until a policy allows it."""
    with _admin(config, data_dir) as deps:
        user = principals.create_user(deps, _account_of(deps, account_id, config), user_name)
    _echo_json({"UserName": user.name, "Arn": user.arn, "Account": user.account})


@admin.command("list-users")
@_config_option
@_data_dir_option
@click.option("--account-id", help="Only this account.")
def list_users(config: Path | None, data_dir: Path | None, account_id: str | None) -> None:
    """List users: ARN and whether an identity policy is attached."""
    with _admin(config, data_dir) as deps:
        for user in deps.store.list_users(None if account_id is None else _account_of(deps, account_id, config)):
            click.echo(f"{user.arn}\t{'policy' if user.policy else 'no policy'}")


@admin.command("put-user-policy")
@_config_option
@_data_dir_option
@_account_option
@click.option("--user", "user_name", required=True, help="The user.")
@click.option(
    "--policy-document",
    required=True,
    help="The identity policy: JSON text, @FILE to read a file, or - to read standard input.",
)
def put_user_policy(
    config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str, policy_document: str
) -> None:
    """Attach an identity policy (IAM policy language) to a user, replacing the one it had."""
    if policy_document == "-":
        policy_document = sys.stdin.read()
    elif policy_document.startswith("@"):
        policy_document = Path(policy_document[1:]).read_text()
    with _admin(config, data_dir) as deps:
        user = principals.put_user_policy(deps, _account_of(deps, account_id, config), user_name, policy_document)
    click.echo(f"attached an identity policy to {user.arn}")


@admin.command("get-user-policy")
@_config_option
@_data_dir_option
@_account_option
@click.option("--user", "user_name", required=True, help="The user.")
def get_user_policy(config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str) -> None:
    """Print a user's identity policy (JSON); exit code 1 if it has none."""
    with _admin(config, data_dir) as deps:
        policy = principals.get_user_policy(deps, _account_of(deps, account_id, config), user_name)
    if policy is None:
        click.echo(f"user {user_name} has no identity policy", err=True)
        sys.exit(1)
    click.echo(policy)


@admin.command("create-access-key")
@_config_option
@_data_dir_option
@_account_option
@click.option("--user", "user_name", help="IAM user name; without it the key acts as the account root.")
@click.option("--access-key-id", "given_id", help="Use this access key id instead of a generated one.")
@click.option("--secret-access-key", "given_secret", help="Use this secret instead of a generated one.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def create_access_key(
    config: Path | None,
    data_dir: Path | None,
    account_id: str | None,
    user_name: str | None,
    given_id: str | None,
    given_secret: str | None,
    as_json: bool,
) -> None:
    """Add an access key: for an existing account's root, or for an existing user."""
    with _admin(config, data_dir) as deps:
        account = _account_of(deps, account_id, config)
        principal = root_arn(account) if user_name is None else user_arn(account, user_name)
        secret = None if given_secret is None else Sensitive(given_secret.encode())
        record, secret = principals.create_access_key(deps, account, principal, given_id, secret)
    if as_json:
        _echo_json(
            {
                "AccessKeyId": record.access_key_id,
                "SecretAccessKey": secret.reveal().decode(),
                "Account": record.account,
                "Principal": record.principal_arn,
            }
        )
    else:
        click.echo(f"aws_access_key_id     = {record.access_key_id}")
        click.echo(f"aws_secret_access_key = {secret.reveal().decode()}")
        click.echo(f"principal             = {record.principal_arn}")


@admin.command("list-access-keys")
@_config_option
@_data_dir_option
@click.option("--account-id", help="Only this account.")
def list_access_keys(config: Path | None, data_dir: Path | None, account_id: str | None) -> None:
    """List access key ids and their principals (never secrets)."""
    with _admin(config, data_dir) as deps:
        records = deps.store.list_access_keys(None if account_id is None else _account_of(deps, account_id, config))
    for record in records:
        status = "active" if record.active else "inactive"
        click.echo(f"{record.access_key_id}\t{record.account}\t{record.principal_arn}\t{status}")


_key_user_option = click.option("--user", "user_name", help="Only if the key is this user's (IAM's UserName).")


@admin.command("update-access-key")
@_config_option
@_data_dir_option
@_account_option
@_key_user_option
@click.argument("access_key_id")
@click.option("--status", required=True, type=click.Choice(list(principals.STATUSES)), help="Active or Inactive.")
def update_access_key(
    config: Path | None,
    data_dir: Path | None,
    account_id: str | None,
    user_name: str | None,
    access_key_id: str,
    status: str,
) -> None:
    """Activate or deactivate an access key (IAM UpdateAccessKey); effective on the next request. Audited."""
    with _admin(config, data_dir) as deps:
        account = _account_of(deps, account_id, config)
        record = principals.update_access_key(deps, account, access_key_id, status, user_name)
    click.echo(f"access key {record.access_key_id} of {record.principal_arn} is now {status}")


@admin.command("delete-access-key")
@_config_option
@_data_dir_option
@_account_option
@_key_user_option
@click.argument("access_key_id")
def delete_access_key(
    config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str | None, access_key_id: str
) -> None:
    """Delete an access key for good (IAM DeleteAccessKey); effective on the next request. Audited."""
    with _admin(config, data_dir) as deps:
        record = principals.delete_access_key(deps, _account_of(deps, account_id, config), access_key_id, user_name)
    click.echo(f"deleted access key {record.access_key_id} of {record.principal_arn}")


@admin.command("delete-user-policy")
@_config_option
@_data_dir_option
@_account_option
@click.option("--user", "user_name", required=True, help="The user.")
def delete_user_policy(config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str) -> None:
    """Remove a user's identity policy (IAM DeleteUserPolicy); effective on the next request. Audited."""
    with _admin(config, data_dir) as deps:
        user = principals.delete_user_policy(deps, _account_of(deps, account_id, config), user_name)
    click.echo(f"removed the identity policy of {user.arn}")


@admin.command("delete-user")
@_config_option
@_data_dir_option
@_account_option
@click.argument("user_name")
def delete_user(config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str) -> None:
    """Delete a user (IAM DeleteUser): refused while it has access keys or a policy. Audited."""
    with _admin(config, data_dir) as deps:
        user = principals.delete_user(deps, _account_of(deps, account_id, config), user_name)
    click.echo(f"deleted user {user.arn}")


@admin.command("delete-account")
@_config_option
@_data_dir_option
@click.argument("account_id")
def delete_account(config: Path | None, data_dir: Path | None, account_id: str) -> None:
    """Delete an empty account: refused while it has keys, users or access keys, and for the data directory's own."""
    with _admin(config, data_dir) as deps:
        account = principals.delete_account(deps, account_id)
    click.echo(f"deleted account {account.account}")


@admin.command("reset")
@click.option(
    "--endpoint",
    default="http://127.0.0.1:9600",
    show_default=True,
    help="The dev server (trent serve --dev) to reset.",
)
def reset(endpoint: str) -> None:
    """Put a running dev server back to its start state (empty, then its seed), without a restart."""
    try:
        answer = app.request_reset(endpoint)
    except OSError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"reset {endpoint} in {answer.get('milliseconds', 0):.1f} ms")


@admin.command("migrate")
@_config_option
@_data_dir_option
def migrate(config: Path | None, data_dir: Path | None) -> None:
    """Apply the store's schema migrations without serving (every node also does at start); print the versions.
    The store: --database, else trent.db in the data directory."""
    settings = _settings(config, data_dir=data_dir)
    before, after = app.migrate_store(settings)
    where = app.database_name(settings)
    if before == after:
        click.echo(f"{where}: schema version {after}, already current")
    else:
        click.echo(f"{where}: schema version {before} -> {after}")


def _echo_rewrapped(done: app.Rewrapped) -> None:
    click.echo(
        f"re-wrapped {done.materials} key material version(s), {done.secrets} access key secret(s), "
        f"{done.imports} import parameter set(s), {done.key_stores} custom key store password(s) and {done.blobs} "
        f"other blob(s) under root key {done.active}; "
        f"{done.current} already were"
    )
    for name in done.failed:
        click.echo(f"does not open (tampered, or of another root of trust): {name}", err=True)
    if done.failed:
        click.echo("run the command again once these are repaired or removed", err=True)
        sys.exit(1)


@admin.command("rotate-root-key")
@_config_option
@_data_dir_option
@click.option("--resume", is_flag=True, help="Add no root key: finish re-wrapping under the active one.")
def rotate_root_key(config: Path | None, data_dir: Path | None, resume: bool) -> None:
    """Add a root key version (in the root key file, or in the PKCS#11 token) and re-wrap every key's material,
    every access key's secret and the audit keys under it. Servers keep serving: old blobs open until re-wrapped,
    and every process wraps under the new root key within a second. Interrupted, run it with --resume."""
    done = app.rotate_root_key(_settings(config, data_dir=data_dir), resume=resume)
    if done.added is not None:
        click.echo(f"added root key {done.added}: the active one from now on")
    _echo_rewrapped(done)


@admin.command("migrate-root")
@_config_option
@_data_dir_option
@click.option("--to", "target", required=True, type=click.Choice(["pkcs11"]), help="The root of trust to move to.")
def migrate_root(config: Path | None, data_dir: Path | None, target: str) -> None:
    """Move a software root of trust into a PKCS#11 token (--pkcs11-module, --pkcs11-token-label,
    --pkcs11-pin-file), without stopping the servers: from now on they wrap in the token, and every blob is
    re-wrapped there. Then start every node with --root-of-trust pkcs11 and remove the root key file."""
    settings = _settings(config, data_dir=data_dir)
    done = app.migrate_root(settings)
    _echo_rewrapped(done)
    click.echo(
        f"moved into PKCS#11 token {settings.pkcs11_token_label!r}. Next: restart every node with --root-of-trust "
        "pkcs11 and the same --pkcs11-* settings, then remove the root key file "
        f"{settings.root_key_path} (until then it hands over to the token)"
    )


@admin.command("seal-root-key")
@_config_option
@_data_dir_option
def seal_root_key(config: Path | None, data_dir: Path | None) -> None:
    """Encrypt the root key file under a passphrase (--root-key-passphrase-file or TRENT_ROOT_KEY_PASSPHRASE):
    scrypt, its parameters kept in the file; replaced atomically, mode 0600. Every later command and server
    needs the passphrase."""
    settings = _settings(config, data_dir=data_dir)
    count = app.seal_root_key(settings)
    click.echo(
        f"sealed root key file {settings.root_key_path} ({count} root key(s)); give every command and server its "
        "passphrase from now on (--root-key-passphrase-file or TRENT_ROOT_KEY_PASSPHRASE), and restart the "
        "servers running now with it"
    )


@main.group()
def audit() -> None:
    """Verify and search the audit log (CloudTrail-format records, hash-chained)."""


_audit_path_option = click.option(
    "--audit-path", type=click.Path(path_type=Path, dir_okay=False), help="Audit database [TRENT_AUDIT_PATH]."
)


@audit.command("verify")
@_config_option
@_data_dir_option
@_audit_path_option
@click.option(
    "--exported",
    type=click.Path(path_type=Path),
    help="Verify the export in this directory instead (offline: files, digests, signatures, chain).",
)
@click.option(
    "--public-key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="With --exported: the export public key (PEM) to trust, instead of the one in the directory.",
)
def audit_verify(
    config: Path | None, data_dir: Path | None, audit_path: Path | None, exported: Path | None, public_key: Path | None
) -> None:
    """Prove the log intact, or name each modified, missing, reordered, truncated or damaged record, a replaced or
    rolled-back database, one line each. Exit 1 if not intact."""
    settings = _settings(config, data_dir=data_dir, audit_path=audit_path)
    if exported is not None:
        _verify_exported(settings, exported, public_key)
        return
    tally, problems = Tally(), 0
    try:
        for problem in app.verify_audit(settings, tally):
            click.echo(str(problem))
            problems += 1
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if problems:
        click.echo(f"audit log NOT intact: {problems} problem(s) in {tally.records} record(s)", err=True)
        sys.exit(1)
    span = "" if tally.first is None else f", records {tally.first}-{tally.last.seq}"
    click.echo(f"audit log intact: {tally.records} record(s){span}, hash chain and head verified")
    if tally.base.seq:
        click.echo(f"records 1-{tally.base.seq} were pruned after export; the remaining log continues from them")
    if not tally.anchored:
        click.echo("warning: the store anchors no checkpoint of this chain; start `trent serve` once", err=True)


def _verify_exported(settings: Settings, directory: Path, public_key: Path | None) -> None:
    tally, problems = ExportTally(), 0
    try:
        for problem in app.verify_exported(settings, directory, public_key, tally):
            click.echo(str(problem))
            problems += 1
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if problems:
        click.echo(f"export NOT intact: {problems} problem(s) in {tally.files} log file(s)", err=True)
        sys.exit(1)
    keys = ", ".join(sorted(tally.fingerprints))
    click.echo(
        f"export intact: {tally.records} record(s) (records 1-{tally.last.seq}) in {tally.files} log file(s), "
        f"{tally.digests} digest(s) signed by key {keys}, chain {tally.chain_id}"
    )
    if tally.continued_from:
        click.echo(f"the live audit log continues it: it was pruned through record {tally.continued_from}")
    elif tally.continued_from is not None:
        click.echo("the live audit log still holds every exported record (nothing pruned)")


@audit.command("export")
@_config_option
@_data_dir_option
@_audit_path_option
@click.option("--to", "directory", required=True, type=click.Path(path_type=Path), help="The export directory.")
@click.option("--until", help="ISO 8601 time; export records up to it [default: all].")
@click.option("--prune", is_flag=True, help="Then delete from the audit database every record the export holds.")
def audit_export(
    config: Path | None, data_dir: Path | None, audit_path: Path | None, directory: Path, until: str | None, prune: bool
) -> None:
    """Write the records not yet exported as CloudTrail log files with a signed digest (AWSLogs/ layout)."""
    settings = _settings(config, data_dir=data_dir, audit_path=audit_path)
    try:
        result = app.export_audit(settings, directory, _when(until), prune)
    except (OSError, ValueError, sqlite3.Error) as exc:
        raise click.ClickException(str(exc)) from None
    if result.records:
        first = result.last.seq - result.records + 1
        click.echo(f"exported records {first}-{result.last.seq} in {result.files} log file(s); digest {result.digest}")
    else:
        click.echo(f"nothing to export: {directory} holds records up to {result.last.seq}")
    if result.pruned_through is not None:
        click.echo(f"audit database pruned through record {result.pruned_through}")


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit.command("query")
@_config_option
@_data_dir_option
@_audit_path_option
@click.option("--key", help="A key id or key ARN.")
@click.option("--principal", help="A principal ARN (or, for failed sign-ins, an access key id).")
@click.option("--event-name", help="An operation, e.g. Decrypt.")
@click.option("--error", help="An error code, or '*' for every failed request.")
@click.option("--since", help="ISO 8601 time; records at or after it.")
@click.option("--until", help="ISO 8601 time; records at or before it.")
@click.option("--limit", type=int, help="At most this many records.")
def audit_query(
    config: Path | None,
    data_dir: Path | None,
    audit_path: Path | None,
    key: str | None,
    principal: str | None,
    event_name: str | None,
    error: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
) -> None:
    """Print the matching records as JSON lines, oldest first."""
    settings = _settings(config, data_dir=data_dir, audit_path=audit_path)
    filters = AuditQuery(key, principal, event_name, error, _when(since), _when(until), limit)
    for body in app.query_audit(settings, filters):
        click.echo(body.decode())


# trent admin add-hsm-cluster | list-hsm-clusters | remove-hsm-cluster (custom key stores' clusters)
cli_clusters.register(admin, _admin, (_config_option, _data_dir_option))
cli_xks.register(admin, _admin, _config_option, _data_dir_option)
