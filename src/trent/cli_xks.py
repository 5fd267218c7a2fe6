"""`trent admin xks ...`: the XKS proxy's logical key stores and exposed keys (app/xks.py does the work).

Kept out of cli.py, which registers these with `register(admin, ...)`: the helpers it passes (settings, the
data directory's options, the opened store) are cli.py's own."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import click

from trent.app import xks
from trent.kms.xks import XksKeyStore, usage_text
from trent.ops.deps import Deps

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
Opener = Callable[[Path | None, Path | None], contextlib.AbstractContextManager[Deps]]
SECRET_ENV = "TRENT_XKS_SECRET_ACCESS_KEY"


def secret_given(flag: str | None, file: TextIO | None) -> str | None:
    """The secret of --secret-access-key (or its environment variable) or --secret-access-key-file (its
    first line); a usage error for both."""
    if file is None:
        return flag
    if flag is not None:
        raise click.UsageError(f"give --secret-access-key-file or --secret-access-key (or ${SECRET_ENV}), not both")
    return file.readline().rstrip("\r\n")


def register(admin: click.Group, opened: Opener, config_option: Decorator, data_dir_option: Decorator) -> None:
    @admin.group("xks")
    def group() -> None:
        """Serve the AWS KMS External Key Store Proxy API: key stores, credentials, exposed keys (docs/xks.md)."""

    @contextlib.contextmanager
    def deps_of(config: Path | None, data_dir: Path | None) -> Iterator[Deps]:
        with opened(config, data_dir) as deps:
            try:
                yield deps
            except xks.XksAdminError as exc:
                raise click.ClickException(str(exc)) from None

    def command(name: str) -> Decorator:
        def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
            return group.command(name)(config_option(data_dir_option(f)))

        return decorate

    prefix_option = click.option("--uri-prefix", required=True, help="The key store's URI path prefix, e.g. ks/a.")
    credential_options = (
        click.option("--access-key-id", help="20-30 characters of A-Z and 2-7 [default: generated]."),
        click.option(
            "--secret-access-key-file",
            type=click.File("r"),
            help="Read the secret (43-64 characters of A-Za-z0-9+/=) from FILE, '-' for standard input. Preferred "
            "to --secret-access-key: a command line is visible to every user of the machine (/proc/*/cmdline).",
        ),
        click.option(
            "--secret-access-key",
            envvar=SECRET_ENV,
            help=f"43-64 characters of A-Za-z0-9+/= [default: generated]; or from ${SECRET_ENV}. Prefer "
            "--secret-access-key-file: a command line is visible to every user of the machine.",
        ),
    )

    def with_credential(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def resolved(*args: Any, secret_access_key_file: TextIO | None = None, **kwargs: Any) -> Any:
            kwargs["secret_access_key"] = secret_given(kwargs.get("secret_access_key"), secret_access_key_file)
            return f(*args, **kwargs)

        command_: Callable[..., Any] = resolved
        for option in reversed(credential_options):
            command_ = option(command_)
        return command_

    def show(record: XksKeyStore, credential: xks.Credential, what: str) -> None:
        lines = [f"{what} XKS key store {record.uri_prefix}: XksProxyUriPath {record.uri_path}"]
        lines.append(f"  AccessKeyId        = {credential.access_key_id}")
        if credential.secret is not None:
            lines[0] += " (the secret is shown only this once)"
            lines.append(f"  RawSecretAccessKey = {credential.secret.reveal().decode()}")
        click.echo("\n".join(lines))

    def credential_command(name: str) -> Decorator:
        """A command with --config, --data-dir, --uri-prefix and the credential options."""

        def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
            return command(name)(prefix_option(with_credential(f)))

        return decorate

    def changed(
        change: Callable[[Deps, str, str | None, str | None], tuple[XksKeyStore, xks.Credential]],
        what: str,
        config: Path | None,
        data_dir: Path | None,
        uri_prefix: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> XksKeyStore:
        with deps_of(config, data_dir) as deps:
            record, credential = change(deps, uri_prefix, access_key_id, secret_access_key)
        show(record, credential, what)
        return record

    @credential_command("create-keystore")
    def create_keystore(**given: Any) -> None:
        """Create a logical key store at /PREFIX/kms/xks/v1 with its SigV4 credential."""
        changed(xks.create_keystore, "Created", **given)

    @command("list-keystores")
    def list_keystores(config: Path | None, data_dir: Path | None) -> None:
        """Print every key store and its exposed keys as JSON (never a secret)."""
        with deps_of(config, data_dir) as deps:
            click.echo(json.dumps(xks.list_keystores(deps), indent=2, sort_keys=True))

    @credential_command("rotate-credential")
    def rotate_credential(**given: Any) -> None:
        """A new credential; the current one stays valid until retire-credential."""
        record = changed(xks.rotate_credential, "Rotated the credential of", **given)
        click.echo(
            f"  the previous one ({record.previous_access_key_id}) works until: trent admin xks retire-credential"
        )

    @command("retire-credential")
    @prefix_option
    def retire_credential(config: Path | None, data_dir: Path | None, uri_prefix: str) -> None:
        """Forget the previous credential of a rotation."""
        with deps_of(config, data_dir) as deps:
            xks.retire_credential(deps, uri_prefix)

    @command("delete-keystore")
    @prefix_option
    def delete_keystore(config: Path | None, data_dir: Path | None, uri_prefix: str) -> None:
        """Delete a key store and its exposures (the Trent keys stay)."""
        with deps_of(config, data_dir) as deps:
            xks.delete_keystore(deps, uri_prefix)

    @command("disable-keystore")
    @prefix_option
    def disable_keystore(config: Path | None, data_dir: Path | None, uri_prefix: str) -> None:
        """Cut AWS KMS off at once: every request to the store answers InvalidStateException."""
        with deps_of(config, data_dir) as deps:
            xks.set_enabled(deps, uri_prefix, False)

    @command("enable-keystore")
    @prefix_option
    def enable_keystore(config: Path | None, data_dir: Path | None, uri_prefix: str) -> None:
        """Serve a disabled key store again."""
        with deps_of(config, data_dir) as deps:
            xks.set_enabled(deps, uri_prefix, True)

    @command("expose")
    @prefix_option
    @click.option("--key-id", required=True, help="A Trent key (SYMMETRIC_DEFAULT): its id or ARN.")
    @click.option(
        "--usage", default="ENCRYPT,DECRYPT", show_default=True, help="ENCRYPT,DECRYPT | ENCRYPT | DECRYPT | NONE"
    )
    @click.option("--allow-principal", multiple=True, help="Serve only these awsPrincipalArn values (repeatable).")
    @click.option("--allow-operation", multiple=True, help="Serve only these kmsOperation values (repeatable).")
    def expose(
        config: Path | None,
        data_dir: Path | None,
        uri_prefix: str,
        key_id: str,
        usage: str,
        allow_principal: tuple[str, ...],
        allow_operation: tuple[str, ...],
    ) -> None:
        """Expose a Trent key to a key store as the external key of its key id (again: replace how)."""
        with deps_of(config, data_dir) as deps:
            record = xks.expose(deps, uri_prefix, key_id, usage, allow_principal, allow_operation)
        click.echo(f"Exposed {record.key_id} to {record.uri_prefix} for {usage_text(record.usage)}")

    @command("unexpose")
    @prefix_option
    @click.option("--key-id", required=True, help="The exposed key's id or ARN.")
    def unexpose(config: Path | None, data_dir: Path | None, uri_prefix: str, key_id: str) -> None:
        """Stop exposing a key to a key store."""
        with deps_of(config, data_dir) as deps:
            xks.unexpose(deps, uri_prefix, key_id)
