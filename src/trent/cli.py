"""The `trent` command: serve | admin. Parses flags and calls app; holds no domain logic."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from trent import app
from trent.config import ConfigError, Settings, load_settings
from trent.kms.principals import root_arn, user_arn


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
    """Administer accounts and access keys in a data directory (works while the server runs)."""


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
    """Add an access key for an account (the admin key of another account, or a user's key)."""
    settings = _settings(config, data_dir=data_dir, account_id=account_id)
    try:
        record, secret = app.create_access_key(
            settings,
            root_arn(settings.account_id) if user_name is None else user_arn(settings.account_id, user_name),
            given_id,
            given_secret,
        )
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        import json

        click.echo(
            json.dumps(
                {
                    "AccessKeyId": record.access_key_id,
                    "SecretAccessKey": secret.reveal().decode(),
                    "Account": record.account,
                    "Principal": record.principal_arn,
                }
            )
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
    settings = _settings(config, data_dir=data_dir)
    try:
        records = app.list_access_keys(settings, account_id)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for record in records:
        status = "active" if record.active else "inactive"
        click.echo(f"{record.access_key_id}\t{record.account}\t{record.principal_arn}\t{status}")
