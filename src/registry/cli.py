"""The ``registry`` command line (also ``python -m registry``).

Thin: commands map arguments to library calls and errors to one message (plus hints) on stderr
and an exit code. Command groups live in their own modules and attach here with
``cli.add_command``; this branch provides ``registry db ...`` (:mod:`registry.db_commands`).
click is imported only by the command-line modules.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from registry.db_commands import db
from registry.errors import ValidationError

__all__ = ["cli", "main"]

EXIT_PROBLEMS = 1
EXIT_STORE = 4


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="REGISTRY_URL",
    help="Store URL (default: $REGISTRY_URL, then the local SQLite file).",
)
@click.pass_context
def cli(ctx: click.Context, url: str | None) -> None:
    """Persistent, validated registries of functions, classes and schemes."""
    ctx.ensure_object(dict).setdefault("url", url)


cli.add_command(db)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (errors: message and hints on stderr)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name="registry", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as usage:
        usage.show()
        return usage.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return EXIT_PROBLEMS
    except ValidationError as error:
        click.echo(f"error: {error.message}", err=True)
        for hint in error.suggestions:
            click.echo(f"  hint: {hint}", err=True)
        return EXIT_STORE
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
