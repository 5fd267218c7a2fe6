"""The `trent` command: serve | admin | audit. Parses flags and calls app; holds no domain logic.

This module holds the root and `trent serve`; `trent admin` is cli_admin.py, `trent audit` cli_audit.py, and
what their commands share cli_options.py.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from trent import app, logs
from trent.cli_options import config_option, data_dir_option, settings_for
from trent.config import Settings


class _Trent(click.Group):
    """Every operator error (a bad file, mode, setting, a busy port or data directory) is one line and exit 1.

    The command groups of other modules are imported when named (or listed, by --help), so that `trent serve`
    loads none of them (the start time of a dev server: benchmarks/results/dev_start.md)."""

    GROUPS = {"admin": "trent.cli_admin", "audit": "trent.cli_audit"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.GROUPS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.GROUPS and cmd_name not in self.commands:
            group = getattr(importlib.import_module(self.GROUPS[cmd_name]), cmd_name)
            self.add_command(group, cmd_name)
        return super().get_command(ctx, cmd_name)

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
@config_option
@data_dir_option
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
    given = settings_for(config, **flags)
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
