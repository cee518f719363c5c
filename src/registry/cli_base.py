"""What every ``registry`` command shares: ``--url`` on subcommands, ``--json``, ``--debug``, and
:func:`run_command`, which turns every error into an ``error:`` line and ``hint:`` lines on
stderr with an exit code chosen by the error's class (the table in docs/cli.md).

``registry`` (``cli.py``) and ``python -m registry.server.run`` (``server/run.py``, the
``serve`` command alone) both run their commands through it, so neither imports the other's
module. click is imported only here, in ``cli``, ``db_commands`` and ``server.run``.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click

from registry.errors import NotFoundError, SettingsError, StoreError, ValidationError

__all__ = [
    "EXIT_CODES",
    "EXIT_PROBLEMS",
    "add_debug_option",
    "echo_json",
    "exit_code_of",
    "json_option",
    "report",
    "run_command",
    "url_option",
]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_STORE = 4
EXIT_INTERRUPTED = 130

#: The exit code of each error class, most specific first (the table in docs/cli.md).
EXIT_CODES: tuple[tuple[type[ValidationError], int], ...] = (
    (NotFoundError, EXIT_NOT_FOUND),
    (StoreError, EXIT_STORE),
    (SettingsError, EXIT_USAGE),
    (ValidationError, EXIT_PROBLEMS),
)


def exit_code_of(error: ValidationError) -> int:
    """Return the exit code for ``error``, from its class alone."""
    return next(code for cls, code in EXIT_CODES if isinstance(error, cls))


def url_option(func: F) -> F:
    """``--url`` on a subcommand, overriding the group's ``--url`` and ``REGISTRY_URL``."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value:
            ctx.ensure_object(dict)["url"] = value

    return click.option(
        "--url",
        help="Store URL (default: $REGISTRY_URL, then the local SQLite file).",
        expose_value=False,
        is_eager=True,
        callback=remember,
    )(func)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (``--json`` of every command)."""
    click.echo(json.dumps(data, indent=2, default=str))


def _remember_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["debug"] = True


def add_debug_option(command: click.Command) -> None:
    """Give ``command`` and every subcommand ``--debug``, so it works before or after them."""
    if not any(param.name == "debug" for param in command.params):
        command.params.append(
            click.Option(
                ["--debug"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_remember_debug,
                help="Show the traceback of an error as well.",
            )
        )
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            add_debug_option(subcommand)


def report(message: str, hints: Iterable[str]) -> None:
    """Print ``message`` as an ``error:`` line and each hint as a ``hint:`` line on stderr."""
    click.echo(f"error: {message}", err=True)
    for hint in hints:
        click.echo(f"  hint: {hint}", err=True)


def run_command(command: click.Command, args: Sequence[str], prog_name: str) -> int:
    """Run ``command`` with ``args`` and return its exit code.

    Errors print ``error:`` and ``hint:`` lines on stderr; the exit code comes from the
    error's class (:data:`EXIT_CODES`; 2 for usage mistakes); ``--debug`` adds the traceback.
    """
    add_debug_option(command)
    state: dict[str, Any] = {}
    try:
        result = command.main(args=args, prog_name=prog_name, standalone_mode=False, obj=state)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as usage:
        if usage.ctx is None or not args:  # `registry` alone: click shows the help
            usage.show()
            return usage.exit_code
        hint = f"See: {usage.ctx.command_path} --help"
        report(usage.format_message(), [hint])
        return EXIT_USAGE
    except click.ClickException as failure:
        report(failure.format_message(), ["See: registry --help"])
        return failure.exit_code
    except click.Abort:
        click.echo("aborted: nothing was changed", err=True)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except ValidationError as error:
        if state.get("debug"):
            traceback.print_exc()
        report(error.message, error.suggestions)
        return exit_code_of(error)
    except OSError as error:
        # A file named on the command line that cannot be written or read.
        if state.get("debug"):
            traceback.print_exc()
        where = f": {error.filename}" if error.filename else ""
        report(f"{error.strerror or error}{where}", ["Check the path and this user's permissions"])
        return EXIT_PROBLEMS
    return result if isinstance(result, int) else 0
