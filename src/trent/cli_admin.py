"""`trent admin`: accounts, users, identity policies, access keys, the store's schema and the root key; and a
dev server's reset. Loaded by cli.py only when `trent admin` is named."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from trent import app, cli_clusters, cli_xks
from trent.cli_options import config_option, data_dir_option, settings_for
from trent.kms.ids import AccountId
from trent.kms.principals import root_arn, user_arn
from trent.kms.sensitive import Sensitive
from trent.ops import principals
from trent.ops.deps import Deps


@click.group()
def admin() -> None:
    """Administer accounts, users, identity policies and access keys (works while the server runs)."""


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


@contextlib.contextmanager
def _admin(config: Path | None, data_dir: Path | None) -> Iterator[Deps]:
    with app.administration(settings_for(config, data_dir=data_dir)) as deps:
        yield deps


def _account_of(deps: Deps, account_id: str | None, config: Path | None) -> AccountId:
    """--account-id (TRENT_ACCOUNT_ID), which must exist; else the data directory's own account."""
    return principals.resolve_account(deps, account_id or settings_for(config).account_id)


_account_option = click.option("--account-id", help="The account [default: the data directory's].")
_user_option = click.option("--user", "user_name", required=True, help="The user.")
F = TypeVar("F", bound=Callable[..., Any])


def _account_command(name: str) -> Callable[[F], F]:
    """`trent admin NAME` with --config, --data-dir and --account-id (in that order)."""

    def decorate(f: F) -> F:
        return cast(F, admin.command(name)(config_option(data_dir_option(_account_option(f)))))

    return decorate


@admin.command("create-account")
@config_option
@data_dir_option
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
@config_option
@data_dir_option
def list_accounts(config: Path | None, data_dir: Path | None) -> None:
    """List accounts, one per line."""
    with _admin(config, data_dir) as deps:
        for account in deps.store.list_accounts():
            click.echo(account.account)


@_account_command("create-user")
@click.argument("user_name")
def create_user(config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str) -> None:
    """Create an IAM-style user, arn:aws:iam::<account>:user/<name>. It can do nothing until a policy allows it."""
    with _admin(config, data_dir) as deps:
        user = principals.create_user(deps, _account_of(deps, account_id, config), user_name)
    _echo_json({"UserName": user.name, "Arn": user.arn, "Account": user.account})


@admin.command("list-users")
@config_option
@data_dir_option
@click.option("--account-id", help="Only this account.")
def list_users(config: Path | None, data_dir: Path | None, account_id: str | None) -> None:
    """List users: ARN and whether an identity policy is attached."""
    with _admin(config, data_dir) as deps:
        for user in deps.store.list_users(None if account_id is None else _account_of(deps, account_id, config)):
            click.echo(f"{user.arn}\t{'policy' if user.policy else 'no policy'}")


@_account_command("put-user-policy")
@_user_option
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


@_account_command("get-user-policy")
@_user_option
def get_user_policy(config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str) -> None:
    """Print a user's identity policy (JSON); exit code 1 if it has none."""
    with _admin(config, data_dir) as deps:
        policy = principals.get_user_policy(deps, _account_of(deps, account_id, config), user_name)
    if policy is None:
        click.echo(f"user {user_name} has no identity policy", err=True)
        sys.exit(1)
    click.echo(policy)


@_account_command("create-access-key")
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
@config_option
@data_dir_option
@click.option("--account-id", help="Only this account.")
def list_access_keys(config: Path | None, data_dir: Path | None, account_id: str | None) -> None:
    """List access key ids and their principals (never secrets)."""
    with _admin(config, data_dir) as deps:
        records = deps.store.list_access_keys(None if account_id is None else _account_of(deps, account_id, config))
    for record in records:
        status = "active" if record.active else "inactive"
        click.echo(f"{record.access_key_id}\t{record.account}\t{record.principal_arn}\t{status}")


_key_user_option = click.option("--user", "user_name", help="Only if the key is this user's (IAM's UserName).")


@_account_command("update-access-key")
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


@_account_command("delete-access-key")
@_key_user_option
@click.argument("access_key_id")
def delete_access_key(
    config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str | None, access_key_id: str
) -> None:
    """Delete an access key for good (IAM DeleteAccessKey); effective on the next request. Audited."""
    with _admin(config, data_dir) as deps:
        record = principals.delete_access_key(deps, _account_of(deps, account_id, config), access_key_id, user_name)
    click.echo(f"deleted access key {record.access_key_id} of {record.principal_arn}")


@_account_command("delete-user-policy")
@_user_option
def delete_user_policy(config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str) -> None:
    """Remove a user's identity policy (IAM DeleteUserPolicy); effective on the next request. Audited."""
    with _admin(config, data_dir) as deps:
        user = principals.delete_user_policy(deps, _account_of(deps, account_id, config), user_name)
    click.echo(f"removed the identity policy of {user.arn}")


@_account_command("delete-user")
@click.argument("user_name")
def delete_user(config: Path | None, data_dir: Path | None, account_id: str | None, user_name: str) -> None:
    """Delete a user (IAM DeleteUser): refused while it has access keys or a policy. Audited."""
    with _admin(config, data_dir) as deps:
        user = principals.delete_user(deps, _account_of(deps, account_id, config), user_name)
    click.echo(f"deleted user {user.arn}")


@admin.command("delete-account")
@config_option
@data_dir_option
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
@config_option
@data_dir_option
def migrate(config: Path | None, data_dir: Path | None) -> None:
    """Apply the store's schema migrations without serving (every node also does at start); print the versions.
    The store: --database, else trent.db in the data directory."""
    settings = settings_for(config, data_dir=data_dir)
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
@config_option
@data_dir_option
@click.option("--resume", is_flag=True, help="Add no root key: finish re-wrapping under the active one.")
def rotate_root_key(config: Path | None, data_dir: Path | None, resume: bool) -> None:
    """Add a root key version (in the root key file, or in the PKCS#11 token) and re-wrap every key's material,
    every access key's secret and the audit keys under it. Servers keep serving: old blobs open until re-wrapped,
    and every process wraps under the new root key within a second. Interrupted, run it with --resume."""
    done = app.rotate_root_key(settings_for(config, data_dir=data_dir), resume=resume)
    if done.added is not None:
        click.echo(f"added root key {done.added}: the active one from now on")
    _echo_rewrapped(done)


@admin.command("migrate-root")
@config_option
@data_dir_option
@click.option("--to", "target", required=True, type=click.Choice(["pkcs11"]), help="The root of trust to move to.")
def migrate_root(config: Path | None, data_dir: Path | None, target: str) -> None:
    """Move a software root of trust into a PKCS#11 token (--pkcs11-module, --pkcs11-token-label,
    --pkcs11-pin-file), without stopping the servers: from now on they wrap in the token, and every blob is
    re-wrapped there. Then start every node with --root-of-trust pkcs11 and remove the root key file."""
    settings = settings_for(config, data_dir=data_dir)
    done = app.migrate_root(settings)
    _echo_rewrapped(done)
    click.echo(
        f"moved into PKCS#11 token {settings.pkcs11_token_label!r}. Next: restart every node with --root-of-trust "
        "pkcs11 and the same --pkcs11-* settings, then remove the root key file "
        f"{settings.root_key_path} (until then it hands over to the token)"
    )


@admin.command("seal-root-key")
@config_option
@data_dir_option
def seal_root_key(config: Path | None, data_dir: Path | None) -> None:
    """Encrypt the root key file under a passphrase (--root-key-passphrase-file or TRENT_ROOT_KEY_PASSPHRASE):
    scrypt, its parameters kept in the file; replaced atomically, mode 0600. Every later command and server
    needs the passphrase."""
    settings = settings_for(config, data_dir=data_dir)
    count = app.seal_root_key(settings)
    click.echo(
        f"sealed root key file {settings.root_key_path} ({count} root key(s)); give every command and server its "
        "passphrase from now on (--root-key-passphrase-file or TRENT_ROOT_KEY_PASSPHRASE), and restart the "
        "servers running now with it"
    )


# trent admin add-hsm-cluster | list-hsm-clusters | remove-hsm-cluster (custom key stores' clusters)
cli_clusters.register(admin, _admin, (config_option, data_dir_option))
cli_xks.register(admin, _admin, config_option, data_dir_option)
