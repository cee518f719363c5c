"""Where configs come from and go to.

``ConfigFileEngine`` is a FunctionalRegistry of file loaders keyed by suffix (``json``,
``yaml``/``yml`` via ``yaml.safe_load`` only, ``toml`` built in); a loader takes a ``Path`` and
returns the parsed config. ``SocketEngine`` is a FunctionalRegistry of network sources keyed by
protocol (``http`` built in, see ``registry.http_source``); a source takes the source
description and the identifier asked for. :func:`dump_config` writes configs as JSON, YAML or TOML.
Every failure is a ``registry.ValidationError`` naming the file or URL (and line, when the
parser gives one).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from registry.errors import RegistryError, ValidationError, closest_names, did_you_mean
from registry.registries import FunctionalRegistry

# yaml, tomllib/tomli, tomli_w and urllib are imported where they are used, so that
# ``import registry`` stays light.

__all__ = [
    "ConfigFileEngine",
    "SocketEngine",
    "dump_config",
    "fetch_config",
    "load_config_file",
    "render_config",
]

PathLike = str | os.PathLike[str]


class ConfigFileEngine(FunctionalRegistry[[Path], Any]):
    """Config file loaders keyed by suffix: ``loader(filepath: Path) -> config``."""


class SocketEngine(FunctionalRegistry[[Mapping[str, Any], str], Any]):
    """Network config sources keyed by protocol: ``source(description, identifier) -> config``."""


# --------------------------------------------------------------------------- files


def _parse_error(
    filepath: Path, what: str, detail: str, line: int | None, column: int | None
) -> ValidationError:
    where = f" at line {line}" + (f", column {column}" if column else "") if line else ""
    return ValidationError(
        f"Cannot parse {filepath} as {what}{where}: {detail}",
        suggestions=[f"Fix the {what} syntax{where}"],
        context={"file": str(filepath), "line": line, "column": column, "format": what},
    )


def _read_text(filepath: Path) -> str:
    try:
        return filepath.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{filepath} is not UTF-8 text: {exc}", context={"file": str(filepath)}
        ) from None
    except OSError as exc:
        raise ValidationError(
            f"Cannot read {filepath}: {exc.strerror or exc}", context={"file": str(filepath)}
        ) from None


def load_json(filepath: Path) -> Any:
    """Load a JSON config file."""
    try:
        return json.loads(_read_text(filepath))
    except json.JSONDecodeError as exc:
        raise _parse_error(filepath, "JSON", exc.msg, exc.lineno, exc.colno) from None


def load_yaml(filepath: Path) -> Any:
    """Load a YAML config file with ``yaml.safe_load`` (no Python tags, nothing executed)."""
    import yaml

    try:
        return yaml.safe_load(_read_text(filepath))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        detail = getattr(exc, "problem", None) or str(exc)
        raise _parse_error(filepath, "YAML", str(detail), line, column) from None


_TOML_POSITION = re.compile(r"line (\d+), column (\d+)")


def load_toml(filepath: Path) -> Any:
    """Load a TOML config file."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

    try:
        return tomllib.loads(_read_text(filepath))
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.search(str(exc))
        line, column = (int(found[1]), int(found[2])) if found else (None, None)
        raise _parse_error(filepath, "TOML", str(exc), line, column) from None


ConfigFileEngine.register_artifact("json", load_json)
ConfigFileEngine.register_artifact("yaml", load_yaml)
ConfigFileEngine.register_artifact("yml", load_yaml)
ConfigFileEngine.register_artifact("toml", load_toml)


def _engine_name(filepath: Path, engine: str | None, registry_name: str) -> str:
    name = engine if engine is not None else filepath.suffix.lstrip(".").lower()
    known = list(ConfigFileEngine.iter_identifiers())
    if name and ConfigFileEngine.has_identifier(name):
        return name
    close = closest_names(name, known) if name else []
    raise ValidationError(
        f"No config file engine {name!r} for {filepath}"
        if name
        else f"{filepath} has no suffix to choose a config file engine by",
        suggestions=[
            *([did_you_mean(close)] if close else []),
            f"Pass engine= one of {', '.join(known)}",
            f"Or add one: @{registry_name}.register_artifact def ini(filepath: Path) -> dict",
        ],
        context={"file": str(filepath), "engine": name, "available_keys": known},
    )


def load_config_file(path: PathLike, engine: str | None = None) -> Any:
    """Return the config in ``path``, parsed by ``engine`` (default: chosen by the suffix).

    Raises:
        ValidationError: no such file, no engine for the suffix, or the file does not parse.
    """
    filepath = Path(path)
    name = _engine_name(filepath, engine, ConfigFileEngine.__name__)
    if not filepath.is_file():
        raise ValidationError(
            f"Config file {filepath} does not exist",
            suggestions=["Check the path (relative paths start at the working directory)"],
            context={"file": str(filepath), "cwd": os.getcwd()},
        )
    loader: Callable[[Path], Any] = ConfigFileEngine.get_artifact(name)
    return _guarded(loader, f"{name!r} loader", str(filepath), filepath)


def _guarded(call: Callable[..., Any], what: str, where: str, *args: Any) -> Any:
    """Call a (possibly user-written) engine; anything but ValidationError gets wrapped."""
    try:
        return call(*args)
    except ValidationError:
        raise
    except Exception as exc:
        raise ValidationError(
            f"The {what} failed on {where}: {type(exc).__name__}: {exc}",
            context={"source": where, "cause": repr(exc)},
        ) from exc


# --------------------------------------------------------------------------- writing


def _plain(value: Any, path: str, engine: str) -> Any:
    """Return ``value`` as data the format can hold (tuples become lists); else raise."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if value is None and engine != "toml":
        return None
    if isinstance(value, (datetime.date, datetime.time)) and engine != "json":
        return value
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return {
            key: _plain(item, f"{path}.{key}" if path else key, engine)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [
            _plain(item, f"{path}.{index}" if path else str(index), engine)
            for index, item in enumerate(value)
        ]
    raise ValidationError(
        f"{engine.upper()} cannot hold {type(value).__name__} {value!r} at {path or '<root>'!r}",
        suggestions=["Use YAML, which can hold None and dates"] if engine == "toml" else [],
        context={"path": path, "format": engine, "got": type(value).__name__},
    )


def render_config(config: Any, engine: str) -> str:
    """Return ``config`` as the text of a ``json``, ``yaml`` or ``toml`` file.

    Raises:
        ValidationError: a value the format cannot hold (its path is named).
    """
    data = _plain(config, "", engine)
    if engine == "json":
        return json.dumps(data, indent=2) + "\n"
    if engine in ("yaml", "yml"):
        import yaml

        text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        if yaml.safe_load(text) != data:  # PyYAML writes some line breaks (U+0085) raw
            text = yaml.safe_dump(data, sort_keys=False)  # escaped, ASCII only
        return text
    if not isinstance(data, dict):
        raise ValidationError(
            "A TOML document must be a table (a mapping) at the top level",
            context={"format": engine, "got": type(data).__name__},
        )
    import tomli_w

    return tomli_w.dumps(data)


def dump_config(config: Any, path: PathLike, engine: str | None = None) -> Path:
    """Write ``config`` to ``path`` as JSON, YAML or TOML (default: chosen by the suffix).

    Raises:
        ValidationError: unknown format, or a value the format cannot hold (its path is named).
    """
    filepath = Path(path)
    name = engine if engine is not None else filepath.suffix.lstrip(".").lower()
    if name not in ("json", "yaml", "yml", "toml"):
        raise ValidationError(
            f"Cannot write {filepath}: no writer for {name!r}",
            suggestions=["Write .json, .yaml, .yml or .toml, or pass engine="],
            context={"file": str(filepath), "engine": name},
        )
    text = render_config(config, name)
    try:
        filepath.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(
            f"Cannot write {filepath}: {exc.strerror or exc}", context={"file": str(filepath)}
        ) from None
    return filepath


# --------------------------------------------------------------------------- network


def fetch_http(source: Mapping[str, Any], identifier: str) -> Any:
    """Fetch a JSON config over HTTP(S): GET ``url?type=<identifier>``, or POST ``body``
    (default ``{"type": identifier}``). ``source`` keys: url, method, headers, timeout,
    max_bytes, body (see ``registry.http_source``)."""
    from registry import http_source

    return http_source.fetch(source, identifier)


SocketEngine.register_artifact("http", fetch_http)


def fetch_config(identifier: str, source: Any, protocol: str = "http") -> Any:
    """Return the config for ``identifier`` fetched from ``source`` with ``protocol``.

    Raises:
        ValidationError: unknown protocol, bad source, unreachable host, bad response.
    """
    if protocol == "rpc" and not SocketEngine.has_identifier("rpc"):
        raise RegistryError(
            "The seed's 'rpc' protocol is retired: it passed remote object references, so the "
            "config server could run code in this process",
            suggestions=[
                "Serve the config as JSON over HTTP(S) and use protocol='http' with "
                "{'url': ..., 'timeout': ...}",
                "Or register your own source: @SocketEngine.register_artifact('name')",
            ],
            context={"protocol": protocol, "available_keys": list(SocketEngine.iter_identifiers())},
        )
    fetch: Callable[..., Any] = SocketEngine.get_artifact(protocol)
    if not isinstance(source, Mapping):
        raise ValidationError(
            f"The {protocol!r} source must be a mapping such as {{'url': ...}}, got {type(source).__name__}",
            context={"protocol": protocol},
        )
    return _guarded(
        fetch, f"{protocol!r} source", str(source.get("url", source)), source, identifier
    )
