"""The ``registry`` command line (also ``python -m registry``).

Thin by design: each command maps its arguments to public API or ``Store`` calls. :func:`main`
turns every error into an ``error:`` line and ``hint:`` lines on stderr, with an exit code
chosen by the error's class (``--debug``, before or after the subcommand, adds the
traceback; ``cli_base.py`` holds that part, shared with ``python -m registry.server.run``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from registry.cli_base import (
    EXIT_CODES,
    EXIT_PROBLEMS,
    echo_json,
    exit_code_of,
    json_option,
    run_command,
    url_option,
)
from registry.db_commands import db
from registry.errors import NotFoundError, ValidationError
from registry.server.run import serve_command
from registry.store.base import EntryRecord, NamespaceRecord, Store, place_text
from registry.version import DISTRIBUTION

__all__ = ["EXIT_CODES", "cli", "exit_code_of", "main"]

# --------------------------------------------------------------------------- plumbing


def _store(ctx: click.Context) -> Store:
    """The store of a command that only reads: never creates one where there is none."""
    from registry.store import open_existing_store

    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "store" not in obj:
        obj["store"] = open_existing_store(obj.get("url"))
    store: Store = obj["store"]
    return store


def _writable_store(ctx: click.Context) -> Store:
    from registry.store import open_store

    store: Store = open_store(ctx.ensure_object(dict).get("url"))
    return store


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print an aligned table; the header is bold on a terminal (click strips it when piped)."""
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    header = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(click.style(header.rstrip(), bold=True))
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _namespace(store: Store, name: str) -> NamespaceRecord:
    record = store.get_namespace(name)
    if record is None:
        from registry.errors import closest_names, did_you_mean

        known = [n.name for n in store.list_namespaces()]
        close = closest_names(name, known)
        raise NotFoundError(
            f"Namespace {name!r} does not exist in {store.url}",
            suggestions=[did_you_mean(close)] if close else ["List namespaces with: registry ls"],
            context={"registry_name": name},
        )
    return record


def _entry(store: Store, namespace: str, identifier: str) -> EntryRecord:
    _namespace(store, namespace)
    record = store.get_entry(namespace, identifier)
    if record is None:
        from registry.errors import closest_names, did_you_mean

        names = [e.identifier for e in store.list_entries(namespace)]
        close = closest_names(identifier, names)
        raise NotFoundError(
            f"{identifier!r} is not registered in {namespace!r}",
            suggestions=[did_you_mean(close)]
            if close
            else [f"List them with: registry ls {namespace}"],
            context={"registry_name": namespace, "identifier": identifier},
        )
    return record


def _entry_json(record: EntryRecord) -> dict[str, Any]:
    return {
        "identifier": record.identifier,
        "version": record.version,
        "import_path": record.origin,
        "stored_as": "pickle" if record.blob_sha256 else "import path",
        "signature": record.signature,
        "doc": record.doc,
        "source_hash": record.source_hash,
        "source_file": record.source_file,
        "source_line": record.source_line,
        "python_version": record.python_version,
        "package": record.package,
        "package_version": record.package_version,
        "created_at": record.created_at.isoformat() if record.created_at else None,
        "created_by": record.created_by,
    }


def _when(record: EntryRecord) -> str:
    return record.created_at.strftime("%Y-%m-%d %H:%M") if record.created_at else ""


# --------------------------------------------------------------------------- commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    help="Store URL (default: $REGISTRY_URL, $REGISTRY_SERVER_HOST, then the local SQLite file).",
)
@click.version_option(
    package_name=DISTRIBUTION,
    prog_name="registry",
    message=f"%(prog)s %(version)s ({DISTRIBUTION})",
)
@click.pass_context
def cli(ctx: click.Context, url: str | None) -> None:
    """Browse, inspect and maintain registry stores."""
    ctx.ensure_object(dict).setdefault("url", url)


@cli.command("ls")
@click.argument("namespace", required=False)
@json_option
@url_option
@click.pass_context
def list_command(ctx: click.Context, namespace: str | None, as_json: bool) -> None:
    """List namespaces, or the artifacts of NAMESPACE."""
    store = _store(ctx)
    if namespace is None:
        spaces = store.list_namespaces()
        if as_json:
            echo_json([{"name": n.name, "kind": n.kind, "size": n.size} for n in spaces])
        else:
            _table(["namespace", "kind", "size"], [(n.name, n.kind, n.size) for n in spaces])
        return
    space = _namespace(store, namespace)
    entries = store.list_entries(namespace)
    if as_json:
        echo_json([{**_entry_json(e), "kind": space.kind} for e in entries])
        return
    _table(
        ["identifier", "kind", "import path", "version", "registered by", "registered at"],
        [(e.identifier, space.kind, e.origin, e.version, e.created_by, _when(e)) for e in entries],
    )


def _scheme_rows(scheme: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    # The web page's field table: the same types, defaults and required flags in both.
    from registry.server.ui.forms import config_fields

    return [
        (f.name, f.type_label, f.default or "", "yes" if f.required else "no")
        for f in config_fields(scheme)
    ]


@cli.command("show")
@click.argument("namespace")
@click.argument("name")
@json_option
@url_option
@click.pass_context
def show_command(ctx: click.Context, namespace: str, name: str, as_json: bool) -> None:
    """Show one artifact: signature, scheme, import path, versions, drift. Imports nothing."""
    from registry.refs import drift_state

    store = _store(ctx)
    record = _entry(store, namespace, name)
    history = store.history(namespace, name)
    drift = drift_state(record)
    if as_json:
        echo_json(
            {
                **_entry_json(record),
                "scheme": record.scheme,
                "drift": drift,
                "versions": [_entry_json(v) for v in history],
            }
        )
        return
    click.echo(click.style(f"{namespace}:{name}", bold=True) + f"  (version {record.version})")
    click.echo(f"import path: {record.origin}")
    if record.source_file:
        click.echo(f"defined in:  {place_text(record.source_file, record.source_line)}")
    click.echo(f"signature:   {name}{record.signature}")
    if record.doc:
        click.echo(f"doc:         {record.doc}")
    click.echo(f"drift:       {drift}")
    rows = _scheme_rows(record.scheme)
    if rows:
        click.echo("")
        _table(["field", "type", "default", "required"], rows)
    click.echo("")
    _table(
        ["version", "registered at", "registered by", "python", "package"],
        [
            (
                v.version,
                _when(v),
                v.created_by,
                v.python_version,
                f"{v.package or ''} {v.package_version or ''}".strip(),
            )
            for v in history
        ],
    )


@cli.command("search")
@click.argument("text")
@json_option
@url_option
@click.pass_context
def search_command(ctx: click.Context, text: str, as_json: bool) -> None:
    """Search every namespace by identifier, import path and docstring."""
    store = _store(ctx)
    needle = text.lower()
    hits = [
        (space.name, entry)
        for space in store.list_namespaces()
        for entry in store.list_entries(space.name)
        if needle in f"{entry.identifier}\n{entry.origin}\n{entry.doc}".lower()
    ]
    if as_json:
        echo_json([{"namespace": ns, **_entry_json(e)} for ns, e in hits])
        return
    _table(
        ["namespace", "identifier", "import path", "doc"],
        [(ns, e.identifier, e.origin, e.doc) for ns, e in hits],
    )


@cli.command("schema")
@click.argument("namespace")
@click.argument("name", required=False)
@click.option(
    "--all", "all_", is_flag=True, help="One schema for every artifact, discriminated by _type."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
@url_option
@click.pass_context
def schema_command(
    ctx: click.Context, namespace: str, name: str | None, all_: bool, output: Path | None
) -> None:
    """Print the JSON Schema of an artifact's config (or of every artifact with --all)."""
    from registry.schema_export import combined_schema, entry_schema

    store = _store(ctx)
    if all_ == (name is not None):
        raise click.UsageError("give either NAME or --all")
    if name is not None:
        schema = entry_schema(_entry(store, namespace, name))
    else:
        _namespace(store, namespace)
        schema = combined_schema(namespace, store.list_entries(namespace))
    text = json.dumps(schema, indent=2, sort_keys=True)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n")
        click.echo(f"wrote {output}", err=True)


@cli.command("export")
@click.argument("namespace")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to a file (default: stdout).",
)
@json_option
@url_option
@click.pass_context
def export_command(ctx: click.Context, namespace: str, output: Path | None, as_json: bool) -> None:
    """Export NAMESPACE (every version and blob) as YAML, or JSON with --json."""
    import yaml

    from registry.transfer import export_namespace

    store = _store(ctx)
    _namespace(store, namespace)
    document = export_namespace(store, namespace, progress=_progress)
    if as_json:
        text = json.dumps(document, indent=2, default=str) + "\n"
    else:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(
            f"exported {len(document['entries'])} versions of {namespace!r} to {output}", err=True
        )


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@url_option
@click.pass_context
def import_command(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Import a namespace exported with `registry export` (one transaction; conflicts reported)."""
    import yaml

    from registry.transfer import import_namespace

    store = _writable_store(ctx)
    try:
        document = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ValidationError(
            f"{file} is not valid YAML: {exc}", context={"file": str(file)}
        ) from exc
    report = import_namespace(store, document, source=str(file))
    if as_json:
        echo_json(report)
    else:
        click.echo(
            f"imported {len(report['imported'])} versions into {report['namespace']!r}, "
            f"{len(report['unchanged'])} already present, {len(report['conflicts'])} conflicts"
        )
        for conflict in report["conflicts"]:
            click.echo(f"conflict: {conflict['identifier']}: {conflict['error']}", err=True)
    if report["conflicts"]:
        ctx.exit(EXIT_PROBLEMS)


@cli.command("doctor")
@click.argument("namespace", required=False)
@json_option
@url_option
@click.pass_context
def doctor_command(ctx: click.Context, namespace: str | None, as_json: bool) -> None:
    """Check the store and import every artifact; exit 1 when something is wrong."""
    from registry.doctor import diagnose

    store = _store(ctx)
    if namespace is not None:
        _namespace(store, namespace)
    report = diagnose(store, namespace, progress=_progress)
    if as_json:
        echo_json(report)
    else:
        click.echo(f"store:        {report['store']}")
        click.echo(f"schema:       {report['schema']}")
        click.echo(f"pickle:       {report['pickle_policy']}")
        click.echo(f"changes:      {report['changes']}")
        click.echo(f"hot paths:    {report['speedups']}")
        environment = report["environment"]
        click.echo(
            "environment:  "
            + (", ".join(f"{k}={v}" for k, v in environment.items()) or "no REGISTRY_* variable")
        )
        click.echo(
            f"artifacts:    {report['checked']} checked, {len(report['problems'])} with problems"
        )
        if report["problems"]:
            _table(
                ["namespace", "identifier", "problem"],
                [(p["namespace"], p["identifier"], p["problem"]) for p in report["problems"]],
            )
    if report["problems"]:
        ctx.exit(EXIT_PROBLEMS)


@cli.command("build")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--import",
    "modules",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE first (it may define or fill registries). Repeatable.",
)
@click.option("--engine", help="Config file format (default: from the suffix).")
@click.option("--dry-run", is_flag=True, help="Validate the whole config; build nothing.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the built object's config (.json/.yaml/.toml) or repr (other suffixes).",
)
@json_option
@url_option
@click.pass_context
def build_command(
    ctx: click.Context,
    config: Path,
    modules: tuple[str, ...],
    engine: str | None,
    dry_run: bool,
    output: Path | None,
    as_json: bool,
) -> None:
    """Build the object a config file describes; its top-level _type is "Registry:name".

    Modules given with --import are found as `python -m` finds them: the current directory
    comes first.
    """
    import importlib

    from registry import settings
    from registry.factorize import engines, lookup, provenance

    url = ctx.ensure_object(dict).get("url")
    if url:
        settings.configure(url=url)
    for module in modules:
        try:
            importlib.import_module(module)
        except ValidationError:
            raise
        except Exception as exc:
            raise ValidationError(
                f"--import {module}: {type(exc).__name__}: {exc}",
                suggestions=[
                    f"Run from the directory that holds {module.replace('.', '/')}.py, "
                    "or add its directory to PYTHONPATH"
                ]
                if isinstance(exc, ModuleNotFoundError) and exc.name == module.split(".")[0]
                else [],
                context={"module": module},
            ) from exc
    document = engines.load_config_file(config, engine)
    root = document.get("_type") if isinstance(document, dict) else None
    if not isinstance(root, str) or ":" not in root:
        raise ValidationError(
            f'{config} needs a top-level _type naming "Registry:name" (got {root!r})',
            suggestions=[
                'Add for example  _type: "lab.models:Encoder"  (a logic namespace or a registry class)'
            ],
            context={"file": str(config)},
        )
    registry_name, _, identifier = root.rpartition(":")
    target = lookup.registry_named(registry_name)
    body = {key: value for key, value in document.items() if key != "_type"}
    if dry_run:
        lookup.factorize_in(target, identifier, body, build=False)
        if as_json:
            echo_json({"config": str(config), "type": root, "valid": True})
        else:
            click.echo(f"{config}: valid config for {root}")
        return
    built = lookup.factorize_in(target, identifier, body)

    def config_of_result() -> Any:
        saved = provenance.to_config(built)
        # Results that cannot carry a build record (a dict, a number) are described by the
        # config that built them.
        return saved if isinstance(saved, dict) and "_type" in saved else document

    if as_json:
        echo_json({"type": root, "repr": repr(built), "config": config_of_result()})
    elif output is None:
        click.echo(repr(built))
    if output is None:
        return
    if output.suffix.lstrip(".") in ("json", "yaml", "yml", "toml"):
        engines.dump_config(config_of_result(), output)
        click.echo(f"wrote the config of the built {root} to {output}", err=True)
    else:
        output.write_text(repr(built) + "\n")
        click.echo(f"wrote repr of the built {root} to {output}", err=True)


@cli.command("ui")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 (default: a free one).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@url_option
@click.pass_context
def ui_command(ctx: click.Context, port: int, open_browser: bool) -> None:
    """Browse the store in a web browser: read-only, for you alone on 127.0.0.1 (docs/ui.md)."""
    from registry.server.ui.local import serve_ui

    serve_ui(ctx.ensure_object(dict).get("url"), port, open_browser=open_browser)


cli.add_command(serve_command)
cli.add_command(db)


def _progress(items: Sequence[Any], label: str) -> Iterable[Any]:
    """A progress bar on a terminal; the plain items when piped."""
    if not sys.stderr.isatty():
        return items
    return click.progressbar(items, label=label, file=sys.stderr)


# --------------------------------------------------------------------------- entry point


def _seed_server_form(args: list[str]) -> bool:
    """``python -m registry --host H --port P`` (the seed's server start) names no command."""
    options = {arg.split("=")[0] for arg in args if arg.startswith("--")}
    return bool(options & {"--host", "--port"}) and not any(arg in cli.commands for arg in args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    Errors print ``error:`` and ``hint:`` lines on stderr; the exit code comes from the
    error's class (:data:`EXIT_CODES`; 2 for usage mistakes); ``--debug`` adds the traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if _seed_server_form(args):
        args = ["serve", *args]
    # Modules named on the command line (--import, import paths of stored artifacts) are
    # found in the current directory first, as `python -m` finds them.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    return run_command(cli, args, "registry")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
