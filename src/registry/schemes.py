"""Pydantic schemes extracted from callables, and the one boundary where pydantic errors become
``registry.ValidationError``.

``extract_model(name, obj)`` builds ``<name>Config`` from the signature (a class contributes its
``__init__`` without ``self``): annotations become field types, defaults stay defaults,
unannotated parameters are ``Any``; ``*args`` are not fields and ``**kwargs`` allows extra keys.
Imports only ``errors``.
"""

from __future__ import annotations

import inspect
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
    "scheme_fields",
    "scheme_json",
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


def scheme_fields(sig: inspect.Signature, hints: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Return the fields of a scheme, ``{name: (annotation, default or ...)}``, and whether
    ``**kwargs`` lets it take extra keys."""
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
    return fields, allows_extra


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
    fields, allows_extra = scheme_fields(sig, _resolved_hints(func, obj))
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


def scheme_json(model: type[BaseModel]) -> dict[str, Any]:
    """Return the JSON Schema of ``model``; types JSON Schema cannot express become ``{}``."""
    from pydantic.json_schema import GenerateJsonSchema

    class _Lenient(GenerateJsonSchema):
        def handle_invalid_for_json_schema(self, schema: Any, error_info: str) -> dict[str, Any]:
            return {"description": error_info}

    try:
        return model.model_json_schema(schema_generator=_Lenient)
    except Exception as exc:  # unknown core schema kinds: keep the field names at least
        return {
            "title": model.__name__,
            "type": "object",
            "properties": {name: {} for name in model.model_fields},
            "description": f"schema generation failed: {exc}",
        }


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
