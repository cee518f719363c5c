"""Factorization seen from a registry: how ``_type`` names resolve, and the entry points the
registries' ``factorize_*``/``to_config`` classmethods delegate to.

``_type: name`` resolves in the registry factorization was started on; ``_type:
"Other:name"`` resolves ``Other`` with :func:`registry.find_registry` (a class name or a
``logic_namespace``; a stored namespace without a live class is opened with
:func:`registry.open`). Nothing is ever imported from a path written in a config.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from registry.errors import RegistryError, ValidationError
from registry.factorize import compiler, provenance
from registry.factorize.plans import ArtifactPlan
from registry.factorize.shapes import MISMATCH, ShapeBuilder
from registry.namespaces import find_registry, open_namespace
from registry.registries import _Registry

__all__ = [
    "RegistryLookup",
    "factorize_function",
    "factorize_in",
    "label_of",
    "lookup_for",
    "registry_named",
    "to_config_in",
    "with_positional",
]


def label_of(registry: type[_Registry]) -> str:
    """Return how configs name ``registry``: its logic namespace if persistent, else its class name."""
    return registry._namespace if registry._persistent else registry.__name__


def registry_named(name: str) -> type[_Registry]:
    """Return the registry a config calls ``name``: a live class, else a stored namespace."""
    try:
        return find_registry(name)
    except RegistryError as missing:
        if "." not in name:
            raise
        try:
            return open_namespace(name)
        except ValidationError:
            raise missing from None


class RegistryLookup:
    """Resolves ``_type`` names for one root registry and keeps its compiled plans and
    generated builders (see :class:`registry.factorize.compiler.ArtifactLookup`)."""

    __slots__ = (
        "__weakref__",
        "artifacts",
        "builders",
        "plans",
        "prefix",
        "root",
        "shapes_seen",
    )

    def __init__(self, root: type[_Registry]) -> None:
        self.root = root
        self.prefix = label_of(root)
        self.artifacts: Mapping[str, Any] = root._artifacts
        self.plans: dict[str, ArtifactPlan] = {}
        self.builders: dict[str, tuple[ShapeBuilder, ...]] = {}
        self.shapes_seen: set[Any] = set()

    def _split(self, type_name: str) -> tuple[type[_Registry], str]:
        if ":" not in type_name:
            return self.root, type_name
        registry_name, _, identifier = type_name.partition(":")
        return registry_named(registry_name), identifier

    def artifact(self, type_name: str) -> Callable[..., Any]:
        """Return the registered artifact ``type_name`` names (never imports by path)."""
        found = self.root._artifacts.get(type_name)  # a hit: what get_artifact would return
        if found is not None:
            return found  # type: ignore[no-any-return]
        registry, identifier = self._split(type_name)
        artifact: Callable[..., Any] = registry.get_artifact(identifier)
        return artifact

    def label(self, type_name: str) -> str:
        """Return ``Registry:name`` of ``type_name``."""
        registry, identifier = self._split(type_name)
        return f"{label_of(registry)}:{identifier}"

    def scheme(self, type_name: str) -> type[BaseModel]:
        """Return the scheme of ``type_name``."""
        registry, identifier = self._split(type_name)
        return registry._scheme(identifier)

    def name_class(self, klass: type) -> str | None:
        """Return ``Registry:name`` of a class registered in the root registry, else None."""
        identifiers = self.root._identifiers_of(klass)
        return f"{self.prefix}:{identifiers[0]}" if identifiers else None


_LOOKUPS: dict[int, tuple[weakref.ref[type[_Registry]], RegistryLookup]] = {}


def lookup_for(registry: type[_Registry]) -> RegistryLookup:
    """Return the lookup (and plan cache) of ``registry``, made on first use."""
    entry = _LOOKUPS.get(id(registry))
    if entry is not None and entry[0]() is registry:
        return entry[1]
    lookup = RegistryLookup(registry)
    key = id(registry)
    _LOOKUPS[key] = (weakref.ref(registry, lambda _: _LOOKUPS.pop(key, None)), lookup)
    return lookup


def factorize_in(
    registry: type[_Registry], identifier: str, config: Any, *, build: bool = True
) -> Any:
    """Validate ``config`` as a whole for ``identifier`` of ``registry`` and build it
    (``build=False``: validate only)."""
    if not isinstance(config, Mapping):
        raise ValidationError(
            f"A config for {identifier!r} must be a mapping, got {type(config).__name__}",
            suggestions=["Write the parameters as key: value pairs at the top level"],
            context={"type": identifier, "path": "", "got": type(config).__name__},
        )
    return compiler.factorize(lookup_for(registry), identifier, config, build=build)


def with_positional(
    identifier: str, args: tuple[Any, ...], config: Mapping[str, Any]
) -> dict[str, Any]:
    """Return ``config`` with the positional values of a ``factorize_artifact`` call as its
    ``_args_`` (matched to the parameters in order when the config is compiled)."""
    if compiler.ARGS_KEY in config:
        raise ValidationError(
            f"{identifier!r} got positional values twice: as arguments and as {compiler.ARGS_KEY}",
            suggestions=[
                f"Pass them one way: factorize_artifact({identifier!r}, 1, 2) or _args_=[1, 2]"
            ],
            context={"type": identifier, "path": compiler.ARGS_KEY},
        )
    return {**config, compiler.ARGS_KEY: list(args)}


def factorize_function(registry: type[_Registry]) -> Callable[..., Any]:
    """Return the ``factorize_artifact(identifier, /, *args, **config)`` that ``registry``
    keeps as its own: a builder generated for the config's shape if one matches, else the
    general path."""
    found = lookup_for(registry)
    builders = found.builders

    def factorize_artifact(identifier: str, /, *args: Any, **config: Any) -> Any:
        if args:
            config = with_positional(identifier, args, config)
        shapes = builders.get(identifier)
        if shapes is None:
            return compiler.build_new(found, identifier, config)
        built = shapes[0](config)  # the builder used last
        if built is not MISMATCH:
            return built
        return compiler.build_tree(found, identifier, config, tried=shapes[0])

    factorize_artifact.__doc__ = _Registry.factorize_artifact.__doc__
    return factorize_artifact


def to_config_in(registry: type[_Registry], obj: Any) -> Any:
    """Return the config of ``obj`` with ``registry``'s own artifacts named without prefix."""
    lookup = lookup_for(registry)
    return provenance.to_config(obj, relative_to=lookup.prefix, namer=lookup.name_class)
