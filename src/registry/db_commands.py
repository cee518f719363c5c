"""``registry db ...``: inspect and migrate the schema of a store's database.

Each command maps its arguments to one :mod:`registry.store.migrate` call. ``--url`` on the
command wins over the ``registry --url`` group option, then ``REGISTRY_URL`` and the default
SQLite file. ``current``, ``check`` and ``history`` only read: they report a SQLite file that
does not exist as ``empty`` without creating it. The commands attach to the main command group
with ``cli.add_command(db)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from registry.cli_base import echo_json, json_option

if TYPE_CHECKING:
    from registry.store.migrate import SchemaState

__all__ = ["db"]

_URL_HELP = "Store URL (default: registry --url, REGISTRY_URL, else the local SQLite file)."


def _resolve(url: str | None) -> str:
    from registry.store import resolve_store_url

    if not url:
        parent = click.get_current_context().find_root().obj
        url = parent.get("url") if isinstance(parent, dict) else None
    resolved = resolve_store_url(url)
    if resolved.startswith(("memory://", "http://", "https://")):
        raise click.UsageError(
            f"registry db manages the schema of a database; {resolved.partition(':')[0]} "
            "stores have none (give a sqlite:/// or postgresql:// URL)"
        )
    return resolved


def _missing_file(url: str) -> bool:
    from registry.store.engines import sqlite_file_exists, sqlite_path

    path = sqlite_path(url)
    return path is not None and not sqlite_file_exists(path)


def _inspect(url: str) -> SchemaState:
    """The database's schema state; a SQLite file that does not exist is empty (not created)."""
    from registry.store import migrate

    if _missing_file(url):
        return migrate.SchemaState(migrate.SchemaStatus.EMPTY, None, migrate.head_revision())
    return migrate.check(url)


def _shown(url: str) -> str:
    from registry.store.engines import safe_url

    return safe_url(url)


def _state_json(url: str, state: SchemaState) -> dict[str, Any]:
    return {
        "url": _shown(url),
        "revision": state.revision,
        "head": state.head,
        "status": state.status.value,
    }


url_option = click.option("--url", help=_URL_HELP)


@click.group("db")
def db() -> None:
    """Inspect and migrate the store's database schema."""


@db.command()
@url_option
@json_option
def current(url: str | None, as_json: bool) -> None:
    """Print the database revision, this package's head and the status."""
    resolved = _resolve(url)
    state = _inspect(resolved)
    if as_json:
        echo_json(_state_json(resolved, state))
        return
    click.echo(f"url:      {_shown(resolved)}")
    click.echo(f"revision: {state.revision or '(none)'}")
    click.echo(f"head:     {state.head}")
    click.echo(f"status:   {state.status.value}")


@db.command()
@url_option
@json_option
def check(url: str | None, as_json: bool) -> None:
    """Check the revision, the live schema against the models, and (SQLite) the file's
    integrity. Exit 0 if up to date, 1 if behind, 2 if newer than this package, 3 if empty,
    5 if the schema differs from the models or the file is damaged."""
    from registry.store import migrate

    resolved = _resolve(url)
    if _missing_file(resolved):
        report = migrate.SchemaReport(_inspect(resolved), [], [])
    else:
        report = migrate.verify(resolved)
    state = report.state
    if as_json:
        shown = (
            _state_json(resolved, state)
            if state is not None
            else {"url": _shown(resolved), "status": "unreadable"}
        )
        echo_json({**shown, "differences": report.differences, "problems": report.problems})
        click.get_current_context().exit(report.exit_code)
    if state is not None:
        click.echo(
            f"{state.status.value}: database at {state.revision or '(none)'}, "
            f"package head {state.head}"
        )
    if report.differences:
        click.echo(f"schema: {len(report.differences)} differences from the models")
        for difference in report.differences:
            click.echo(f"  - {difference}")
    elif state is not None and state.status is migrate.SchemaStatus.CURRENT:
        click.echo("schema: matches the models")
    if report.problems:
        click.echo("integrity: the database file is damaged")
        for problem in report.problems:
            click.echo(f"  - {problem}")
    if report.exit_code == migrate.EXIT_DAMAGED:
        click.echo(
            "hint: restore the database from a backup (SQLite: the <db>.bak-* copies "
            "`registry db upgrade` makes), or recreate it and `registry import` an export",
            err=True,
        )
    click.get_current_context().exit(report.exit_code)


@db.command()
@url_option
@click.option("--to", "revision", default="head", show_default=True, help="Target revision.")
@click.option("--no-backup", is_flag=True, help="Do not copy a SQLite file before upgrading.")
@json_option
def upgrade(url: str | None, revision: str, no_backup: bool, as_json: bool) -> None:
    """Upgrade the schema (SQLite files are backed up to <db>.bak-<rev>-<time> first)."""
    from registry.store import migrate

    resolved = _resolve(url)
    before = _inspect(resolved)
    if before.status is migrate.SchemaStatus.BEHIND and resolved.startswith("postgresql"):
        click.echo(
            "note: back up PostgreSQL with pg_dump before upgrading a shared store", err=True
        )
    state = migrate.upgrade(resolved, revision, backup=not no_backup)
    _report_change(resolved, before.revision, state, as_json, "upgraded")


@db.command()
@click.argument("revision")
@url_option
@click.option("--no-backup", is_flag=True, help="Do not copy a SQLite file first.")
@json_option
@click.confirmation_option(prompt="Downgrading can drop data. Continue?")
def downgrade(revision: str, url: str | None, no_backup: bool, as_json: bool) -> None:
    """Downgrade the schema to REVISION (``base`` drops every table). For development."""
    from registry.store import migrate

    resolved = _resolve(url)
    if _missing_file(resolved):
        from registry.store.engines import sqlite_path

        raise click.BadParameter(f"there is no database at {sqlite_path(resolved)} to downgrade")
    before = migrate.check(resolved)
    state = migrate.downgrade(resolved, revision, backup=not no_backup)
    _report_change(resolved, before.revision, state, as_json, "downgraded")


def _report_change(
    url: str, before: str | None, state: SchemaState, as_json: bool, verb: str
) -> None:
    changed = before != state.revision
    if as_json:
        echo_json({**_state_json(url, state), "previous_revision": before, "changed": changed})
    elif not changed:
        where = "head" if state.revision == state.head else state.revision or "base"
        click.echo(f"{_shown(url)} is already at {where} ({state.revision or 'empty'}): no change")
    else:
        click.echo(f"{verb} {_shown(url)}: {before or '(empty)'} -> {state.revision or '(base)'}")


@db.command()
@json_option
def history(as_json: bool) -> None:
    """List the migration scripts this package ships, newest first."""
    from registry.store import migrate

    infos = migrate.history()
    if as_json:
        echo_json(
            [
                {
                    "revision": info.revision,
                    "down_revision": info.down_revision,
                    "message": info.message,
                    "is_head": info.is_head,
                }
                for info in infos
            ]
        )
        return
    for info in infos:
        mark = " (head)" if info.is_head else ""
        click.echo(
            f"{info.down_revision or '<base>'} -> {info.revision}{mark}: "
            f"{info.message.splitlines()[0] if info.message else ''}"
        )
