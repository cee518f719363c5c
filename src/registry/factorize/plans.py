"""Per-artifact factorization plans: what the builder needs to know about one artifact
(parameter hints, positional parameters, what it builds) and the validators of its literal
values for each config shape, all derived once.

A plan's fields are those of the artifact's pydantic scheme. When every annotation is one that
pydantic models as written (scalars, containers of them, plain classes), they are read straight
from the signature and the scheme is never built: building it costs more than everything else a
first build does. Scalar values whose annotation is a plain type are then checked directly
(:func:`validate_direct`); pydantic validates the rest, so coercions and messages are its own.

Imports only ``errors``, ``hints`` and ``schemes``.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pydantic
from pydantic import BaseModel, ConfigDict
from typing_extensions import NotRequired, Required, TypedDict

from registry import schemes
from registry.errors import ValidationError
from registry.factorize.hints import EVERY_TYPE, Hint, direct_types, hint_for, is_plain_class

__all__ = [
    "ArtifactPlan",
    "Parameter",
    "compile_plan",
    "parameters_of",
    "plan_for_class",
    "shape_validator",
    "validate_direct",
]

#: A pydantic-core ``SchemaValidator`` (``validate_python(dict) -> dict``).
Validator = Any


@dataclass(eq=False)
class ArtifactPlan:
    """What factorization needs to know about one artifact, worked out once."""

    label: str
    artifact: Callable[..., Any]
    fields: dict[str, Hint]
    annotations: dict[str, Any]
    required: frozenset[str]
    positional: tuple[str, ...]
    positional_only: tuple[str, ...]
    defaults: dict[str, Any]
    var_args: Hint | None
    accepts_extra: bool
    produces: Any
    #: Per field, the classes whose exact instances pass unchanged (see ``hints.direct_types``);
    #: fields missing here are validated by pydantic.
    direct: dict[str, frozenset[type]]
    shapes: dict[tuple[tuple[str, ...], bool], Validator | None] = field(default_factory=dict)


def compile_plan(
    label: str, artifact: Callable[..., Any], scheme: Callable[[], type[BaseModel]]
) -> ArtifactPlan:
    """Work out the :class:`ArtifactPlan` of ``artifact``; ``scheme()`` returns its pydantic
    scheme and is called only when the signature alone cannot tell the fields."""
    try:
        parameters = parameters_of(artifact)
    except (TypeError, ValueError) as exc:
        scheme()  # raises the scheme's own explanation first, as it always has
        raise ValidationError(
            f"Cannot read the signature of {label!r}: {exc}",
            context={"type": label},
        ) from exc
    hints = schemes.resolved_hints(artifact)
    given, accepts_extra = schemes.scheme_parameters(parameters, hints)
    if all(_modelled_as_written(param.name, annotation) for param, annotation in given):
        annotations = {param.name: annotation for param, annotation in given}
        plain = annotations
        required = frozenset(param.name for param, _ in given if param.default is _EMPTY)
    else:
        # Keyed by parameter name: a field pydantic reserves the name of has it as its alias.
        infos = {info.alias or name: info for name, info in scheme().model_fields.items()}
        annotations = {name: info.rebuild_annotation() for name, info in infos.items()}
        plain = {name: info.annotation for name, info in infos.items()}
        required = frozenset(name for name, info in infos.items() if info.is_required())
    kinds = inspect.Parameter
    positional = [
        p for p in parameters if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    var_args = [p for p in parameters if p.kind is kinds.VAR_POSITIONAL]
    direct = {name: direct_types(annotation) for name, annotation in annotations.items()}
    return ArtifactPlan(
        label=label,
        artifact=artifact,
        fields={name: hint_for(annotation) for name, annotation in plain.items()},
        annotations=annotations,
        required=required,
        positional=tuple(p.name for p in positional),
        positional_only=tuple(p.name for p in positional if p.kind is kinds.POSITIONAL_ONLY),
        defaults={p.name: p.default for p in parameters if p.default is not _EMPTY},
        var_args=hint_for(hints.get(var_args[0].name, Any)) if var_args else None,
        accepts_extra=accepts_extra,
        produces=artifact if inspect.isclass(artifact) else hints.get("return"),
        direct={name: classes for name, classes in direct.items() if classes is not None},
    )


class Parameter(NamedTuple):
    """A parameter as :func:`parameters_of` reads it (the fields of ``inspect.Parameter``)."""

    name: str
    kind: inspect._ParameterKind
    default: Any
    annotation: Any


_EMPTY = inspect.Parameter.empty
_KIND = inspect.Parameter


def parameters_of(artifact: Callable[..., Any]) -> list[Parameter] | list[inspect.Parameter]:
    """Return the parameters ``inspect.signature(artifact)`` returns. Those of plain Python
    functions, and of classes made by ``type`` itself whose ``__init__`` is one (with
    ``object.__new__``), are read from the code object as ``inspect`` reads them: building its
    ``Parameter`` and ``Signature`` objects, and ruling out the other ways a class can define
    a signature, was the largest part of a first build. tests/test_fast_paths.py holds the two
    against each other.

    Raises:
        TypeError, ValueError: as ``inspect.signature`` does.
    """
    function: Any = artifact
    bound = False  # a class: without the first parameter, as inspect reads __init__
    if type(artifact) is type:
        klass: Any = artifact
        function, bound = klass.__init__, True
        if klass.__new__ is not object.__new__ or any(
            name in base.__dict__
            for base in klass.__mro__
            for name in (*schemes.SIGNATURE_HOOKS, "__code__")
        ):
            return list(inspect.signature(artifact).parameters.values())
    if not schemes.is_plain_function(function):
        return list(inspect.signature(artifact).parameters.values())
    parameters = _code_parameters(function)
    if bound:
        if not parameters or parameters[0].kind not in (
            _KIND.POSITIONAL_ONLY,
            _KIND.POSITIONAL_OR_KEYWORD,
        ):
            return list(inspect.signature(artifact).parameters.values())
        del parameters[0]
    return parameters


def _code_parameters(function: types.FunctionType) -> list[Parameter]:
    """The parameters of a Python function, in ``inspect``'s order, from its code object."""
    code = function.__code__
    names = code.co_varnames
    count = code.co_argcount
    keyword_only = code.co_kwonlyargcount
    annotations = function.__annotations__
    defaults = function.__defaults__ or ()
    keyword_defaults = function.__kwdefaults__ or {}
    first_default = count - len(defaults)
    parameters = [
        Parameter(
            name,
            _KIND.POSITIONAL_ONLY
            if index < code.co_posonlyargcount
            else _KIND.POSITIONAL_OR_KEYWORD,
            defaults[index - first_default] if index >= first_default else _EMPTY,
            annotations.get(name, _EMPTY),
        )
        for index, name in enumerate(names[:count])
    ]
    after = count + keyword_only
    if code.co_flags & inspect.CO_VARARGS:
        name = names[after]
        parameters.append(
            Parameter(name, _KIND.VAR_POSITIONAL, _EMPTY, annotations.get(name, _EMPTY))
        )
        after += 1
    parameters += [
        Parameter(
            name,
            _KIND.KEYWORD_ONLY,
            keyword_defaults.get(name, _EMPTY),
            annotations.get(name, _EMPTY),
        )
        for name in names[count : count + keyword_only]
    ]
    if code.co_flags & inspect.CO_VARKEYWORDS:
        name = names[after]
        parameters.append(Parameter(name, _KIND.VAR_KEYWORD, _EMPTY, annotations.get(name, _EMPTY)))
    return parameters


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


def _modelled_as_written(name: str, annotation: Any) -> bool:
    """Return whether pydantic's scheme would hold ``name: annotation`` exactly as written:
    the name is allowed as a field and the annotation needs no schema of its own (no
    ``Annotated`` metadata, no models, dataclasses or hooks that could reject or reshape it).
    When unsure, say no: the scheme is then built and is the authority."""
    if schemes._reserved(name):  # the scheme holds it under an alias
        return False
    return _plain_annotation(annotation)


def _plain_annotation(annotation: Any) -> bool:
    try:
        if annotation in _SIMPLE or annotation in _GENERIC_CONTAINERS:
            return True
    except TypeError:  # unhashable metadata somewhere inside
        return False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) or origin in _GENERIC_CONTAINERS:
        return all(arg is Ellipsis or _plain_annotation(arg) for arg in typing.get_args(annotation))
    return origin is None and is_plain_class(annotation)


_CLASS_PLANS: dict[type, ArtifactPlan] = {}


def plan_for_class(klass: type) -> ArtifactPlan:
    """Return the plan for building a parameter's annotation class from a plain mapping.

    The class was chosen by the code's author (it is the annotation), not by the config, so
    building it needs no registration.
    """
    plan = _CLASS_PLANS.get(klass)
    if plan is None:
        plan = _CLASS_PLANS[klass] = compile_plan(
            klass.__qualname__, klass, lambda: schemes.extract_model(klass.__name__, klass)
        )
    return plan


def validate_direct(
    plan: ArtifactPlan, literals: Mapping[str, Any], nested: Mapping[str, Any], partial: bool
) -> dict[str, Any] | None:
    """Return ``literals`` as the shape validator would (declared fields in order, then the
    extra ones) when every value passes its direct check and nothing required is missing;
    ``None`` when pydantic has to decide."""
    direct = plan.direct
    for name, value in literals.items():
        classes = direct.get(name, EVERY_TYPE if name not in plan.annotations else None)
        if classes is None or value.__class__ not in classes:
            return None
    if not partial:
        for name in plan.required:
            if name not in literals and name not in nested:
                return None
    values = {name: literals[name] for name in plan.annotations if name in literals}
    if len(values) < len(literals):
        values.update((name, value) for name, value in literals.items() if name not in values)
    return values


def shape_validator(plan: ArtifactPlan, nested: tuple[str, ...], partial: bool) -> Validator | None:
    """Return the validator of the literal fields when the ``nested`` fields hold artifacts
    (``None`` when there is nothing to validate). With ``partial`` every field is optional."""
    key = (nested, partial)
    try:
        return plan.shapes[key]
    except KeyError:
        pass
    fields: dict[str, Any] = {}
    for name, annotation in plan.annotations.items():
        if name not in nested:
            required = name in plan.required and not partial
            fields[name] = Required[annotation] if required else NotRequired[annotation]
    validator = None
    if fields or plan.accepts_extra:
        make_typed_dict: Any = TypedDict  # a TypedDict whose fields are only known at run time
        shape = make_typed_dict(f"{plan.label}Config", fields)
        shape.__pydantic_config__ = ConfigDict(
            arbitrary_types_allowed=True, extra="allow" if plan.accepts_extra else "forbid"
        )
        try:
            validator = pydantic.TypeAdapter(shape).validator
        except Exception as exc:  # pydantic raises several types for unsupported annotations
            raise ValidationError(
                f"Cannot build a validator for {plan.label!r}: {exc}", context={"type": plan.label}
            ) from exc
    plan.shapes[key] = validator
    return validator
