"""`trent audit`: verify, export and query the audit log. Loaded by cli.py only when `trent audit` is named."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import click

from trent import app
from trent.audit.exported import ExportTally
from trent.audit.port import AuditQuery
from trent.audit.verify import Tally
from trent.cli_options import config_option, data_dir_option, settings_for
from trent.config import Settings


@click.group()
def audit() -> None:
    """Verify and search the audit log (CloudTrail-format records, hash-chained)."""


_audit_path_option = click.option(
    "--audit-path", type=click.Path(path_type=Path, dir_okay=False), help="Audit database [TRENT_AUDIT_PATH]."
)


@audit.command("verify")
@config_option
@data_dir_option
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
    settings = settings_for(config, data_dir=data_dir, audit_path=audit_path)
    if exported is not None:
        _verify_exported(settings, exported, public_key)
        return
    tally = Tally()
    _echo_problems(
        lambda: app.verify_audit(settings, tally),
        lambda problems: f"audit log NOT intact: {problems} problem(s) in {tally.records} record(s)",
    )
    span = "" if tally.first is None else f", records {tally.first}-{tally.last.seq}"
    click.echo(f"audit log intact: {tally.records} record(s){span}, hash chain and head verified")
    if tally.base.seq:
        click.echo(f"records 1-{tally.base.seq} were pruned after export; the remaining log continues from them")
    if not tally.anchored:
        click.echo("warning: the store anchors no checkpoint of this chain; start `trent serve` once", err=True)


def _echo_problems(problems: Callable[[], Iterable[object]], not_intact: Callable[[int], str]) -> None:
    """One line per problem found; a file or database that cannot be read is a ClickException; any problem:
    the not-intact summary on standard error and exit 1."""
    count = 0
    try:
        for problem in problems():
            click.echo(str(problem))
            count += 1
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if count:
        click.echo(not_intact(count), err=True)
        sys.exit(1)


def _verify_exported(settings: Settings, directory: Path, public_key: Path | None) -> None:
    tally = ExportTally()
    _echo_problems(
        lambda: app.verify_exported(settings, directory, public_key, tally),
        lambda problems: f"export NOT intact: {problems} problem(s) in {tally.files} log file(s)",
    )
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
@config_option
@data_dir_option
@_audit_path_option
@click.option("--to", "directory", required=True, type=click.Path(path_type=Path), help="The export directory.")
@click.option("--until", help="ISO 8601 time; export records up to it [default: all].")
@click.option("--prune", is_flag=True, help="Then delete from the audit database every record the export holds.")
def audit_export(
    config: Path | None, data_dir: Path | None, audit_path: Path | None, directory: Path, until: str | None, prune: bool
) -> None:
    """Write the records not yet exported as CloudTrail log files with a signed digest (AWSLogs/ layout)."""
    settings = settings_for(config, data_dir=data_dir, audit_path=audit_path)
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
@config_option
@data_dir_option
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
    settings = settings_for(config, data_dir=data_dir, audit_path=audit_path)
    filters = AuditQuery(key, principal, event_name, error, _when(since), _when(until), limit)
    for body in app.query_audit(settings, filters):
        click.echo(body.decode())
