"""Pydantic models whose fields come from the store's record dataclasses.

The dataclasses in ``store.base`` declare each record's fields once. ``store.wire`` derives
their JSON form from them, and :func:`fields_of` derives the server's pydantic models (request
bodies and response models, hence the OpenAPI description): the same names in the same order,
typed as they travel in JSON, with the defaults of the dataclass. A model class written in
the server package carries only what is not about the record's shape: its name, docstring,
configuration, validators, and per-field options (limits from ``store.limits``, patterns,
descriptions). Imports ``store.base`` and pydantic.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, Field
from pydantic_core import PydanticUndefined

from registry.store.base import ParsedOnRead

__all__ = ["fields_of", "json_type"]

_Model = TypeVar("_Model", bound=BaseModel)


def fields_of(
    record: type,
    *,
    nested: Mapping[type, type[BaseModel]] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    all_required: bool = False,
) -> Callable[[type[_Model]], type[_Model]]:
    """Class decorator: give the model every field of the ``record`` dataclass.

    Args:
        record: the dataclass that declares the fields.
        nested: the model to use for each record type a field holds (``Seal`` -> a model).
        options: keyword arguments of :func:`pydantic.Field` for some fields, by name.
        all_required: every field is required (responses always send every key); otherwise
            a field with a dataclass default is optional with that default.

    Raises:
        TypeError: ``options`` names a field the record does not have, or a field holds a
            record type missing from ``nested``.
    """
    fields = dataclasses.fields(cast(Any, record))
    unknown = set(options or {}) - {field.name for field in fields}
    if unknown:
        raise TypeError(f"{record.__name__} has no field {sorted(unknown)}")
    hints = typing.get_type_hints(record)

    def derive(model: type[_Model]) -> type[_Model]:
        annotations: dict[str, Any] = {}
        namespace: dict[str, Any] = {
            "__module__": model.__module__,
            "__qualname__": model.__qualname__,
            "__doc__": model.__doc__,
            "__annotations__": annotations,
        }
        for field in fields:
            annotations[field.name] = json_type(hints[field.name], nested or {})
            given = dict((options or {}).get(field.name, {}))
            if all_required:
                namespace[field.name] = Field(PydanticUndefined, **given)
            elif field.default_factory is not dataclasses.MISSING:
                namespace[field.name] = Field(default_factory=field.default_factory, **given)
            elif field.default == ():  # an empty tuple travels as an empty list
                namespace[field.name] = Field(default_factory=list, **given)
            elif field.default is not dataclasses.MISSING:
                namespace[field.name] = Field(field.default, **given)
            else:
                namespace[field.name] = Field(PydanticUndefined, **given)
        # A subclass of the written class: it keeps its configuration and validators.
        metaclass: Any = type(model)
        return cast(type[_Model], metaclass(model.__name__, (model,), namespace))

    return derive


def json_type(hint: Any, nested: Mapping[type, type[BaseModel]]) -> Any:
    """The type a value of dataclass type ``hint`` has in JSON (as ``store.wire`` sends it)."""
    if hint is ParsedOnRead:
        return dict[str, Any] | None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        parts = tuple(json_type(arg, nested) for arg in args)
        return typing.Union[parts]  # noqa: UP007 (built from parts at run time)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return list[json_type(args[0], nested)]  # type: ignore[misc]
        return tuple[tuple(json_type(arg, nested) for arg in args)]  # type: ignore[misc]
    if hint is bytes:
        return str  # base64 text
    if hint is datetime:
        return datetime
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return Literal[tuple(member.value for member in hint)]
    if dataclasses.is_dataclass(hint):
        model = (nested or {}).get(cast(type, hint))
        if model is None:
            raise TypeError(f"No model given for the nested record {hint!r}")
        return model
    return hint
