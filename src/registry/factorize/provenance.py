""":func:`to_config`: turn factorized objects back into the configs that build them.

Building is deterministic, so an object's record (``records.py``: the compiled node that built
it and, for builders generated per config shape, the literal values that filled the node's
``Slot`` markers) is its config: the node's values and nested steps. For instances of
registered classes that were not factorized it falls back to reading the constructor's
parameters back from same-named attributes. The compiled step types are imported on first use
(``steps`` imports pydantic, and ``import registry`` exports ``to_config`` without paying for
it).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import pathlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from registry.errors import ValidationError
from registry.factorize import records

if TYPE_CHECKING:
    from registry.factorize.steps import Node

__all__ = ["Namer", "to_config"]


_MAX_DEPTH = 200
_KEPT_AS_IS = (str, int, float, bool, type(None), bytes, datetime.date, datetime.time)

#: Returns the qualified label (``Registry:name``) a class is registered under, or None.
Namer = Callable[[type], "str | None"]


def to_config(obj: Any, *, relative_to: str | None = None, namer: Namer | None = None) -> Any:
    """Return a config that factorizes into an object equal to ``obj``.

    Args:
        obj: an object built by factorization, a registered class's instance whose
            constructor parameters are readable as same-named attributes, or plain data
            (mappings, lists, tuples, scalars) holding such objects.
        relative_to: a registry label; its artifacts are written as ``name`` instead of
            ``Registry:name``.
        namer: gives the label a class is registered under (for the attribute fallback).

    Raises:
        ValidationError: some part cannot be expressed as a config (its path is named).
    """
    return _config_of(obj, "", relative_to, namer, 0)


def _config_of(
    obj: Any, path: str, relative_to: str | None, namer: Namer | None, depth: int
) -> Any:
    if isinstance(obj, _KEPT_AS_IS):
        return obj
    if depth > _MAX_DEPTH:
        raise ValidationError(
            f"Config nesting is deeper than {_MAX_DEPTH} at {path!r} (a cycle?)",
            context={"path": path},
        )
    record = records.record_of(obj)
    if record is not None:
        return _from_record(record, path, relative_to, namer, depth)
    if isinstance(obj, enum.Enum):
        return _config_of(obj.value, path, relative_to, namer, depth + 1)
    if isinstance(obj, pathlib.PurePath):
        return str(obj)
    if isinstance(obj, Mapping):
        return {
            _key(key, path): _config_of(value, _join(path, key), relative_to, namer, depth + 1)
            for key, value in obj.items()
        }
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [
            _config_of(value, _join(path, index), relative_to, namer, depth + 1)
            for index, value in enumerate(obj)
        ]
    return _object_config(obj, path, relative_to, namer, depth)


def _object_config(
    obj: Any, path: str, relative_to: str | None, namer: Namer | None, depth: int
) -> dict[str, Any]:
    """Return the config of an object that was not built by factorization."""
    label = namer(type(obj)) if namer is not None else None
    if label is not None:
        return _from_attributes(
            obj,
            _relative(label, relative_to),
            path,
            relative_to=relative_to,
            namer=namer,
            depth=depth,
        )
    fields = _data_fields(obj)
    if fields is None:
        raise ValidationError(
            f"Cannot express {type(obj).__qualname__} at {path or '<root>'!r} as a config",
            suggestions=[
                "Build it with factorize_artifact, or register its class so it can be named"
            ],
            context={"path": path, "got": type(obj).__qualname__},
        )
    # A dataclass or pydantic model pydantic built from a plain mapping: write one back.
    return {
        name: _config_of(getattr(obj, name), _join(path, name), relative_to, namer, depth + 1)
        for name in fields
    }


def _data_fields(obj: Any) -> list[str] | None:
    """Return the fields to write back for a dataclass or pydantic model instance, else None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [f.name for f in dataclasses.fields(obj) if f.init]
    fields_set = getattr(obj, "model_fields_set", None)  # pydantic models: the values given
    if isinstance(fields_set, set) and hasattr(type(obj), "model_fields"):
        return [name for name in type(obj).model_fields if name in fields_set]
    return None


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _key(key: object, path: str) -> str:
    if isinstance(key, str):
        return key
    raise ValidationError(
        f"Config keys must be strings; {key!r} at {path or '<root>'!r} is {type(key).__name__}",
        context={"path": path, "key": repr(key)},
    )


def _relative(label: str, relative_to: str | None) -> str:
    if relative_to is not None and label.startswith(relative_to + ":"):
        return label[len(relative_to) + 1 :]
    return label


def _from_record(
    record: records.Record, path: str, relative_to: str | None, namer: Namer | None, depth: int
) -> dict[str, Any]:
    node, slots = record
    return _node_config(node, path, relative_to, namer, depth, slots=slots)


def _node_config(
    node: Node,
    path: str,
    relative_to: str | None,
    namer: Namer | None,
    depth: int,
    *,
    slots: tuple[Any, ...],
) -> dict[str, Any]:
    """Return the config a compiled node was built from (building is deterministic)."""
    config: dict[str, Any] = {}
    if not node.annotated:
        config["_type"] = _relative(node.plan.label, relative_to)
    given = {**node.values, **(node.nested or {})}
    if node.extra_args is not None:  # every positional value, then the *args ones, by position
        positional = [given.pop(name) for name in node.plan.positional if name in given]
        given["_args_"] = [*positional, *node.extra_args]
    for name, value in given.items():
        config[name] = _step_config(
            value, _join(path, name), relative_to, namer, depth + 1, slots=slots
        )
    if node.partial:
        config["_partial_"] = True
    return config


def _step_config(
    value: Any,
    path: str,
    relative_to: str | None,
    namer: Namer | None,
    depth: int,
    *,
    slots: tuple[Any, ...],
) -> Any:
    from registry.factorize import steps  # on first use: steps import pydantic

    if isinstance(value, steps.Slot):
        value = slots[value.index]
    elif isinstance(value, steps.Node):
        return _node_config(value, path, relative_to, namer, depth, slots=slots)
    elif isinstance(value, steps.SequenceStep):
        value = value.items
    elif isinstance(value, steps.MappingStep):
        return {
            _key(key, path): _step_config(
                item, _join(path, key), relative_to, namer, depth + 1, slots=slots
            )
            for key, item in value.items.items()
        }
    if isinstance(value, list) and any(
        isinstance(item, (steps.Step, steps.Slot)) for item in value
    ):
        return [
            _step_config(item, _join(path, index), relative_to, namer, depth + 1, slots=slots)
            for index, item in enumerate(value)
        ]
    return _config_of(value, path, relative_to, namer, depth)


def _from_attributes(
    obj: Any, label: str, path: str, *, relative_to: str | None, namer: Namer | None, depth: int
) -> dict[str, Any]:
    """Read the constructor's parameters back from same-named attributes of ``obj``."""
    config: dict[str, Any] = {"_type": label}
    try:
        parameters = inspect.signature(type(obj)).parameters.values()
    except (TypeError, ValueError):
        parameters = {}.values()
    for param in parameters:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if hasattr(obj, param.name):
            value = getattr(obj, param.name)
            config[param.name] = _config_of(
                value, _join(path, param.name), relative_to, namer, depth + 1
            )
        elif param.default is param.empty:
            raise ValidationError(
                f"Cannot read parameter {param.name!r} of {label!r} back from the object at "
                f"{path or '<root>'!r}",
                suggestions=[
                    f"Keep it as self.{param.name}, or build the object with factorize_artifact"
                ],
                context={"type": label, "path": _join(path, param.name)},
            )
    return config
