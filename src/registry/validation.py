"""Checks run before anything is stored: identifiers, artifact kinds, ``abstract=`` inheritance
and ``strict=`` signature/protocol conformance. Every check reports all problems at once.

Imports only ``errors``, ``refs`` and ``store.limits``.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import types
import typing
import weakref
from collections.abc import Callable
from typing import Any

from registry.errors import (
    CoercionError,
    ConformanceError,
    InheritanceError,
    ValidationError,
)
from registry.refs import display_name, origin_of
from registry.store.base import NamespaceKind
from registry.store.limits import IDENTIFIER_RE

__all__ = [
    "FunctionSpec",
    "ValidationCache",
    "check_class_conformance",
    "check_function_conformance",
    "check_identifier",
    "check_inheritance",
    "check_kind",
    "one_of",
]

ArtifactKind = NamespaceKind


def check_identifier(identifier: object, registry_name: str) -> str:
    """Return ``identifier`` if it can name an artifact, else raise.

    Identifiers are 1-255 characters without whitespace, control characters, ``:``, ``@`` or
    ``/`` (reserved for ``Registry:name`` references in configs and URLs), and valid Unicode
    text (no lone surrogates). Every backend enforces the same rule.
    """
    if identifier.__class__ is str and IDENTIFIER_RE.fullmatch(identifier):
        return identifier
    context = {
        "registry_name": registry_name,
        "identifier": repr(identifier),
        "key": repr(identifier)[:200],
        "expected_type": "str",
        "actual_type": type(identifier).__name__,
    }
    try:
        hash(identifier)
    except TypeError as exc:
        raise CoercionError(
            f"Identifier of type {type(identifier).__name__} is unhashable",
            suggestions=["Use a string identifier"],
            context=context,
        ) from exc
    if not isinstance(identifier, str):
        raise CoercionError(
            f"Identifier must be a string, got {type(identifier).__name__} {identifier!r}",
            suggestions=[f"Use str({identifier!r}) as the identifier"],
            context=context,
        )
    if not IDENTIFIER_RE.fullmatch(identifier):
        raise ValidationError(
            f"Invalid identifier {identifier!r}: use 1-255 characters without whitespace, "
            "control characters, ':', '@' or '/'",
            suggestions=["Pick a name like 'focal_loss' or 'resnet-50'"],
            context=context,
        )
    return identifier


def one_of(operation: str, **spellings: Any) -> Any:
    """Return the one argument given among ``spellings`` (ours and the seed's name for it)."""
    given = {name: value for name, value in spellings.items() if value is not None}
    if len(given) == 1:
        return next(iter(given.values()))
    names = " or ".join(f"{name}=" for name in spellings)
    raise ValidationError(
        f"{operation} needs exactly one of {names}, got "
        + (", ".join(sorted(given)) if given else "neither"),
        suggestions=[f"Pass it once, as {next(iter(spellings))}="],
        context={"operation": operation, "given": sorted(given)},
    )


def check_kind(kind: ArtifactKind, artifact: object, registry_name: str) -> None:
    """Raise unless ``artifact`` is a function (``function``), a class (``type``) or a callable
    whose signature can be read (``scheme``)."""
    if kind == "function":
        if _is_function(artifact):
            return
        what = _describe(artifact)
        raise ValidationError(
            f"{registry_name} accepts functions only, got {what}",
            suggestions=_kind_hints(artifact, "function"),
            context={**_kind_context(kind, artifact, registry_name), "got": what},
        )
    if kind == "type":
        if inspect.isclass(artifact):
            return
        what = _describe(artifact)
        raise ValidationError(
            f"{registry_name} accepts classes only, got {what}",
            suggestions=["Register the class itself, not an instance of it"],
            context={**_kind_context(kind, artifact, registry_name), "got": what},
        )
    if not callable(artifact):
        raise ValidationError(
            f"{registry_name} accepts callables only, got {_describe(artifact)}",
            suggestions=["Register a function or a class"],
            context=_kind_context(kind, artifact, registry_name),
        )
    try:
        inspect.signature(artifact)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{registry_name} cannot read the signature of {artifact!r}: {exc}",
            suggestions=["Wrap it in a Python function with an explicit signature"],
            context=_kind_context(kind, artifact, registry_name),
        ) from exc


def _kind_context(kind: ArtifactKind, artifact: object, registry_name: str) -> dict[str, Any]:
    return {
        "registry_name": registry_name,
        "artifact": repr(artifact)[:200],
        "artifact_name": display_name(artifact),
        "expected_type": _EXPECTED[kind],
        "actual_type": "class" if inspect.isclass(artifact) else type(artifact).__name__,
    }


_EXPECTED: dict[ArtifactKind, str] = {"function": "function", "type": "class", "scheme": "callable"}


def _is_function(obj: object) -> bool:
    if inspect.isfunction(obj):
        return True
    # Builtin functions of a module (math.sqrt), not bound methods of an instance.
    return inspect.isbuiltin(obj) and isinstance(
        getattr(obj, "__self__", None), (types.ModuleType, type(None))
    )


def _describe(obj: object) -> str:
    if inspect.isclass(obj):
        return f"class {display_name(obj)}"
    if inspect.ismethod(obj):
        return f"bound method {display_name(obj)}"
    return f"{type(obj).__name__} instance"


def _kind_hints(obj: object, wanted: str) -> list[str]:
    if inspect.isclass(obj):
        return ["Register classes in a TypeRegistry, or callables of any kind in a SchemeRegistry"]
    if isinstance(obj, functools.partial):
        return ["Register the underlying function, or wrap the partial in a named def"]
    return [f"Register a plain {wanted} defined with def"]


def check_inheritance(cls: type, base: type, registry_name: str) -> None:
    """Raise :class:`InheritanceError` unless ``cls`` subclasses ``base``."""
    if base in getattr(cls, "__mro__", ()) or _safe_issubclass(cls, base):
        return
    name, base_name = display_name(cls), display_name(base)
    raise InheritanceError(
        f"{name} must inherit from {base_name} to be registered in {registry_name}",
        suggestions=[
            f"Inherit from {base_name}",
            f"Declare it as class {cls.__name__}({base.__name__}): ...",
        ],
        context={
            "registry_name": registry_name,
            "artifact": origin_of(cls),
            "required_base": origin_of(base),
            "artifact_name": name,
            "expected_type": base_name,
            "actual_type": name,
        },
    )


def _safe_issubclass(cls: type, base: type) -> bool:
    try:
        return issubclass(cls, base)
    except TypeError:  # non-runtime protocols refuse issubclass
        return False


# --------------------------------------------------------------------------- signatures


class FunctionSpec(typing.NamedTuple):
    """The ``Callable[[params], returns]`` a strict FunctionalRegistry demands.

    ``params is None`` means ``Callable[..., R]``: any parameters.
    """

    params: tuple[Any, ...] | None
    returns: Any


def _hints(obj: Callable[..., Any], problems: list[str]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except Exception as exc:  # NameError for unknown names, TypeError for bad ones
        problems.append(f"annotations cannot be resolved: {type(exc).__name__}: {exc}")
        return {}


def _parameters(sig: inspect.Signature, *, skip_self: bool) -> list[inspect.Parameter]:
    params = list(sig.parameters.values())
    if skip_self and params:
        params = params[1:]
    return params


def check_function_conformance(
    func: Callable[..., Any],
    spec: FunctionSpec | None,
    registry_name: str,
    *,
    skip_self: bool = False,
) -> None:
    """Raise :class:`ConformanceError` listing every way ``func`` fails ``spec``.

    Without a spec, every parameter and the return must be annotated.
    """
    problems: list[str] = []
    _function_problems(func, spec, problems, skip_self=skip_self, require_return=True)
    if problems:
        raise _conformance_error(func, problems, registry_name, spec)


def _function_problems(
    func: Callable[..., Any],
    spec: FunctionSpec | None,
    problems: list[str],
    *,
    skip_self: bool,
    require_return: bool,
    prefix: str = "",
) -> None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        problems.append(f"{prefix}signature cannot be read: {exc}")
        return
    hints = _hints(func, problems)
    params = [
        p
        for p in _parameters(sig, skip_self=skip_self)
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if spec is None:
        missing = [p.name for p in params if p.name not in hints]
        if missing:
            problems.append(f"{prefix}parameters without annotation: {', '.join(missing)}")
        if require_return and "return" not in hints:
            problems.append(f"{prefix}return type is not annotated")
        return
    if spec.params is not None:
        required = [p for p in params if p.default is p.empty and p.kind != p.KEYWORD_ONLY]
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        variadic = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
        wanted = len(spec.params)
        if len(required) > wanted or (len(positional) < wanted and not variadic):
            problems.append(
                f"{prefix}takes {len(positional)} positional parameter(s) "
                f"({len(required)} required), expected {wanted}"
            )
        for index, (param, expected) in enumerate(zip(positional, spec.params, strict=False)):
            actual = hints.get(param.name)
            if actual is None:
                problems.append(f"{prefix}parameter {index} ({param.name!r}) is not annotated")
            elif not is_compatible(expected, actual):
                problems.append(
                    f"{prefix}parameter {index} ({param.name!r}) is {_type_name(actual)}, "
                    f"expected {_type_name(expected)}"
                )
    if spec.returns is not Any:
        if "return" not in hints:
            problems.append(
                f"{prefix}return type is not annotated, expected {_type_name(spec.returns)}"
            )
        elif not is_compatible(hints["return"], spec.returns):
            problems.append(
                f"{prefix}returns {_type_name(hints['return'])}, expected {_type_name(spec.returns)}"
            )


def _conformance_error(
    obj: object, problems: list[str], registry_name: str, spec: object
) -> ConformanceError:
    listing = "; ".join(problems)
    name = display_name(obj)
    expected = display_name(spec) if inspect.isclass(spec) else repr(spec)
    return ConformanceError(
        f"{name} does not conform to {registry_name}: {listing}",
        suggestions=["Fix the signature or annotations listed above"],
        context={
            "registry_name": registry_name,
            "artifact": origin_of(obj),
            "problems": problems,
            "expected": repr(spec),
            "artifact_name": name,
            "expected_type": expected,
            "actual_type": name,
        },
    )


def is_compatible(actual: Any, expected: Any) -> bool:
    """Return whether a value of type ``actual`` can stand where ``expected`` is required."""
    if actual is Any or expected is Any or actual == expected:
        return True
    if (expected is float and actual is int) or (expected is complex and actual in (int, float)):
        return True  # the numeric tower of PEP 484
    if _is_union(actual):
        return all(is_compatible(member, expected) for member in typing.get_args(actual))
    if _is_union(expected):
        return any(is_compatible(actual, member) for member in typing.get_args(expected))
    actual_origin, expected_origin = typing.get_origin(actual), typing.get_origin(expected)
    if actual_origin is not None or expected_origin is not None:
        actual_base = actual_origin or actual
        expected_base = expected_origin or expected
        if not (inspect.isclass(actual_base) and inspect.isclass(expected_base)):
            return False
        if not _safe_issubclass(actual_base, expected_base):
            return False
        actual_args, expected_args = typing.get_args(actual), typing.get_args(expected)
        if not actual_args or not expected_args:
            return True
        return len(actual_args) == len(expected_args) and all(
            is_compatible(a, e) for a, e in zip(actual_args, expected_args, strict=True)
        )
    if inspect.isclass(actual) and inspect.isclass(expected):
        return _safe_issubclass(actual, expected)
    return False


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _type_name(tp: Any) -> str:
    if inspect.isclass(tp) and typing.get_origin(tp) is None:
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


# --------------------------------------------------------------------------- classes


def protocol_members(base: type) -> list[str]:
    """Return the public members (methods and annotated attributes) ``base`` declares."""
    skip = {object, typing.Generic, getattr(typing, "Protocol", object)}
    names: dict[str, None] = {}
    for klass in reversed(base.__mro__):
        if klass in skip:
            continue
        for name in (*vars(klass), *getattr(klass, "__annotations__", {})):
            if not name.startswith("_") or name == "__call__":
                names[name] = None
    return list(names)


def check_class_conformance(cls: type, base: type | None, registry_name: str) -> None:
    """Raise :class:`ConformanceError` listing every way ``cls`` fails to implement ``base``.

    Checks that each member exists, that methods are callable with compatible signatures, and
    that no abstract method is left. Without a base, ``__init__`` must be fully annotated.
    """
    problems: list[str] = []
    if base is None:
        if "__init__" in _own_or_inherited(cls):
            _function_problems(
                _init_of(cls),
                None,
                problems,
                skip_self=True,
                require_return=False,
                prefix="__init__: ",
            )
    else:
        _member_problems(cls, base, problems)
    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract:
        problems.append(f"abstract methods not implemented: {', '.join(abstract)}")
    if problems:
        raise _conformance_error(cls, problems, registry_name, base)


def _init_of(cls: type) -> Callable[..., Any]:
    """Return the ``__init__`` a class defines or inherits."""
    init: Callable[..., Any] = inspect.getattr_static(cls, "__init__")
    return init


def _own_or_inherited(cls: type) -> set[str]:
    return {name for klass in cls.__mro__ if klass is not object for name in vars(klass)}


def _member_problems(cls: type, base: type, problems: list[str]) -> None:
    annotations = _class_annotations(cls)
    for name in protocol_members(base):
        declared = inspect.getattr_static(base, name, None)
        if not hasattr(cls, name) and name not in annotations:
            problems.append(f"missing member {name!r}")
            continue
        if not callable(declared) or isinstance(declared, property):
            continue
        implemented = inspect.getattr_static(cls, name, None)
        if not callable(implemented) and not isinstance(implemented, (classmethod, staticmethod)):
            problems.append(f"member {name!r} must be a method")
            continue
        _method_problems(name, implemented, declared, problems)


def _class_annotations(cls: type) -> set[str]:
    return {n for klass in cls.__mro__ for n in getattr(klass, "__annotations__", {})}


def _unwrap_method(member: Any) -> tuple[Any, bool]:
    if isinstance(member, staticmethod):
        return member.__func__, False
    if isinstance(member, classmethod):
        return member.__func__, True
    return member, True


def _method_problems(name: str, implemented: Any, declared: Any, problems: list[str]) -> None:
    impl, impl_bound = _unwrap_method(implemented)
    decl, decl_bound = _unwrap_method(declared)
    try:
        decl_sig = inspect.signature(decl)
    except (TypeError, ValueError):
        return
    decl_hints: dict[str, Any] = {}
    try:
        decl_hints = typing.get_type_hints(decl)
    except Exception:  # a protocol with unresolvable hints: compare parameter counts only
        decl_hints = {}
    decl_params = [
        p
        for p in _parameters(decl_sig, skip_self=decl_bound)
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    spec = FunctionSpec(
        params=tuple(decl_hints.get(p.name, Any) for p in decl_params),
        returns=decl_hints.get("return", Any),
    )
    _function_problems(
        impl,
        spec,
        problems,
        skip_self=impl_bound,
        require_return=False,
        prefix=f"method {name!r}: ",
    )


# --------------------------------------------------------------------------- the cache


class ValidationCache:
    """Remembers which artifacts passed a ``strict=True`` registry's checks, so checking one
    again (registering it again, ``validate_artifact``) is a lookup instead of a signature walk.

    Only passes are remembered, each for ``ttl_seconds``, at most ``max_size`` of them (the
    least recently used goes first); ``max_size=0`` turns the cache off. Entries hold weak
    references: a cached artifact is not kept alive, and a new object that reuses a dead one's
    ``id`` is never taken for it. A class changed in place after it passed is not re-checked
    until its entry expires or :meth:`clear` runs.
    """

    def __init__(self, max_size: int = 1000, ttl_seconds: float = 300.0) -> None:
        self.max_size = max_size
        self.ttl_seconds = ttl_seconds
        self.hits = 0
        self.misses = 0
        self._passed: dict[int, tuple[weakref.ref[Any], float]] = {}
        self._lock = threading.Lock()

    def __contains__(self, artifact: object) -> bool:
        key = id(artifact)
        with self._lock:
            entry = self._passed.get(key)
            if (
                entry is not None
                and entry[0]() is artifact
                and time.monotonic() - entry[1] < self.ttl_seconds
            ):
                self.hits += 1
                self._passed[key] = self._passed.pop(key)  # most recently used goes last
                return True
            self.misses += 1
            return False

    def add(self, artifact: object) -> None:
        """Remember that ``artifact`` passed (not possible for objects without weak references)."""
        if self.max_size <= 0:
            return
        try:
            ref = weakref.ref(artifact)
        except TypeError:
            return  # builtin functions: checking them again is cheap anyway
        with self._lock:
            self._passed.pop(id(artifact), None)
            while len(self._passed) >= self.max_size:
                del self._passed[next(iter(self._passed))]  # the least recently used
            self._passed[id(artifact)] = (ref, time.monotonic())

    def clear(self) -> int:
        """Forget every pass; return how many entries there were."""
        with self._lock:
            count = len(self._passed)
            self._passed.clear()
            return count

    def configure(self, max_size: int | None = None, ttl_seconds: float | None = None) -> None:
        """Change the limits (entries beyond a smaller ``max_size`` are dropped, oldest first).

        Raises:
            ValidationError: a negative size, or a time-to-live that is not a positive number.
        """
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0
        ):
            raise ValidationError(
                f"cache_size must be an integer >= 0, got {max_size!r}",
                suggestions=["Pass cache_size=0 to turn the validation cache off"],
                context={"cache_size": repr(max_size)},
            )
        if ttl_seconds is not None and (
            isinstance(ttl_seconds, bool)
            or not isinstance(ttl_seconds, (int, float))
            or not ttl_seconds > 0
        ):
            raise ValidationError(
                f"cache_ttl must be a number of seconds > 0, got {ttl_seconds!r}",
                context={"cache_ttl": repr(ttl_seconds)},
            )
        with self._lock:
            if max_size is not None:
                self.max_size = max_size
                while len(self._passed) > max_size:
                    del self._passed[next(iter(self._passed))]
            if ttl_seconds is not None:
                self.ttl_seconds = float(ttl_seconds)

    def stats(self) -> dict[str, Any]:
        """Return the entry counts (``total_entries``, ``active_entries``, ``expired_entries``),
        the limits (``max_size``, ``ttl_seconds``) and the ``hits``/``misses`` so far."""
        now = time.monotonic()
        with self._lock:
            total = len(self._passed)
            active = sum(
                1
                for ref, when in self._passed.values()
                if ref() is not None and now - when < self.ttl_seconds
            )
            return {
                "total_entries": total,
                "active_entries": active,
                "expired_entries": total - active,
                "max_size": self.max_size,
                "ttl_seconds": self.ttl_seconds,
                "hits": self.hits,
                "misses": self.misses,
            }
