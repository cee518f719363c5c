"""Pydantic schemes extracted from callables, and the one boundary where pydantic errors become
``registry.ValidationError``.

``extract_model(name, obj)`` builds ``<name>Config`` from the signature (a class contributes its
``__init__`` without ``self``): annotations become field types, defaults stay defaults,
unannotated parameters are ``Any``; ``*args`` are not fields and ``**kwargs`` allows extra keys.
``model_from_scheme(name, scheme)`` builds the same model from the JSON Schema stored at
registration, for processes that cannot import the artifact.

Parameters whose names pydantic reserves for itself (``model_config``, ``json``, ``copy``, any
``BaseModel`` attribute, names starting with ``_``) are fields too: the model keeps them under
``<name>_`` with the parameter name as the alias, so configs, errors and JSON Schema use the
parameter name. Imports only ``errors``.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import json
import math
import pathlib
import sys
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, Protocol, TypeVar, Union

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticUndefined

from registry.errors import ValidationError

__all__ = [
    "ParameterLike",
    "SchemeBody",
    "call_with_config",
    "config_values",
    "extract_model",
    "is_plain_function",
    "model_from_scheme",
    "resolved_hints",
    "scheme_body",
    "scheme_json",
    "scheme_json_of",
    "scheme_parameters",
    "scheme_text_from",
    "scheme_text_of",
    "validate_config",
]


# The marker for a required field. Not `...`: pydantic 2.6 (our floor) takes an Ellipsis
# default literally when the annotation is `Annotated[T, Field(...)]`, and the field silently
# becomes optional.
REQUIRED: Any = PydanticUndefined


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
    simple = _simple_hints(func, local)
    if simple is not None:
        return simple
    try:
        resolved = typing.get_type_hints(func, localns=local or None, include_extras=True)
        if _TYPING_EVALUATES_QUOTED_ARGUMENTS:
            return resolved
        namespace = getattr(func, "__globals__", {})
        return {k: _quoted_arguments_evaluated(v, namespace, local) for k, v in resolved.items()}
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


def _quoted_arguments_evaluated(hint: Any, namespace: dict[str, Any], local: dict[str, Any]) -> Any:
    """Return ``hint`` with the quoted arguments of builtin generics (``list['Leaf']``)
    evaluated, as ``typing.get_type_hints`` does from Python 3.11 on and 3.10's does not."""
    arguments = getattr(hint, "__args__", None)
    if not isinstance(arguments, tuple) or typing.get_origin(hint) is Literal:
        return hint
    builtin_generic = isinstance(hint, types.GenericAlias)
    evaluated = tuple(
        eval(a, namespace, local or None)  # an annotation, evaluated as typing evaluates it
        if builtin_generic and isinstance(a, str)
        else _quoted_arguments_evaluated(a, namespace, local)
        for a in arguments
    )
    if all(new is old for new, old in zip(evaluated, arguments, strict=True)):
        return hint
    if builtin_generic:
        return types.GenericAlias(hint.__origin__, evaluated)
    if isinstance(hint, types.UnionType):
        return functools.reduce(lambda left, right: left | right, evaluated)
    return hint.copy_with(evaluated)


#: Compiled string annotations (``"int"``, ``"list[Leaf]"``), by their text: compiling is a
#: function of the text alone, and costs ten times the evaluation.
_ANNOTATION_CODE: dict[str, types.CodeType] = {}
_MAX_ANNOTATION_CODES = 4096
_GENERIC_BUILTINS = frozenset({list, dict, set, frozenset, tuple, type})
#: Python 3.10's ``get_type_hints`` turns ``x: int = None`` into ``Optional[int]``; later ones
#: return the annotation as written.
_TYPING_KEEPS_NONE_DEFAULTS: bool = sys.version_info >= (3, 11)
#: And it leaves quoted arguments of builtin generics (``list['Leaf']``) as strings.
_TYPING_EVALUATES_QUOTED_ARGUMENTS: bool = sys.version_info >= (3, 11)


#: Attributes with which a function or a class tells ``inspect.signature`` (``__wrapped__``:
#: also ``typing.get_type_hints``) another signature than its code's (or, for a class, one
#: ``inspect`` reads from elsewhere than ``__init__``).
SIGNATURE_HOOKS = ("__signature__", "__wrapped__", "__text_signature__", "_partialmethod")


def is_plain_function(obj: object) -> bool:
    """Whether ``obj`` is a Python function whose signature and hints ``inspect`` and
    ``typing`` read from its own code and annotations: the case the drafting and first-build
    shortcuts take. Checked with ``hasattr``: reading a function's ``__dict__`` creates one
    (~60 B each, 0.6 MiB per 10,000 registered functions)."""
    # SIGNATURE_HOOKS, spelled out: a generator over them costs more than the four lookups.
    return type(obj) is types.FunctionType and not (
        hasattr(obj, "__signature__")
        or hasattr(obj, "__wrapped__")
        or hasattr(obj, "__text_signature__")
        or hasattr(obj, "_partialmethod")
    )


def _simple_hints(func: Callable[..., Any], local: dict[str, Any]) -> dict[str, Any] | None:
    """Return what ``typing.get_type_hints(func, localns=local or None, include_extras=True)``
    returns, for plain functions whose annotations (written as strings or not) are classes,
    ``None``, or builtin generics or unions of those, such as ``list[Leaf]`` or ``int | None``;
    ``None`` for anything else, which is left to ``typing``. For those annotations ``typing``
    evaluates the string and returns the value, ``None`` as ``NoneType``; but it compiles every
    string anew, which made resolving hints the largest part of a first build under ``from
    __future__ import annotations``. (Python 3.10's ``typing`` also wraps hints of ``None``
    defaults in ``Optional``, so it is left to ``typing`` there.)"""
    if (
        not _TYPING_KEEPS_NONE_DEFAULTS
        or not is_plain_function(func)
        or bool(getattr(func, "__type_params__", None))
    ):
        return None
    namespace = func.__globals__
    scope = local or namespace
    hints: dict[str, Any] = {}
    for name, written in func.__annotations__.items():
        value = written
        if written.__class__ is str:
            code = _ANNOTATION_CODE.get(written)
            if code is None:
                try:
                    code = compile(written, "<annotation>", "eval")
                except SyntaxError:
                    return None
                if len(_ANNOTATION_CODE) >= _MAX_ANNOTATION_CODES:
                    _ANNOTATION_CODE.clear()
                _ANNOTATION_CODE[written] = code
            try:
                value = eval(code, namespace, scope)
            except Exception:  # typing explains it, or the caller falls back
                return None
        if value is None:
            value = type(None)
        if not _is_simple_hint(value):
            return None
        hints[name] = value
    return hints


def _is_simple_hint(value: Any) -> bool:
    """Whether ``typing`` resolves ``value`` to itself (or to an equal alias): ``Any``, a class
    that is not a typing construct, or a builtin generic or a union of those."""
    if type(value) is types.GenericAlias:
        return value.__origin__ in _GENERIC_BUILTINS and all(
            _is_simple_hint(arg) for arg in value.__args__
        )
    if value is Any:
        return True
    if isinstance(value, type):
        return value.__module__ not in ("typing", "typing_extensions")
    if type(value) is types.UnionType or typing.get_origin(value) is Union:
        return all(_is_simple_hint(arg) for arg in typing.get_args(value))
    return False


def resolved_hints(obj: Callable[..., Any]) -> dict[str, Any]:
    """Return the resolved annotations of how ``obj`` is called (a class's ``__init__``),
    including ``return``; for a class, ``return`` is the class itself."""
    hints = dict(_resolved_hints(_annotated_function(obj), obj))
    if inspect.isclass(obj):
        hints["return"] = obj
    return hints


class ParameterLike(Protocol):
    """What is read of an ``inspect.Parameter`` (factorization plans read parameters of plain
    functions straight from their code, into tuples with these fields)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> inspect._ParameterKind: ...

    @property
    def default(self) -> Any: ...

    @property
    def annotation(self) -> Any: ...


P = TypeVar("P", bound=ParameterLike)


def _signature_annotation(param: ParameterLike) -> Any:
    """Return the annotation a signature shows but ``__init__`` does not declare (pydantic
    models and other classes with a synthesized ``__signature__``), else ``Any``."""
    if param.annotation is inspect.Parameter.empty or isinstance(param.annotation, str):
        return Any
    return param.annotation


def extract_model(name: str, obj: Callable[..., Any]) -> type[BaseModel]:
    """Build the pydantic model ``<name>Config`` describing how to call ``obj``.

    Raises:
        ValidationError: the signature cannot be read or a field cannot be modelled.
    """
    try:
        parameters, allows_extra = _parameters(obj)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"Cannot read the signature of {name!r}: {exc}",
            suggestions=["Register a Python function or class with an explicit signature"],
            context={"artifact": name},
        ) from exc
    fields = [
        (param.name, annotation, REQUIRED if param.default is param.empty else param.default)
        for param, annotation in parameters
    ]
    return _build_model(name, fields, allows_extra, inspect.getdoc(obj))


def _parameters(
    obj: Callable[..., Any], sig: inspect.Signature | None = None
) -> tuple[list[tuple[inspect.Parameter, Any]], bool]:
    """The parameters a scheme describes, each with its resolved annotation, and whether a
    ``**kwargs`` lets the scheme accept extra keys (``*args`` are not fields). ``sig`` is
    ``inspect.signature(obj)`` when the caller has read it already.

    Raises:
        TypeError, ValueError: the signature cannot be read.
    """
    if sig is None:
        sig = inspect.signature(obj)  # drops ``self`` for classes
    return scheme_parameters(
        sig.parameters.values(), _resolved_hints(_annotated_function(obj), obj)
    )


def scheme_parameters(
    signature: Iterable[P], hints: Mapping[str, Any]
) -> tuple[list[tuple[P, Any]], bool]:
    """:func:`_parameters` of the parameters of a signature already read, with its resolved
    ``hints``."""
    parameters: list[tuple[P, Any]] = []
    allows_extra = False
    for param in signature:
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            allows_extra = True
        elif param.kind is not inspect.Parameter.VAR_POSITIONAL:
            parameters.append((param, hints.get(param.name, _signature_annotation(param))))
    return parameters, allows_extra


@functools.lru_cache(maxsize=4096)
def _reserved(name: str) -> bool:
    """Whether pydantic would drop or misread a field called ``name``."""
    return name.startswith("_") or hasattr(BaseModel, name)


def _build_model(
    name: str, fields: Iterable[tuple[str, Any, Any]], allows_extra: bool, doc: str | None
) -> type[BaseModel]:
    """Create ``<name>Config`` from ``(parameter, annotation, default)`` triples."""
    definitions: dict[str, Any] = {}
    parameters = [parameter for parameter, _, _ in fields]
    taken = set(parameters)
    for parameter, annotation, default in fields:
        if not _reserved(parameter):
            definitions[parameter] = (annotation, default)
            continue
        attribute = (parameter.lstrip("_") or "parameter") + "_"
        while attribute in taken or _reserved(attribute):
            attribute += "_"
        taken.add(attribute)
        definitions[attribute] = (annotation, Field(default, alias=parameter))
    config = ConfigDict(
        arbitrary_types_allowed=True,
        extra="allow" if allows_extra else "forbid",
        protected_namespaces=(),
    )
    try:
        model: type[BaseModel] = pydantic.create_model(
            f"{name}Config", __config__=config, **definitions
        )
    except Exception as exc:  # pydantic raises several types for unsupported annotations
        raise ValidationError(
            f"Cannot build a scheme for {name!r}: {exc}",
            suggestions=["Use annotations pydantic understands, or annotate the parameter as Any"],
            context={"artifact": name},
        ) from exc
    model.__doc__ = doc
    return model


def config_values(config: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """Return the values of a config instance keyed by parameter name (aliases resolved),
    extra keys included; a mapping is returned as a dict."""
    if not isinstance(config, BaseModel):
        return dict(config)
    values = {
        info.alias or attribute: getattr(config, attribute)
        for attribute, info in type(config).model_fields.items()
    }
    if config.model_extra:
        values.update(config.model_extra)
    return values


# --------------------------------------------------------------------------- stored schemes

_FORMATS: dict[str, Any] = {
    "date-time": datetime.datetime,
    "date": datetime.date,
    "time": datetime.time,
    "duration": datetime.timedelta,
    "uuid": uuid.UUID,
    "path": pathlib.Path,
}
_TYPES: dict[str, Any] = {
    "integer": int,
    "number": float,
    "boolean": bool,
    "null": type(None),
}
_CONSTRAINTS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "multipleOf": "multiple_of",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "minItems": "min_length",
    "maxItems": "max_length",
}


def model_from_scheme(name: str, scheme: Mapping[str, Any]) -> type[BaseModel]:
    """Build ``<name>Config`` from the JSON Schema :func:`scheme_json` stored at registration.

    Types JSON Schema describes (numbers, strings and their formats, lists, tuples, sets,
    mappings, enums, unions, nested objects, constraints) validate and coerce as the original
    model would; what it cannot describe (a class-typed parameter, say) accepts any value.

    Raises:
        ValidationError: the stored scheme is not an object schema.
    """
    if scheme.get("type", "object") != "object" or not isinstance(
        scheme.get("properties", {}), Mapping
    ):
        raise ValidationError(
            f"The stored scheme of {name!r} does not describe parameters",
            suggestions=["Register the artifact again to store a fresh scheme"],
            context={"artifact": name},
        )
    reader = _SchemeReader(scheme.get("$defs") or {})
    return reader.model(name, scheme)


class _SchemeReader:
    """Turns JSON Schema nodes back into annotations, resolving ``$defs`` references."""

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self.definitions = definitions
        self.models: dict[str, Any] = {}

    def model(self, name: str, scheme: Mapping[str, Any]) -> type[BaseModel]:
        required = set(scheme.get("required") or ())
        fields = []
        for parameter, node in (scheme.get("properties") or {}).items():
            annotation = self.annotation(node)
            if parameter in required:
                default = REQUIRED
            else:
                default = _from_json(
                    annotation, node.get("default") if isinstance(node, Mapping) else None
                )
            fields.append((parameter, annotation, default))
        # Our models always say; a nested model of the user's may not: then accept extra keys.
        extra = scheme.get("additionalProperties", True) not in (False, None)
        return _build_model(name, fields, extra, scheme.get("description"))

    def annotation(self, node: Any) -> Any:
        if not isinstance(node, Mapping):
            return Any
        base = self._base(node)
        constraints = {
            _CONSTRAINTS[key]: value for key, value in node.items() if key in _CONSTRAINTS
        }
        if constraints and base is not Any:
            return Annotated[base, Field(**constraints)]
        return base

    def _base(self, node: Mapping[str, Any]) -> Any:
        if "$ref" in node:
            return self._reference(str(node["$ref"]))
        if "const" in node:
            return Literal[node["const"]]
        if node.get("enum"):
            return Literal[tuple(node["enum"])]
        for key in ("anyOf", "oneOf"):
            if key in node:
                return _union(self.annotation(member) for member in node[key])
        if len(node.get("allOf") or ()) == 1:
            return self.annotation(node["allOf"][0])
        kind = node.get("type")
        if isinstance(kind, list):
            return _union(self._base({**node, "type": member}) for member in kind)
        if kind == "string":
            return _FORMATS.get(str(node.get("format")), str)
        if kind == "array":
            return self._array(node)
        if kind == "object":
            return self._object(node)
        return _TYPES.get(str(kind), Any)

    def _array(self, node: Mapping[str, Any]) -> Any:
        if "prefixItems" in node:
            members = tuple(self.annotation(item) for item in node["prefixItems"])
            return tuple[members] if members else tuple[()]  # type: ignore[valid-type]
        item = self.annotation(node.get("items", {}))
        return set[item] if node.get("uniqueItems") else list[item]  # type: ignore[valid-type]

    def _object(self, node: Mapping[str, Any]) -> Any:
        if node.get("properties"):
            return self.model(str(node.get("title") or "Nested"), node)
        value = self.annotation(node.get("additionalProperties", {}))
        return dict[str, value]  # type: ignore[valid-type]

    def _reference(self, ref: str) -> Any:
        key = ref.rpartition("/")[2]
        if key in self.models:
            # None while it is being built: a self-referencing type accepts its JSON form.
            return self.models[key] or dict[str, Any]
        node = self.definitions.get(key)
        if node is None:
            return Any
        self.models[key] = None
        self.models[key] = built = self.annotation(node)
        return built


def _from_json(annotation: Any, default: Any) -> Any:
    """Return a default as JSON stored it, turned back into its type where it fits (a tuple
    is stored as a list); a default that does not fit its annotation is kept as written."""
    try:
        return pydantic.TypeAdapter(annotation).validate_python(default)
    except Exception:  # pydantic raises several types; the default stays as stored
        return default


def _union(members: Iterable[Any]) -> Any:
    unique = list(dict.fromkeys(members))
    if any(member is Any for member in unique):
        return Any
    return unique[0] if len(unique) == 1 else Union[tuple(unique)]  # noqa: UP007 - built at run time


@functools.cache
def _lenient_generator() -> type[Any]:
    """The JSON Schema generator of :func:`scheme_json`, defined once (pydantic sets up each
    generator class on first use, so a class per call cost ~100 us)."""
    from pydantic.json_schema import GenerateJsonSchema

    class Lenient(GenerateJsonSchema):
        def handle_invalid_for_json_schema(self, schema: Any, error_info: str) -> dict[str, Any]:
            return {"description": error_info}

    return Lenient


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


def scheme_json_of(
    name: str, obj: Callable[..., Any], signature: inspect.Signature | None = None
) -> dict[str, Any] | None:
    """Return ``scheme_json(extract_model(name, obj))``, or ``None`` when there is no scheme.

    The common case (every annotation renders without ``$defs``, every default is a plain JSON
    value) is assembled from per-annotation pieces that pydantic rendered once, without
    building a model per call (a model costs ~0.4 ms and ~10 KiB); anything else takes the
    model path, so the result is the same either way. ``signature`` is
    ``inspect.signature(obj)`` when the caller has read it already.
    """
    try:
        assembled = _assembled_scheme(name, obj, signature)
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


def _assembled_scheme(
    name: str, obj: Callable[..., Any], signature: inspect.Signature | None = None
) -> dict[str, Any] | None:
    shape, allows_extra = _shape(obj, signature)
    fields = _shape_fields(shape)
    if fields is None:
        return None
    properties, required = fields
    schema: dict[str, Any] = {
        "additionalProperties": allows_extra,
        # The cached fields are shared: hand out copies.
        "properties": {parameter: dict(field) for parameter, field in properties.items()},
        "title": f"{name}Config",
        "type": "object",
    }
    if required:
        schema["required"] = list(required)
    doc = inspect.getdoc(obj)
    if doc:
        schema["description"] = doc
    return dict(sorted(schema.items()))


def scheme_text_of(
    name: str, obj: Callable[..., Any], signature: inspect.Signature | None = None
) -> str | None:
    """Return ``json.dumps(scheme_json_of(name, obj))`` (``None``: no scheme).

    The common case is assembled from JSON text cached per parameter shape, without building
    the dict first: a batch of thousands of registrations pays a few microseconds per artifact
    for its scheme instead of a dict copy and a ``json.dumps`` each.
    """
    return scheme_text_from(name, obj, signature, scheme_body(obj, signature), inspect.getdoc(obj))


#: ``"properties": ..., "required": ..., `` of a scheme as JSON text, and whether it allows
#: extra keys: what :func:`scheme_body` returns.
SchemeBody = tuple[str, bool]


def scheme_body(
    obj: Callable[..., Any], signature: inspect.Signature | None = None
) -> SchemeBody | None:
    """The part of :func:`scheme_text_of` that the parameters alone decide (``None``: the dict
    path decides). Artifacts with equal parameters, defaults and annotations share it."""
    try:
        shape, allows_extra = _shape(obj, signature)
        body = _shape_text(shape)
    except Exception:  # whatever surprised the shortcut, the dict path decides
        return None
    return None if body is None else (body, allows_extra)


def scheme_text_from(
    name: str,
    obj: Callable[..., Any],
    signature: inspect.Signature | None,
    body: SchemeBody | None,
    doc: str | None,
) -> str | None:
    """:func:`scheme_text_of`, given ``scheme_body(obj, signature)`` and
    ``inspect.getdoc(obj)`` (a caller that has them already does not read them again)."""
    if body is None:
        scheme = scheme_json_of(name, obj, signature)
        return None if scheme is None else json.dumps(scheme)
    fields, allows_extra = body
    # json.dumps of a dict with sorted keys, spelled out: the keys sort in this order.
    return "".join(
        (
            '{"additionalProperties": ',
            "true" if allows_extra else "false",
            f', "description": {json.dumps(doc)}, ' if doc else ", ",
            fields,
            f'"title": {json.dumps(f"{name}Config")}, "type": "object"}}',
        )
    )


def _shape(
    obj: Callable[..., Any], signature: inspect.Signature | None
) -> tuple[tuple[tuple[str, Any, Any], ...], bool]:
    """The ``(name, default key, annotation)`` of each scheme field, and whether extra keys
    are allowed."""
    parameters, allows_extra = _parameters(obj, signature)
    shape = tuple((param.name, default_key(param.default), hint) for param, hint in parameters)
    return shape, allows_extra


def _shape_fields(
    shape: tuple[tuple[str, Any, Any], ...],
) -> tuple[dict[str, dict[str, Any]], tuple[str, ...]] | None:
    try:
        return _cached_fields(shape)  # many artifacts share their parameters
    except TypeError:  # an unhashable annotation or default
        return _fields(shape)


def _fields_text(shape: tuple[tuple[str, Any, Any], ...]) -> str | None:
    """``"properties": {...}, "required": [...], `` of a scheme as JSON text (``None``: the
    model path decides)."""
    fields = _shape_fields(shape)
    if fields is None:
        return None
    properties, required = fields
    text = f'"properties": {json.dumps(properties)}, '
    return text + f'"required": {json.dumps(list(required))}, ' if required else text


_cached_fields_text = functools.lru_cache(maxsize=4096)(_fields_text)


def _shape_text(shape: tuple[tuple[str, Any, Any], ...]) -> str | None:
    try:
        return _cached_fields_text(shape)
    except TypeError:  # an unhashable annotation or default
        return _fields_text(shape)


def default_key(default: Any) -> Any:
    """A default as part of a cache key: ``1``, ``True`` and ``1.0`` are equal in Python, and so
    are ``0.0`` and ``-0.0``, but JSON renders each differently. ``(object, None)``: not a plain
    JSON value (it cannot be part of a key)."""
    if default is inspect.Parameter.empty:
        return default
    if type(default) is float:
        return (float, default.hex())
    if type(default) in _JSON_PLAIN:
        return (type(default), default)
    return (object, None)  # not plain JSON: the model path decides


def _fields(
    shape: tuple[tuple[str, Any, Any], ...],
) -> tuple[dict[str, dict[str, Any]], tuple[str, ...]] | None:
    """The ``properties`` and ``required`` of a scheme whose parameters are ``shape``
    (``(name, default key, annotation)`` each); ``None`` when the model path must decide."""
    properties: dict[str, dict[str, Any]] = {}
    required: list[str] = []
    for parameter, default_key, annotation in shape:
        if _reserved(parameter):
            return None  # an aliased field: the model path names it
        piece = _fragment(annotation)
        if piece is None:
            return None
        fragment, titled = piece
        field = dict(fragment)
        if titled:
            field["title"] = _field_title(parameter)
        if default_key is inspect.Parameter.empty:
            required.append(parameter)
        else:
            kind, value = default_key
            if kind is float:
                value = float.fromhex(value)
                if not math.isfinite(value):
                    return None
            elif kind not in _JSON_PLAIN:
                return None
            field["default"] = value
        properties[parameter] = dict(sorted(field.items()))
    return properties, tuple(required)


_cached_fields = functools.lru_cache(maxsize=4096)(_fields)


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
        "Probe", __config__=ConfigDict(arbitrary_types_allowed=True), field=(annotation, REQUIRED)
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
    if isinstance(config, BaseModel):  # another model's instance (a stored scheme's): plain data
        config = config.model_dump(by_alias=True)
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
    values = config_values(config)
    args: list[Any] = []
    for name, param in sig.parameters.items():
        if param.kind is param.POSITIONAL_ONLY:
            args.append(values.pop(name))
    return obj(*args, **values)
