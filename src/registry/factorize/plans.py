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

import inspect
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pydantic
from pydantic import BaseModel, ConfigDict
from typing_extensions import NotRequired, Required, TypedDict

from registry import schemes
from registry.errors import ValidationError
from registry.factorize.hints import EVERY_TYPE, Hint, direct_types, hint_for

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
    # One loop per list, not a comprehension per field: a first build compiles a plan for
    # each artifact it meets, and most of a plan's cost was its own bookkeeping.
    fields: dict[str, Hint] = {}
    annotations: dict[str, Any] = {}
    required: set[str] = set()
    as_written = True
    for param, annotation in given:
        name = param.name
        hint = fields[name] = hint_for(annotation)
        annotations[name] = annotation
        if param.default is _EMPTY:
            required.add(name)
        as_written = as_written and hint.as_written and not schemes._reserved(name)
    if as_written:
        direct = {name: hint.direct for name, hint in fields.items() if hint.direct is not None}
    else:
        # Keyed by parameter name: a field pydantic reserves the name of has it as its alias.
        infos = {info.alias or name: info for name, info in scheme().model_fields.items()}
        annotations = {name: info.rebuild_annotation() for name, info in infos.items()}
        fields = {name: hint_for(info.annotation) for name, info in infos.items()}
        direct = {}
        for name, annotation in annotations.items():
            classes = direct_types(annotation)
            if classes is not None:
                direct[name] = classes
        required = {name for name, info in infos.items() if info.is_required()}
    positional: list[str] = []
    positional_only: list[str] = []
    defaults: dict[str, Any] = {}
    var_args = None
    for param in parameters:
        kind = param.kind
        if kind is _KIND.POSITIONAL_OR_KEYWORD:
            positional.append(param.name)
        elif kind is _KIND.POSITIONAL_ONLY:
            positional.append(param.name)
            positional_only.append(param.name)
        elif kind is _KIND.VAR_POSITIONAL:
            var_args = hint_for(hints.get(param.name, Any))
        if param.default is not _EMPTY:
            defaults[param.name] = param.default
    return ArtifactPlan(
        label=label,
        artifact=artifact,
        fields=fields,
        annotations=annotations,
        required=frozenset(required),
        positional=tuple(positional),
        positional_only=tuple(positional_only),
        defaults=defaults,
        var_args=var_args,
        accepts_extra=accepts_extra,
        produces=artifact if inspect.isclass(artifact) else hints.get("return"),
        direct=direct,
    )


class Parameter(NamedTuple):
    """A parameter as :func:`parameters_of` reads it (the fields of ``inspect.Parameter``)."""

    name: str
    kind: inspect._ParameterKind
    default: Any
    annotation: Any


_EMPTY = inspect.Parameter.empty
_KIND = inspect.Parameter
#: What ``inspect`` reads a class's signature from besides ``__init__`` (``object``, the last
#: class of every MRO, defines none of them).
_CLASS_SIGNATURE_HOOKS = frozenset({*schemes.SIGNATURE_HOOKS, "__code__"})


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
            not _CLASS_SIGNATURE_HOOKS.isdisjoint(vars(base)) for base in klass.__mro__[:-1]
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
    positional_only = code.co_posonlyargcount
    keyword_only = code.co_kwonlyargcount
    flags = code.co_flags
    annotations = function.__annotations__
    defaults = function.__defaults__ or ()
    kinds: list[inspect._ParameterKind] = [_KIND.POSITIONAL_ONLY] * positional_only
    kinds += [_KIND.POSITIONAL_OR_KEYWORD] * (count - positional_only)
    padded = (_EMPTY,) * (count - len(defaults)) + defaults
    parameters = [
        Parameter(name, kind, default, annotations.get(name, _EMPTY))
        for name, kind, default in zip(names[:count], kinds, padded, strict=True)
    ]
    after = count + keyword_only
    if flags & inspect.CO_VARARGS:
        name = names[after]
        parameters.append(
            Parameter(name, _KIND.VAR_POSITIONAL, _EMPTY, annotations.get(name, _EMPTY))
        )
        after += 1
    if keyword_only:
        keyword_defaults = function.__kwdefaults__ or {}
        parameters += [
            Parameter(
                name,
                _KIND.KEYWORD_ONLY,
                keyword_defaults.get(name, _EMPTY),
                annotations.get(name, _EMPTY),
            )
            for name in names[count : count + keyword_only]
        ]
    if flags & inspect.CO_VARKEYWORDS:
        name = names[after]
        parameters.append(Parameter(name, _KIND.VAR_KEYWORD, _EMPTY, annotations.get(name, _EMPTY)))
    return parameters


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
