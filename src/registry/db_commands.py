"""``registry db ...``: inspect and migrate the schema of a store's database.

Each command maps its arguments to one :mod:`registry.store.migrate` call. ``--url`` on the
command wins over the ``registry --url`` group option, then ``REGISTRY_URL`` and the default
SQLite file. The commands attach to the main command group with ``cli.add_command(db)``.
"""

from __future__ import annotations

import click

__all__ = ["db"]

_URL_HELP = "Store URL (default: registry --url, REGISTRY_URL, else the local SQLite file)."


def _resolve(url: str | None) -> str:
    from registry.settings import resolve_url

    if not url:
        parent = click.get_current_context().find_root().obj
        url = parent.get("url") if isinstance(parent, dict) else None
    resolved = resolve_url(url)
    if resolved.startswith("memory://"):
        raise click.UsageError("memory:// stores have no schema to manage")
    return resolved


def _shown(url: str) -> str:
    from registry.store.engines import safe_url

    return safe_url(url)


@click.group("db")
def db() -> None:
    """Inspect and migrate the store's database schema."""


@db.command()
@click.option("--url", help=_URL_HELP)
def current(url: str | None) -> None:
    """Print the database revision, this package's head and the status."""
    from registry.store import migrate

    resolved = _resolve(url)
    state = migrate.check(resolved)
    click.echo(f"url:      {_shown(resolved)}")
    click.echo(f"revision: {state.revision or '(none)'}")
    click.echo(f"head:     {state.head}")
    click.echo(f"status:   {state.status.value}")


@db.command()
@click.option("--url", help=_URL_HELP)
def check(url: str | None) -> None:
    """Check the revision, the live schema against the models, and (SQLite) the file's
    integrity. Exit 0 if up to date, 1 if behind, 2 if newer than this package, 3 if empty,
    5 if the schema differs from the models or the file is damaged."""
    from registry.store import migrate

    report = migrate.verify(_resolve(url))
    state = report.state
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
@click.option("--url", help=_URL_HELP)
@click.option("--to", "revision", default="head", show_default=True, help="Target revision.")
@click.option("--no-backup", is_flag=True, help="Do not copy a SQLite file before upgrading.")
def upgrade(url: str | None, revision: str, no_backup: bool) -> None:
    """Upgrade the schema (SQLite files are backed up to <db>.bak-<rev>-<time> first)."""
    from registry.store import migrate

    resolved = _resolve(url)
    before = migrate.check(resolved)
    if before.status is migrate.SchemaStatus.BEHIND and resolved.startswith("postgresql"):
        click.echo(
            "note: back up PostgreSQL with pg_dump before upgrading a shared store", err=True
        )
    state = migrate.upgrade(resolved, revision, backup=not no_backup)
    click.echo(f"upgraded {_shown(resolved)}: {before.revision or '(empty)'} -> {state.revision}")


@db.command()
@click.argument("revision")
@click.option("--url", help=_URL_HELP)
@click.option("--no-backup", is_flag=True, help="Do not copy a SQLite file first.")
@click.confirmation_option(prompt="Downgrading can drop data. Continue?")
def downgrade(revision: str, url: str | None, no_backup: bool) -> None:
    """Downgrade the schema to REVISION (``base`` drops every table). For development."""
    from registry.store import migrate

    resolved = _resolve(url)
    state = migrate.downgrade(resolved, revision, backup=not no_backup)
    click.echo(f"downgraded {_shown(resolved)} to {state.revision or '(base)'}")


@db.command()
def history() -> None:
    """List the migration scripts this package ships, newest first."""
    from registry.store import migrate

    for info in migrate.history():
        mark = " (head)" if info.is_head else ""
        click.echo(
            f"{info.down_revision or '<base>'} -> {info.revision}{mark}: "
            f"{info.message.splitlines()[0] if info.message else ''}"
        )
