"""The `trent` command: serve | admin. Parses flags and calls app; holds no domain logic."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click

from trent import app
from trent.audit.sinks import AuditQuery
from trent.config import ConfigError, Settings, load_settings
from trent.kms.ids import AccountId
from trent.kms.principals import root_arn, user_arn
from trent.kms.sensitive import Sensitive
from trent.ops import principals
from trent.ops.deps import Deps


def _settings(config: Path | None, **flags: object) -> Settings:
    try:
        return load_settings(flags, toml_path=config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


_config_option = click.option(
    "--config", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="TOML settings file."
)
_data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path, file_okay=False), help="Data directory [TRENT_DATA_DIR]."
)


@click.group()
@click.version_option(package_name="trent-kms")
def main() -> None:
    """Trent: a key management service that speaks the AWS KMS API."""


@main.command()
@_config_option
@_data_dir_option
@click.option("--host", help="Address to listen on [TRENT_HOST; default 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on; 0 picks a free one [TRENT_PORT; default 9600].")
@click.option("--account-id", help="Account created at first start [TRENT_ACCOUNT_ID; default 111122223333].")
@click.option("--workers", type=int, help="Worker processes [TRENT_WORKERS; default: one per core].")
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, dir_okay=False),
    help="PEM certificate chain: serve HTTPS (with --tls-key) [TRENT_TLS_CERT].",
)
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False), help="PEM private key [TRENT_TLS_KEY].")
def serve(config: Path | None, **flags: object) -> None:
    """Run the KMS endpoint (creates the data directory, root key and admin key on first start)."""
    settings = _settings(config, **flags)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def announce(endpoint: str, admin: app.AdminKey | None) -> None:
        lines = [f"Trent is listening on {endpoint}  (data directory: {settings.data_dir})"]
        if admin is not None and admin.secret is not None:
            lines += [
                "Created the admin access key of account " + settings.account_id + " (shown only this once):",
                f"  aws_access_key_id     = {admin.access_key_id}",
                f"  aws_secret_access_key = {admin.secret.reveal().decode()}",
            ]
        lines += [
            "Use it with any AWS SDK or the AWS CLI, e.g.:",
            f"  aws kms list-keys --endpoint-url {endpoint} --region us-east-1",
            "More access keys: trent admin create-access-key --help",
        ]
        click.echo("\n".join(lines))
        sys.stdout.flush()

    try:
        sys.exit(app.serve(settings, announce))
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def admin() -> None:
    """Administer accounts, users, identity policies and access keys (works while the server runs)."""


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


@contextlib.contextmanager
def _admin(config: Path | None, data_dir: Path | None) -> Iterator[Deps]:
    settings = _settings(config, data_dir=data_dir)
    try:
        with app.administration(settings) as deps:
            yield deps
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _account_of(account_id: str | None, config: Path | None) -> str:
    return account_id or _settings(config).account_id


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
@click.option("--account-id", help="The user's account [default: the server's account].")
@click.argument("user_name")
def create_user(config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str) -> None:
    """Create an IAM-style user, arn:aws:iam::<account>:user/<name>. It can do nothing until a policy allows it."""
    with _admin(config, data_dir) as deps:
        user = principals.create_user(deps, _account_of(account_id, config), user_name)
    _echo_json({"UserName": user.name, "Arn": user.arn, "Account": user.account})


@admin.command("list-users")
@_config_option
@_data_dir_option
@click.option("--account-id", help="Only this account.")
def list_users(config: Path | None, data_dir: Path | None, account_id: str | None) -> None:
    """List users: ARN and whether an identity policy is attached."""
    with _admin(config, data_dir) as deps:
        for user in deps.store.list_users(None if account_id is None else AccountId(account_id)):
            click.echo(f"{user.arn}\t{'policy' if user.policy else 'no policy'}")


@admin.command("put-user-policy")
@_config_option
@_data_dir_option
@click.option("--account-id", help="The user's account [default: the server's account].")
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
        user = principals.put_user_policy(deps, _account_of(account_id, config), user_name, policy_document)
    click.echo(f"attached an identity policy to {user.arn}")


@admin.command("get-user-policy")
@_config_option
@_data_dir_option
@click.option("--account-id", help="The user's account [default: the server's account].")
@click.option("--user", "user_name", required=True, help="The user.")
def get_user_policy(config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str) -> None:
    """Print a user's identity policy (JSON); exit code 1 if it has none."""
    with _admin(config, data_dir) as deps:
        policy = principals.get_user_policy(deps, _account_of(account_id, config), user_name)
    if policy is None:
        click.echo(f"user {user_name} has no identity policy", err=True)
        sys.exit(1)
    click.echo(policy)


@admin.command("create-access-key")
@_config_option
@_data_dir_option
@click.option("--account-id", help="Account of the key [default: the server's account].")
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
    """Add an access key: for an account's root (the account is created if new) or for an existing user."""
    account = _account_of(account_id, config)
    principal = root_arn(account) if user_name is None else user_arn(account, user_name)
    with _admin(config, data_dir) as deps:
        secret = None if given_secret is None else Sensitive(given_secret.encode())
        record, secret = principals.create_access_key(deps, AccountId(account), principal, given_id, secret)
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
        records = deps.store.list_access_keys(None if account_id is None else AccountId(account_id))
    for record in records:
        status = "active" if record.active else "inactive"
        click.echo(f"{record.access_key_id}\t{record.account}\t{record.principal_arn}\t{status}")


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
def audit_verify(config: Path | None, data_dir: Path | None, audit_path: Path | None) -> None:
    """Prove the log intact, or name each modified, missing, reordered or truncated record. Exit 1 if not intact."""
    settings = _settings(config, data_dir=data_dir, audit_path=audit_path)
    try:
        count, problems = app.verify_audit(settings)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"audit log NOT intact: {len(problems)} problem(s) in {count} record(s)", err=True)
        sys.exit(1)
    click.echo(f"audit log intact: {count} record(s), hash chain and head verified")


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
    try:
        for body in app.query_audit(settings, filters):
            click.echo(body.decode())
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
