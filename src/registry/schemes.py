"""Pydantic schemes extracted from callables, and the one boundary where pydantic errors become
``registry.ValidationError``.

``extract_model(name, obj)`` builds ``<name>Config`` from the signature (a class contributes its
``__init__`` without ``self``): annotations become field types, defaults stay defaults,
unannotated parameters are ``Any``; ``*args`` are not fields and ``**kwargs`` allows extra keys.
Imports only ``errors``.
"""

from __future__ import annotations

import functools
import inspect
import math
import typing
from collections.abc import Callable, Mapping
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict

from registry.errors import ValidationError

__all__ = [
    "call_with_config",
    "extract_model",
    "resolved_hints",
    "scheme_json",
    "scheme_json_of",
    "validate_config",
]


def _annotated_function(obj: Callable[..., Any]) -> Callable[..., Any]:
    """Return the function whose annotations describe how ``obj`` is called."""
    return obj.__init__ if inspect.isclass(obj) else obj


def _resolved_hints(func: Callable[..., Any], owner: object) -> dict[str, Any]:
    """Resolve annotations, string ones included; names that cannot be resolved become ``Any``.

    A class's own name is visible to its annotations (``parent: Node | None``) even when the
    class is defined inside a function, where ``typing.get_type_hints`` cannot see it.
    """
    local: dict[str, Any] = {}
    if inspect.isclass(owner):
        local[owner.__name__] = owner
    try:
        return typing.get_type_hints(func, localns=local or None, include_extras=True)
    except Exception:
        namespace = dict(getattr(inspect.getmodule(owner), "__dict__", {}))
        namespace.update(getattr(func, "__globals__", {}))
        namespace.update(local)
        hints: dict[str, Any] = {}
        for name, raw in getattr(func, "__annotations__", {}).items():
            try:
                hints[name] = eval(raw, namespace) if isinstance(raw, str) else raw
            except Exception:  # an unknown name (a class local to some function): accept anything
                hints[name] = Any
        return hints


def resolved_hints(obj: Callable[..., Any]) -> dict[str, Any]:
    """Return the resolved annotations of how ``obj`` is called (a class's ``__init__``),
    including ``return``; for a class, ``return`` is the class itself."""
    hints = dict(_resolved_hints(_annotated_function(obj), obj))
    if inspect.isclass(obj):
        hints["return"] = obj
    return hints


def _signature_annotation(param: inspect.Parameter) -> Any:
    """Return the annotation a signature shows but ``__init__`` does not declare (pydantic
    models and other classes with a synthesized ``__signature__``), else ``Any``."""
    if param.annotation is param.empty or isinstance(param.annotation, str):
        return Any
    return param.annotation


def extract_model(name: str, obj: Callable[..., Any]) -> type[BaseModel]:
    """Build the pydantic model ``<name>Config`` describing how to call ``obj``.

    Raises:
        ValidationError: the signature cannot be read or a field cannot be modelled.
    """
    func = _annotated_function(obj)
    try:
        sig = inspect.signature(obj)  # drops ``self`` for classes
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"Cannot read the signature of {name!r}: {exc}",
            suggestions=["Register a Python function or class with an explicit signature"],
            context={"artifact": name},
        ) from exc
    hints = _resolved_hints(func, obj)
    fields: dict[str, Any] = {}
    allows_extra = False
    for param in sig.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            allows_extra = True
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        annotation = hints.get(param.name, _signature_annotation(param))
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
    config = ConfigDict(
        arbitrary_types_allowed=True,
        extra="allow" if allows_extra else "forbid",
        protected_namespaces=(),
    )
    try:
        model: type[BaseModel] = pydantic.create_model(f"{name}Config", __config__=config, **fields)
    except Exception as exc:  # pydantic raises several types for unsupported annotations
        raise ValidationError(
            f"Cannot build a scheme for {name!r}: {exc}",
            suggestions=["Use annotations pydantic understands, or annotate the parameter as Any"],
            context={"artifact": name},
        ) from exc
    model.__doc__ = inspect.getdoc(obj)
    return model


def _lenient_generator() -> type[Any]:
    """The JSON Schema generator of :func:`scheme_json`, defined once (pydantic sets up each
    generator class on first use, so a class per call cost ~100 us)."""
    global _LENIENT
    if _LENIENT is None:
        from pydantic.json_schema import GenerateJsonSchema

        class Lenient(GenerateJsonSchema):
            def handle_invalid_for_json_schema(
                self, schema: Any, error_info: str
            ) -> dict[str, Any]:
                return {"description": error_info}

        _LENIENT = Lenient
    return _LENIENT


_LENIENT: type[Any] | None = None


def scheme_json(model: type[BaseModel]) -> dict[str, Any]:
    """Return the JSON Schema of ``model``; types JSON Schema cannot express become ``{}``."""
    try:
        return model.model_json_schema(schema_generator=_lenient_generator())
    except Exception as exc:  # unknown core schema kinds: keep the field names at least
        return {
            "title": model.__name__,
            "type": "object",
            "properties": {name: {} for name in model.model_fields},
            "description": f"schema generation failed: {exc}",
        }


def scheme_json_of(name: str, obj: Callable[..., Any]) -> dict[str, Any] | None:
    """Return ``scheme_json(extract_model(name, obj))``, or ``None`` when there is no scheme.

    The common case (every annotation renders without ``$defs``, every default is a plain JSON
    value) is assembled from per-annotation pieces that pydantic rendered once, without
    building a model per call (a model costs ~0.4 ms and ~10 KiB); anything else takes the
    model path, so the result is the same either way.
    """
    try:
        assembled = _assembled_scheme(name, obj)
    except Exception:  # whatever surprised the shortcut, the model path decides
        assembled = None
    if assembled is not None:
        return assembled
    try:
        return scheme_json(extract_model(name, obj))
    except ValidationError:
        return None


_JSON_PLAIN = (bool, int, str, type(None))
_fragments: dict[Any, tuple[dict[str, Any], bool] | None] = {}


def _assembled_scheme(name: str, obj: Callable[..., Any]) -> dict[str, Any] | None:
    sig = inspect.signature(obj)
    hints = _resolved_hints(_annotated_function(obj), obj)
    properties: dict[str, Any] = {}
    required: list[str] = []
    allows_extra = False
    for param in sig.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            allows_extra = True
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        piece = _fragment(hints.get(param.name, _signature_annotation(param)))
        if piece is None:
            return None
        fragment, titled = piece
        field = dict(fragment)
        if titled:
            field["title"] = _field_title(param.name)
        if param.default is param.empty:
            required.append(param.name)
        elif type(param.default) in _JSON_PLAIN or (
            type(param.default) is float and math.isfinite(param.default)
        ):
            field["default"] = param.default
        else:
            return None
        properties[param.name] = dict(sorted(field.items()))
    schema: dict[str, Any] = {
        "additionalProperties": allows_extra,
        "properties": properties,
        "title": f"{name}Config",
        "type": "object",
    }
    if required:
        schema["required"] = required
    doc = inspect.getdoc(obj)
    if doc:
        schema["description"] = doc
    return dict(sorted(schema.items()))


def _fragment(annotation: Any) -> tuple[dict[str, Any], bool] | None:
    """How pydantic renders a field of type ``annotation`` (without its title and default),
    and whether it gives such a field a title; ``None`` when it needs ``$defs``."""
    try:
        return _fragments[annotation]
    except KeyError:
        pass
    except TypeError:  # unhashable annotation
        return None
    probe = pydantic.create_model(
        "Probe", __config__=ConfigDict(arbitrary_types_allowed=True), field=(annotation, ...)
    )
    rendered = scheme_json(probe)
    field = rendered.get("properties", {}).get("field")
    piece: tuple[dict[str, Any], bool] | None = None
    if field is not None and "$defs" not in rendered and "$ref" not in str(field):
        titled = field.pop("title", None) is not None
        piece = (field, titled)
    _fragments[annotation] = piece
    return piece


@functools.lru_cache(maxsize=4096)
def _field_title(field: str) -> str:
    return str(_lenient_generator()().get_title_from_name(field))


def validation_error(
    artifact: str, error: pydantic.ValidationError, *, path: str = ""
) -> ValidationError:
    """Translate a pydantic error into ``registry.ValidationError`` naming each bad field."""
    problems: list[dict[str, Any]] = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item.get("loc", ()))
        full = ".".join(part for part in (path, location) if part)
        problems.append(
            {"field": full, "message": item.get("msg", ""), "input": repr(item.get("input"))[:200]}
        )
    listing = "; ".join(
        f"{p['field'] or '<root>'}: {p['message']} (got {p['input']})" for p in problems
    )
    return ValidationError(
        f"Invalid config for {artifact!r}: {listing}",
        suggestions=[f"Check the fields against {artifact}Config (get_model({artifact!r}))"],
        context={"artifact": artifact, "errors": problems, "path": path},
    )


def validate_config(
    artifact: str, model: type[BaseModel], config: BaseModel | Mapping[str, Any]
) -> BaseModel:
    """Return ``config`` validated (and coerced) as an instance of ``model``."""
    if type(config) is model:
        return config
    if isinstance(config, BaseModel):
        config = dict(config)
    if not isinstance(config, Mapping):
        raise ValidationError(
            f"Config for {artifact!r} must be a mapping or {model.__name__}, got {type(config).__name__}",
            suggestions=[f"Pass a dict or build_config({artifact!r}, ...)"],
            context={"artifact": artifact, "got": type(config).__name__},
        )
    try:
        return model.model_validate(dict(config))
    except pydantic.ValidationError as error:
        raise validation_error(artifact, error) from None


def call_with_config(obj: Callable[..., Any], config: BaseModel) -> Any:
    """Call ``obj`` with the validated fields of ``config`` (positional-only ones positionally)."""
    sig = inspect.signature(obj)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = getattr(config, name)
        if param.kind is param.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[name] = value
    if config.model_extra:
        kwargs.update(config.model_extra)
    return obj(*args, **kwargs)
