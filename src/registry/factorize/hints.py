"""What a parameter annotation means for factorization, worked out once per annotation.

A :class:`Hint` answers the questions the builder asks while walking a config: may a nested
artifact that builds type ``T`` stand here, may a list or dict holding artifacts stand here
(and what container to build), what to expect of the items, and which class to build when a
plain mapping is given for a class-typed parameter. Imports only ``errors``, ``schemes`` and
``validation``.
"""

from __future__ import annotations

import abc
import collections.abc
import contextlib
import dataclasses
import enum
import inspect
import sys
import types
import typing
from typing import Any

import pydantic
import typing_extensions
from pydantic import BaseModel, ConfigDict

from registry import schemes
from registry.errors import ValidationError
from registry.validation import is_compatible

__all__ = ["ANY_HINT", "EVERY_TYPE", "Hint", "direct_types", "hint_for", "is_plain_class"]

_SEQUENCES: dict[Any, type] = {
    list: list,
    tuple: tuple,
    set: set,
    frozenset: frozenset,
    collections.abc.Sequence: list,
    collections.abc.MutableSequence: list,
    collections.abc.Iterable: list,
    collections.abc.Collection: list,
    collections.abc.Set: frozenset,
    collections.abc.MutableSet: set,
}
_MAPPINGS = frozenset({dict, collections.abc.Mapping, collections.abc.MutableMapping})
_ARBITRARY = ConfigDict(arbitrary_types_allowed=True)
# Classes whose exact instances pydantic returns unchanged for the same annotation (lax mode,
# no constraints); tests/test_fast_paths.py holds each against pydantic.
_SCALARS = frozenset({int, float, str, bool, bytes, type(None)})


class _EveryType(frozenset):  # type: ignore[type-arg]
    """Contains every class: what ``Any`` passes through unchanged."""

    def __contains__(self, item: object) -> bool:
        return True


EVERY_TYPE: frozenset[type] = _EveryType()


def direct_types(annotation: Any) -> frozenset[type] | None:
    """Return the classes whose exact instances validate as themselves against ``annotation``,
    so checking ``value.__class__`` replaces a pydantic call; ``None`` when pydantic is needed
    (constraints, containers, coercion of other types)."""
    if annotation is Any:
        return EVERY_TYPE
    if annotation is None:
        annotation = type(None)
    if _hashable_in(annotation, _SCALARS):
        return frozenset({annotation})
    if type(annotation) in _ORDINARY_METACLASSES:
        return None  # any other class (never a union)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [direct_types(member) for member in typing.get_args(annotation)]
        if any(member is None or member is EVERY_TYPE for member in members):
            return None
        return frozenset().union(*members)  # type: ignore[arg-type]
    return None


class Hint:
    """The factorization view of one annotation (see the module docstring)."""

    __slots__ = (
        "_adapter",
        "_compatible",
        "annotation",
        "as_written",
        "build_class",
        "direct",
        "is_any",
        "is_mapping",
        "item",
        "sequence_kind",
        "value",
    )

    def __init__(self, annotation: Any) -> None:
        self.annotation = annotation
        self.is_any = annotation is Any or annotation is object
        self.direct = direct_types(annotation)
        self.build_class: type | None = None
        self.sequence_kind: type | None = None
        self.is_mapping = self.is_any
        self.item: Hint = self
        self.value: Hint = self
        self._compatible: dict[Any, bool] = {}
        self._adapter: pydantic.TypeAdapter[Any] | None = None
        #: Whether a pydantic scheme holds the annotation exactly as written (see
        #: :func:`_modelled_as_written`); :func:`hint_for` works it out for the rest.
        self.as_written = annotation is Any

    def accepts_type(self, produced: Any) -> bool:
        """Return whether a value of type ``produced`` may be given for this annotation."""
        try:
            return self._compatible[produced]
        except (KeyError, TypeError):
            pass
        fits = is_compatible(produced, self.annotation)
        with contextlib.suppress(TypeError):  # unhashable type expressions are not cached
            self._compatible[produced] = fits
        return fits

    def expect_container(self, kind: type, path: str, owner: str) -> type:
        """Return the container type to build a ``kind`` value holding artifacts into."""
        if self.is_any:
            return kind
        if kind is dict and self.is_mapping:
            return dict
        if kind is not dict and self.sequence_kind is not None:
            return self.sequence_kind
        raise ValidationError(
            f"{owner!r} expects {self.describe()} at {path!r}, got a {kind.__name__} of artifacts",
            suggestions=["Give a value of the annotated type there"],
            context={"type": owner, "path": path, "expected": self.describe()},
        )

    def verify(self, value: Any, path: str, owner: str) -> Any:
        """Validate ``value`` against the annotation and return it coerced."""
        if self.is_any or (self.direct is not None and value.__class__ in self.direct):
            return value
        if self._adapter is None:
            self._adapter = self._make_adapter(path, owner)
        try:
            return self._adapter.validate_python(value)
        except pydantic.ValidationError as error:
            translated = schemes.validation_error(owner, error, path=path)
            raise ValidationError(
                translated.message,
                suggestions=translated.suggestions,
                context={"type": owner, "path": path, "errors": translated.context["errors"]},
            ) from None
        except Exception as exc:  # a custom validator raising something pydantic does not wrap
            raise ValidationError(
                f"Invalid value for {owner!r} at {path!r}: {type(exc).__name__}: {exc}",
                context={"type": owner, "path": path},
            ) from exc

    def _make_adapter(self, path: str, owner: str) -> pydantic.TypeAdapter[Any]:
        try:
            try:
                return pydantic.TypeAdapter(self.annotation, config=_ARBITRARY)
            except pydantic.PydanticUserError:  # types that carry their own config
                return pydantic.TypeAdapter(self.annotation)
        except Exception as exc:  # annotations pydantic cannot validate at all
            raise ValidationError(
                f"{owner!r} annotates {path!r} as {self.describe()}, which cannot be validated: {exc}",
                suggestions=["Annotate the parameter with a type pydantic understands, or Any"],
                context={"type": owner, "path": path},
            ) from exc

    def describe(self) -> str:
        """Return the annotation as people write it."""
        if inspect.isclass(self.annotation) and typing.get_origin(self.annotation) is None:
            return self.annotation.__qualname__
        return repr(self.annotation).replace("typing.", "")


ANY_HINT = Hint(Any)
_HINTS: dict[Any, Hint] = {}


def hint_for(annotation: Any) -> Hint:
    """Return the (cached) :class:`Hint` of ``annotation``."""
    try:
        return _HINTS[annotation]
    except KeyError:
        hint = _HINTS[annotation] = _make_hint(annotation)
        return hint
    except TypeError:  # unhashable metadata in the annotation
        return _make_hint(annotation)


def _make_hint(annotation: Any) -> Hint:
    hint = Hint(annotation)
    if type(annotation) in _ORDINARY_METACLASSES and is_plain_class(annotation):
        # A plain class of user code, the common case: what _describe_single would find,
        # without typing's introspection (a new class pays for every attribute it lacks).
        hint.as_written = True
        hint.item = hint.value = ANY_HINT
        if not inspect.isabstract(annotation):
            hint.build_class = annotation
        return hint
    hint.as_written = _modelled_as_written(annotation)
    if hint.is_any:
        hint.sequence_kind = list
        return hint
    hint.item = hint.value = ANY_HINT
    members = _union_members(annotation)
    if len(members) > 1:
        structural = [hint_for(member) for member in members]
        buildable = [h.build_class for h in structural if h.build_class is not None]
        takes_mapping = any(_takes_mapping(member) for member in members)
        if len(buildable) == 1 and not takes_mapping:
            hint.build_class = buildable[0]
        for member_hint in structural:  # the first container member decides the items
            if member_hint.sequence_kind is not None and hint.sequence_kind is None:
                hint.sequence_kind, hint.item = member_hint.sequence_kind, member_hint.item
            if member_hint.is_mapping and not hint.is_mapping:
                hint.is_mapping, hint.value = True, member_hint.value
        return hint
    _describe_single(hint, members[0] if members else annotation)
    return hint


_SIMPLE = frozenset({Any, int, float, str, bool, bytes, type(None), None})
_GENERIC_CONTAINERS = frozenset(
    {
        list,
        tuple,
        dict,
        set,
        frozenset,
        collections.abc.Sequence,
        collections.abc.MutableSequence,
        collections.abc.Iterable,
        collections.abc.Collection,
        collections.abc.Mapping,
        collections.abc.MutableMapping,
        collections.abc.Set,
        collections.abc.MutableSet,
    }
)


def _modelled_as_written(annotation: Any) -> bool:
    """Return whether pydantic's scheme would hold ``annotation`` exactly as written: it needs
    no schema of its own (no ``Annotated`` metadata, no models, dataclasses or hooks that
    could reject or reshape it). When unsure, say no: the scheme is then built and is the
    authority."""
    try:
        if annotation in _SIMPLE or annotation in _GENERIC_CONTAINERS:
            return True
    except TypeError:  # unhashable metadata somewhere inside
        return False
    if type(annotation) in _ORDINARY_METACLASSES:
        return is_plain_class(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) or origin in _GENERIC_CONTAINERS:
        return all(
            arg is Ellipsis or hint_for(arg).as_written for arg in typing.get_args(annotation)
        )
    return origin is None and is_plain_class(annotation)


def _union_members(annotation: Any) -> list[Any]:
    """Return the members of a union without ``None`` (``[annotation]`` for the rest)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for m in typing.get_args(annotation) if m is not type(None)]
    return [annotation]


def _describe_single(hint: Hint, annotation: Any) -> None:
    origin = typing.get_origin(annotation) or annotation
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        _describe_single(hint, args[0])
        return
    if _hashable_in(origin, _SEQUENCES):
        hint.sequence_kind = _SEQUENCES[origin]
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            hint.item = ANY_HINT  # fixed-length tuples: items are checked by the scheme
        else:
            hint.item = hint_for(args[0]) if args else ANY_HINT
    elif _hashable_in(origin, _MAPPINGS):
        hint.is_mapping = True
        hint.value = hint_for(args[1]) if len(args) == 2 else ANY_HINT
    elif _buildable(annotation):
        hint.build_class = annotation
    hint.is_mapping = hint.is_mapping or _takes_mapping(annotation)


def _hashable_in(value: Any, container: Any) -> bool:
    try:
        return value in container
    except TypeError:
        return False


def _takes_mapping(annotation: Any) -> bool:
    """Return whether pydantic itself turns a mapping into this annotation."""
    if annotation is Any or annotation is object:
        return True
    origin = typing.get_origin(annotation) or annotation
    if _hashable_in(origin, _MAPPINGS):
        return True
    if not inspect.isclass(origin):
        return False
    return (
        issubclass(origin, BaseModel)
        or dataclasses.is_dataclass(origin)
        or typing_extensions.is_typeddict(origin)
    )


#: Metaclasses that lend their classes none of the attributes :func:`is_plain_class` looks
#: for (tests hold this). Models, enums and TypedDicts come with metaclasses of their own.
_ORDINARY_METACLASSES = (type, abc.ABCMeta)
#: Attributes that make pydantic validate a class in its own way: schema hooks, and the
#: fields of a dataclass (what ``dataclasses.is_dataclass`` looks for).
_OWN_VALIDATION = frozenset(
    {
        "__get_pydantic_core_schema__",
        "__get_validators__",
        "__pydantic_validator__",
        "__dataclass_fields__",
    }
)


def is_plain_class(annotation: Any) -> bool:
    """Return whether ``annotation`` is a class of user code that pydantic can only check with
    ``isinstance`` (no model, dataclass, enum, named tuple or schema hook; not from the
    standard library, whose classes pydantic often validates in its own way). ``False`` means
    "ask pydantic", not "no"."""
    if type(annotation) not in _ORDINARY_METACLASSES:
        return inspect.isclass(annotation) and _is_plain_class_of_metaclass(annotation)
    if annotation.__module__.partition(".")[0] in sys.stdlib_module_names:
        return False
    # Read from the classes' namespaces: on Python 3.11 each attribute a class lacks costs an
    # AttributeError (~1 us on a class never looked at before: a first build's classes).
    protocol_seen = False
    for base in annotation.__mro__[:-1]:  # ``object`` defines none of these
        attributes = vars(base)
        if base is tuple or not _OWN_VALIDATION.isdisjoint(attributes):
            return False
        if not protocol_seen and "_is_protocol" in attributes:
            if attributes["_is_protocol"]:
                return False
            protocol_seen = True  # the first one found is what getattr would return
    return True


def _is_plain_class_of_metaclass(annotation: type) -> bool:
    """:func:`is_plain_class` for a class with a metaclass of its own, which may lend it any
    attribute."""
    if getattr(annotation, "_is_protocol", False):
        return False
    if annotation.__module__.partition(".")[0] in sys.stdlib_module_names:
        return False
    return not (
        issubclass(annotation, (BaseModel, enum.Enum, tuple))
        or typing_extensions.is_typeddict(annotation)
        or any(hasattr(annotation, name) for name in _OWN_VALIDATION)
    )


def _buildable(annotation: Any) -> bool:
    """Return whether ``annotation`` is a concrete class pydantic only checks with isinstance.

    Those are the classes factorization builds from a plain mapping.
    """
    if not inspect.isclass(annotation) or annotation.__module__ == "builtins":
        return False
    if inspect.isabstract(annotation) or getattr(annotation, "_is_protocol", False):
        return False
    if is_plain_class(annotation):
        return True  # what the schema below would say, without building it
    try:
        schema = pydantic.TypeAdapter(annotation, config=_ARBITRARY).core_schema
    except Exception:  # models, dataclasses and the like carry their own config
        return False
    return schema.get("type") == "is-instance"
