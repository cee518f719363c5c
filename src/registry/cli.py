"""The ``registry`` command line. For now only ``registry db ...`` (schema revisions).

Thin: maps arguments to :mod:`registry.store.migrate` calls and errors to exit codes, printing
each error's message and suggestions. More command groups attach to :data:`cli` with
``cli.add_command``. click is imported here only.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from registry.errors import SchemaVersionError, ValidationError

__all__ = ["cli", "main"]

#: Exit code for any error the library raised (``db check`` uses 0-3 for its verdict).
EXIT_ERROR = 4

_URL_HELP = "Store URL (default: REGISTRY_URL, else the local SQLite file)."


def _resolve(url: str | None) -> str:
    from registry.settings import resolve_url

    resolved = resolve_url(url)
    if resolved.startswith("memory://"):
        raise click.UsageError("memory:// stores have no schema to manage")
    return resolved


def _shown(url: str) -> str:
    from registry.store.engines import safe_url

    return safe_url(url)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="registry")
def cli() -> None:
    """Persistent, validated registries of functions, classes and schemes."""


@cli.group()
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
    """Exit 0 if up to date, 1 if behind, 2 if newer than this package, 3 if empty."""
    from registry.store import migrate

    state = migrate.check(_resolve(url))
    click.echo(f"{state.status.value}: database at {state.revision or '(none)'}, "
               f"package head {state.head}")
    sys.exit(state.status.exit_code)


@db.command()
@click.option("--url", help=_URL_HELP)
@click.option("--to", "revision", default="head", show_default=True, help="Target revision.")
@click.option("--no-backup", is_flag=True, help="Do not copy a SQLite file before upgrading.")
def upgrade(url: str | None, revision: str, no_backup: bool) -> None:
    """Upgrade the schema (SQLite files are backed up to <db>.bak-<rev>-<time> first)."""
    from registry.store import migrate

    resolved = _resolve(url)
    before = migrate.check(resolved)
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
        click.echo(f"{info.down_revision or '<base>'} -> {info.revision}{mark}: "
                   f"{info.message.splitlines()[0] if info.message else ''}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return (and, as a console script, exit with) the exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="registry",
                 standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SchemaVersionError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    except ValidationError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    except SystemExit as exc:  # db check's verdict
        return exc.code if isinstance(exc.code, int) else 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
