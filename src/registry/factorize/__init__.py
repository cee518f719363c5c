"""Factorization: how a config becomes objects, and how objects become configs again.

A config is a mapping of parameter values; a nested mapping carrying ``_type`` names a
registered artifact. ``Registry.factorize_artifact("name", **config)`` (and
``factorize_from_file``, ``factorize_from_socket``, ``check_config``) run these stages:

1. *parse* (``engines.py``, ``http_source.py``, ``config_bounds.py``): a file is read by the
   ``ConfigFileEngine`` loader for its suffix, a remote config fetched by a ``SocketEngine``
   source; either is checked against size, depth and cycle bounds before anything walks it.
2. *plan* (``lookup.py``, ``plans.py``, ``hints.py``): each ``_type`` is resolved in the
   registry factorization started on (``"Other:name"`` in another registry; never an import
   path), and each artifact gets a cached plan from its signature or scheme: which values it
   takes, how they are checked and coerced, which parameters take nested artifacts.
3. *steps* (``compiler.py``, ``steps.py``): the whole tree is compiled into steps, every
   literal value validated, before anything is called; a bad leaf leaves nothing half-built.
4. *build* (``steps.py``, ``shapes.py``): the steps call the artifacts leaves first. The second
   time a config *shape* is compiled for a name, it gets a generated builder that later configs
   of that shape run instead of stages 2-4.
5. *provenance* (``records.py``, ``provenance.py``): each built object is remembered weakly with
   the step that built it, so :func:`to_config` can write the config back.

Imports run one way: this package sits above ``registry.registries`` (its engines are
registries, its lookups resolve names in them) and below the server and the command line.
Registries reach it only through the :class:`~registry.registries.Factorization` interface,
installed below; the compiler (and pydantic with it) loads on the first factorization, so
``import registry`` does not pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from registry import registries
from registry.factorize.engines import (
    ConfigFileEngine,
    SocketEngine,
    dump_config,
    fetch_config,
    load_config_file,
)
from registry.factorize.provenance import to_config

__all__ = ["ConfigFileEngine", "SocketEngine", "dump_config", "load_config_file", "to_config"]


class _Factorization:
    """The :class:`~registry.registries.Factorization` registry classes call."""

    def factorize_function(self, registry: type[registries._Registry]) -> Callable[..., Any]:
        from registry.factorize import lookup  # on first use: the compiler imports pydantic

        return lookup.factorize_function(registry)

    def factorize(
        self,
        registry: type[registries._Registry],
        identifier: str,
        args: tuple[Any, ...],
        config: Any,
        *,
        build: bool = True,
    ) -> Any:
        from registry.factorize import lookup  # on first use: the compiler imports pydantic

        if args:
            config = lookup.with_positional(identifier, args, config)
        return lookup.factorize_in(registry, identifier, config, build=build)

    def load_config_file(self, path: str | os.PathLike[str], engine: str | None) -> Any:
        return load_config_file(path, engine)

    def fetch_config(self, identifier: str, source: Any, protocol: str) -> Any:
        return fetch_config(identifier, source, protocol)

    def to_config(self, registry: type[registries._Registry], obj: Any) -> Any:
        from registry.factorize import lookup  # on first use: the compiler imports pydantic

        return lookup.to_config_in(registry, obj)


registries.install_factorization(_Factorization())
