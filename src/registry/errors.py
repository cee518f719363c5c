"""The error tree of ``registry`` and the "did you mean" helper.

Every error the public API raises is a :class:`ValidationError`::

    ValidationError                 bad input of any kind (the root)
    ├── CoercionError               a value cannot be turned into what is needed (unhashable key, ...)
    ├── ConformanceError            strict mode: signature or protocol mismatch (lists every problem)
    ├── InheritanceError            abstract=True: the class does not inherit from the base
    ├── RegistryError               a duplicate or conflicting identifier
    │   └── NotFoundError           no such identifier, registry or namespace
    ├── SettingsError               a malformed environment variable, or a missing extra
    └── StoreError                  the persistent store: unreachable, wrong schema revision, restore
        ├── SchemaVersionError      the database is behind or ahead of this package
        ├── RestoreError            an artifact cannot be imported or unpickled
        └── PermissionDeniedError   a refused token (missing, unknown, read-only), or a write to a
                                    read-only database role or file

Errors carry ``message``, ``suggestions`` (list of str) and ``context`` (a dict that
``json.dumps`` can always serialise), pickle cleanly, and round-trip through
:meth:`ValidationError.to_dict` / :func:`error_from_dict` so the server and the HTTP client
re-raise the same class. This module imports nothing else from ``registry``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CoercionError",
    "ConformanceError",
    "InheritanceError",
    "NotFoundError",
    "PermissionDeniedError",
    "RegistryError",
    "RestoreError",
    "SchemaVersionError",
    "SettingsError",
    "StoreError",
    "ValidationError",
    "capped_keys",
    "closest_names",
    "did_you_mean",
    "error_from_dict",
    "jsonable",
]

#: How many names an error's context lists before it says "and N more".
MAX_LISTED_KEYS = 50
_ONLY_STR = frozenset({str})


def jsonable(value: Any, _depth: int = 0) -> Any:
    """Return ``value`` as something ``json.dumps`` accepts, replacing the rest by its repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if _depth > 8:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        if set(map(type, value)) <= _ONLY_STR:  # names (available_keys), checked in C
            return list(value)
        return [jsonable(v, _depth + 1) for v in value]
    return repr(value)


class ValidationError(Exception):
    """Raised when an input (artifact, identifier, config value) is not acceptable.

    Args:
        message: what was wrong, in one sentence.
        suggestions: how to fix it, one hint per entry.
        context: facts about the failure (registry name, path in a config, ...).
    """

    def __init__(
        self,
        message: str,
        suggestions: Iterable[str] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = str(message)
        self.suggestions: list[str] = [str(s) for s in suggestions or ()]
        self.context: dict[str, Any] = jsonable(dict(context or {}))
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.suggestions:
            return self.message
        hints = "\n".join(f"  - {s}" for s in self.suggestions)
        return f"{self.message}\nSuggestions:\n{hints}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.suggestions, self.context))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: ``{"type", "message", "suggestions", "context"}``."""
        return {
            "type": type(self).__name__,
            "message": self.message,
            "suggestions": list(self.suggestions),
            "context": self.context,
        }

    def to_json(self) -> str:
        """Return :meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict())


class CoercionError(ValidationError):
    """Raised when a value cannot be converted to what is needed (e.g. an unhashable key)."""


class ConformanceError(ValidationError):
    """Raised by strict registries when an artifact's signature or members do not conform."""


class InheritanceError(ValidationError):
    """Raised by ``abstract=True`` registries when a class does not inherit from the base."""


class RegistryError(ValidationError):
    """Raised for a missing identifier, or a different artifact under a taken identifier."""


class NotFoundError(RegistryError):
    """Raised when an identifier, a registry or a namespace does not exist."""


class SettingsError(ValidationError):
    """Raised for a malformed setting (an environment variable such as ``REGISTRY_SERVER_PORT``)
    or an optional extra that is not installed."""


class StoreError(ValidationError):
    """Raised when the persistent store cannot be reached or used."""


class SchemaVersionError(StoreError):
    """Raised when the database schema revision does not match this package."""


class RestoreError(StoreError):
    """Raised when a stored artifact cannot be imported or unpickled."""


class PermissionDeniedError(StoreError):
    """Raised when the store refuses a request: no token, an unknown token or a read-only token
    (registry server), or a write through a read-only database role or SQLite file."""


_ERROR_TYPES: dict[str, type[ValidationError]] = {
    cls.__name__: cls
    for cls in (
        ValidationError,
        CoercionError,
        ConformanceError,
        InheritanceError,
        RegistryError,
        NotFoundError,
        SettingsError,
        StoreError,
        SchemaVersionError,
        RestoreError,
        PermissionDeniedError,
    )
}


def error_from_dict(data: Mapping[str, Any]) -> ValidationError:
    """Rebuild an error from :meth:`ValidationError.to_dict` output (unknown types -> base)."""
    cls = _ERROR_TYPES.get(str(data.get("type", "")), ValidationError)
    return cls(
        str(data.get("message", "unknown error")),
        suggestions=list(data.get("suggestions") or ()),
        context=dict(data.get("context") or {}),
    )


def closest_names(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Return up to ``limit`` candidates that look like ``name``, best first (see
    :mod:`registry.suggest`)."""
    from registry import suggest

    return suggest.closest(name, candidates, limit)


def did_you_mean(names: list[str]) -> str:
    """Return "Did you mean 'a', 'b' or 'c'?" for a non-empty list of names."""
    quoted = [repr(n) for n in names]
    listing = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"Did you mean {listing}?"


def capped_keys(keys: Iterable[str]) -> list[str]:
    """Return at most :data:`MAX_LISTED_KEYS` keys for an error context."""
    return list(itertools.islice(keys, MAX_LISTED_KEYS))
