"""Build object graphs from nested configs, all validated before anything is called.

A config is a mapping of parameter values. A nested mapping carrying ``_type`` names a
registered artifact; the name is resolved by an :class:`ArtifactLookup` the caller hands in,
so this module never imports anything by path (``_type: "os.system"`` is just an unknown name)
and never imports ``registries``. Building has two phases:

1. *compile*: walk the whole tree, resolve every ``_type``, validate and coerce every literal
   value with the artifact's scheme, and check that each nested artifact fits the parameter it
   is given to. Nothing is called, so a bad leaf leaves no half-built objects behind.
2. *build*: call the artifacts depth-first with the validated values.

What can be worked out once per artifact (signature, validators derived from its scheme per
config shape, parameter hints) is kept in an :class:`ArtifactPlan`, cached by the lookup and
rebuilt when the name resolves to another object (re-registration). Objects built here are
remembered weakly, so :func:`to_config` can turn them back into configs (see
``registry.configs``). Directives: ``_type``, ``_args_`` (positional values) and
``_partial_`` (return a ``functools.partial`` instead of calling).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pydantic
from pydantic import BaseModel, ConfigDict
from typing_extensions import NotRequired, Required, TypedDict

from registry import provenance, schemes
from registry.errors import ValidationError, closest_names, did_you_mean
from registry.hints import ANY_HINT, Hint, hint_for

__all__ = [
    "ARGS_KEY",
    "PARTIAL_KEY",
    "TYPE_KEY",
    "ArtifactLookup",
    "ArtifactPlan",
    "compile_plan",
    "factorize",
    "plan_for_class",
]

TYPE_KEY = "_type"
ARGS_KEY = "_args_"
PARTIAL_KEY = "_partial_"
_DIRECTIVES = frozenset({TYPE_KEY, ARGS_KEY, PARTIAL_KEY})
_UNSUPPORTED = {
    "_target_": "_target_ is an import path; name a registered artifact with _type instead",
    "_lazy_": "Use _partial_: true to get a callable that builds later",
    "_recursive_": "Nested _type mappings are always built; there is nothing to switch off",
    "_convert_": "Values are converted by the artifact's scheme; there is nothing to choose",
}
_ATOMIC = frozenset({str, int, float, bool, type(None), bytes})
_PARTIAL_TYPE: Any = functools.partial
_Validator = Any  # pydantic-core SchemaValidator; its stubs are not worth the import here


class ArtifactLookup(Protocol):
    """Resolves ``_type`` names for :func:`factorize` and owns its plan cache."""

    plans: dict[str, ArtifactPlan]

    def artifact(self, type_name: str) -> Callable[..., Any]:
        """Return the artifact ``type_name`` names; raise ValidationError if none."""

    def describe(self, type_name: str) -> tuple[str, type[BaseModel]]:
        """Return the qualified label (``Registry:name``) and the scheme of ``type_name``."""


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
    shapes: dict[tuple[tuple[str, ...], bool], _Validator | None] = field(default_factory=dict)


def compile_plan(label: str, artifact: Callable[..., Any], model: type[BaseModel]) -> ArtifactPlan:
    """Work out the :class:`ArtifactPlan` of ``artifact`` from its scheme ``model``."""
    try:
        parameters = list(inspect.signature(artifact).parameters.values())
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"Cannot read the signature of {label!r}: {exc}",
            context={"type": label},
        ) from exc
    hints = schemes.resolved_hints(artifact)
    kinds = inspect.Parameter
    positional = [
        p for p in parameters if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    var_args = [p for p in parameters if p.kind is kinds.VAR_POSITIONAL]
    infos = model.model_fields
    return ArtifactPlan(
        label=label,
        artifact=artifact,
        fields={name: hint_for(info.annotation) for name, info in infos.items()},
        annotations={name: info.rebuild_annotation() for name, info in infos.items()},
        required=frozenset(name for name, info in infos.items() if info.is_required()),
        positional=tuple(p.name for p in positional),
        positional_only=tuple(p.name for p in positional if p.kind is kinds.POSITIONAL_ONLY),
        defaults={p.name: p.default for p in parameters if p.default is not p.empty},
        var_args=hint_for(hints.get(var_args[0].name, Any)) if var_args else None,
        accepts_extra=model.model_config.get("extra") == "allow",
        produces=artifact if inspect.isclass(artifact) else hints.get("return"),
    )


_CLASS_PLANS: dict[type, ArtifactPlan] = {}


def plan_for_class(klass: type) -> ArtifactPlan:
    """Return the plan for building a parameter's annotation class from a plain mapping.

    The class was chosen by the code's author (it is the annotation), not by the config, so
    building it needs no registration.
    """
    plan = _CLASS_PLANS.get(klass)
    if plan is None:
        model = schemes.extract_model(klass.__name__, klass)
        plan = _CLASS_PLANS[klass] = compile_plan(klass.__qualname__, klass, model)
    return plan


def _shape_validator(
    plan: ArtifactPlan, nested: tuple[str, ...], partial: bool
) -> _Validator | None:
    """Return the validator of the literal fields when ``nested`` fields hold artifacts."""
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


# --------------------------------------------------------------------------- compiled steps


class _Step:
    """A part of the config that contains artifacts to build."""

    __slots__ = ()

    def build(self) -> Any:
        raise NotImplementedError


def _built(value: Any) -> Any:
    return value.build() if isinstance(value, _Step) else value


class _Sequence(_Step):
    __slots__ = ("items", "kind")

    def __init__(self, kind: type, items: list[Any]) -> None:
        self.kind = kind
        self.items = items

    def build(self) -> Any:
        built = [_built(item) for item in self.items]
        return built if self.kind is list else self.kind(built)


class _Mapping(_Step):
    __slots__ = ("items",)

    def __init__(self, items: dict[Any, Any]) -> None:
        self.items = items

    def build(self) -> Any:
        return {key: _built(value) for key, value in self.items.items()}


class _Node(_Step):
    """One artifact call: validated literal values plus nested steps."""

    __slots__ = ("annotated", "check", "extra_args", "nested", "partial", "path", "plan", "values")

    def __init__(self, plan: ArtifactPlan, path: str, annotated: bool) -> None:
        self.plan = plan
        self.path = path
        self.annotated = annotated
        self.values: dict[str, Any] = {}
        self.nested: dict[str, _Step] | None = None
        self.extra_args: list[Any] | None = None
        self.partial = False
        self.check: Hint | None = None

    def build(self) -> Any:
        kwargs = self.values
        if self.nested is not None:
            kwargs = dict(kwargs)
            for name, step in self.nested.items():
                kwargs[name] = step.build()
        args = None
        if self.extra_args is not None or self.plan.positional_only:
            args = self._positional(kwargs)
        obj = self._call(args, kwargs)
        if self.check is not None:
            self.check.verify(obj, self.path, self.plan.label)
        provenance.remember(obj, self, kwargs, args)
        return obj

    def _positional(self, kwargs: dict[str, Any]) -> list[Any]:
        """Move the values that must be passed positionally out of ``kwargs``."""
        plan = self.plan
        names = plan.positional if self.extra_args is not None else plan.positional_only
        given = [i for i, name in enumerate(names) if name in kwargs]
        args = [
            kwargs.pop(name) if name in kwargs else plan.defaults[name]
            for name in names[: given[-1] + 1 if given else 0]
        ]
        return args + [_built(item) for item in self.extra_args or ()]

    def _call(self, args: list[Any] | None, kwargs: dict[str, Any]) -> Any:
        artifact = self.plan.artifact
        try:
            if self.partial:
                return functools.partial(artifact, *(args or ()), **kwargs)
            return artifact(*args, **kwargs) if args else artifact(**kwargs)
        except ValidationError:
            raise
        except Exception as exc:
            where = f" at {self.path!r}" if self.path else ""
            raise ValidationError(
                f"Building {self.plan.label!r}{where} raised {type(exc).__name__}: {exc}",
                suggestions=["The config was valid; the artifact itself failed. See the cause."],
                context={"type": self.plan.label, "path": self.path, "cause": repr(exc)},
            ) from exc


# --------------------------------------------------------------------------- compilation


def factorize(lookup: ArtifactLookup, type_name: str, config: Mapping[str, Any]) -> Any:
    """Validate the whole ``config`` tree for the artifact ``type_name``, then build it.

    Raises:
        ValidationError: anywhere in the tree (nothing has been called then), or an artifact
            raised while building (the cause is chained).
    """
    root_type = config.get(TYPE_KEY, type_name)
    if root_type != type_name:
        raise ValidationError(
            f"The config names _type {root_type!r} but {type_name!r} was asked for",
            suggestions=["Drop _type from the top level, or ask for the artifact it names"],
            context={"type": type_name, "path": TYPE_KEY},
        )
    plan = _resolve(lookup, type_name, "")
    return _compile_node(lookup, config, plan, "", annotated=False).build()


def _resolve(lookup: ArtifactLookup, type_name: object, path: str) -> ArtifactPlan:
    if type_name.__class__ is not str:
        raise ValidationError(
            f"_type at {path or '<root>'!r} must be a registered name, got {type_name!r}",
            suggestions=["Write _type: name or _type: 'Registry:name'"],
            context={"path": _join(path, TYPE_KEY), "type": repr(type_name)},
        )
    name: str = type_name
    try:
        artifact = lookup.artifact(name)
        plan = lookup.plans.get(name)
        if plan is None or plan.artifact is not artifact:
            label, model = lookup.describe(name)
            plan = lookup.plans[name] = compile_plan(label, artifact, model)
    except ValidationError as error:
        where = f" (at {path!r})" if path else ""
        raise type(error)(
            error.message + where,
            suggestions=error.suggestions,
            context={**error.context, "type": name, "path": _join(path, TYPE_KEY) if path else ""},
        ) from None
    return plan


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _compile_node(
    lookup: ArtifactLookup,
    config: Mapping[Any, Any],
    plan: ArtifactPlan,
    path: str,
    annotated: bool,
) -> _Node:
    node = _Node(plan, path, annotated)
    literals: dict[str, Any] = {}
    nested: dict[str, _Step] = {}
    fields = plan.fields
    for key, value in config.items():
        hint = fields.get(key)
        if hint is None:
            if key in _DIRECTIVES:
                _directive(lookup, node, key, value, literals=literals, nested=nested)
                continue
            hint = _unknown_key(plan, key, path)
        if value.__class__ in _ATOMIC:
            literals[key] = value
            continue
        compiled = _compile_value(lookup, value, hint, _join(path, key), plan.label)
        if isinstance(compiled, _Step):
            nested[key] = compiled
        else:
            literals[key] = value
    _validate_literals(node, literals, nested)
    return node


def _unknown_key(plan: ArtifactPlan, key: object, path: str) -> Hint:
    if plan.accepts_extra and isinstance(key, str) and key not in _UNSUPPORTED:
        return ANY_HINT
    where = _join(path, key)
    if key in _UNSUPPORTED:
        hints = [_UNSUPPORTED[key]]
        message = f"{key!r} at {where!r} is not supported"
    else:
        close = closest_names(str(key), list(plan.fields))
        hints = [did_you_mean(close)] if close else [f"Parameters: {', '.join(plan.fields)}"]
        message = f"{plan.label!r} has no parameter {key!r} (at {where!r})"
    raise ValidationError(
        message, suggestions=hints, context={"type": plan.label, "path": where, "key": repr(key)}
    )


def _directive(
    lookup: ArtifactLookup,
    node: _Node,
    key: str,
    value: Any,
    *,
    literals: dict[str, Any],
    nested: dict[str, _Step],
) -> None:
    if key == TYPE_KEY:
        return  # already resolved by the caller
    path = _join(node.path, key)
    if key == PARTIAL_KEY:
        if value.__class__ is not bool:
            raise ValidationError(
                f"_partial_ at {path!r} must be true or false, got {value!r}",
                context={"type": node.plan.label, "path": path},
            )
        node.partial = value
        return
    _positional_values(lookup, node, value, literals, nested)


def _positional_values(
    lookup: ArtifactLookup,
    node: _Node,
    values: Any,
    literals: dict[str, Any],
    nested: dict[str, _Step],
) -> None:
    """Spread ``_args_`` over the positional parameters (extra ones go to ``*args``)."""
    plan = node.plan
    path = _join(node.path, ARGS_KEY)
    if values.__class__ not in (list, tuple):
        raise ValidationError(
            f"_args_ at {path!r} must be a list, got {type(values).__name__}",
            context={"type": plan.label, "path": path},
        )
    if len(values) > len(plan.positional) and plan.var_args is None:
        raise ValidationError(
            f"{plan.label!r} takes {len(plan.positional)} positional values, _args_ at {path!r} has {len(values)}",
            context={"type": plan.label, "path": path},
        )
    for index, value in enumerate(values):
        item_path = _join(path, index)
        if index >= len(plan.positional):
            assert plan.var_args is not None
            extra = _compile_value(lookup, value, plan.var_args, item_path, plan.label)
            if not isinstance(extra, _Step):
                extra = plan.var_args.verify(value, item_path, plan.label)
            node.extra_args = [*(node.extra_args or ()), extra]
            continue
        name = plan.positional[index]
        if name in literals or name in nested:
            raise ValidationError(
                f"{plan.label!r} got {name!r} twice: in _args_ and by name (at {item_path!r})",
                context={"type": plan.label, "path": item_path},
            )
        compiled = _compile_value(lookup, value, plan.fields[name], item_path, plan.label)
        if isinstance(compiled, _Step):
            nested[name] = compiled
        else:
            literals[name] = value


def _validate_literals(node: _Node, literals: dict[str, Any], nested: dict[str, _Step]) -> None:
    plan = node.plan
    names = tuple(nested)
    validator = _shape_validator(plan, names, node.partial)
    if names:
        node.nested = nested
    if validator is None:
        return
    try:
        node.values = validator.validate_python(literals)
    except pydantic.ValidationError as error:
        raise _invalid(plan.label, error, node.path) from None
    except Exception as exc:  # a user validator raising something pydantic does not wrap
        raise ValidationError(
            f"Invalid config for {plan.label!r} at {node.path or '<root>'!r}: {exc}",
            context={"type": plan.label, "path": node.path},
        ) from exc


def _invalid(label: str, error: pydantic.ValidationError, path: str) -> ValidationError:
    translated = schemes.validation_error(label, error, path=path)
    problems = translated.context.get("errors", [])
    full_path = problems[0]["field"] if problems else path
    return ValidationError(
        translated.message,
        suggestions=[f"Fix the value at {full_path!r} to match the parameters of {label!r}"],
        context={"type": label, "path": full_path, "node_path": path, "errors": problems},
    )


def _compile_value(lookup: ArtifactLookup, value: Any, hint: Hint, path: str, owner: str) -> Any:
    """Return a :class:`_Step` if ``value`` holds artifacts to build, else ``value`` itself."""
    if value.__class__ in _ATOMIC:
        return value
    if isinstance(value, Mapping):
        if TYPE_KEY in value:
            plan = _resolve(lookup, value[TYPE_KEY], path)
            return _fit(_compile_node(lookup, value, plan, path, False), hint, path, owner)
        if hint.build_class is not None:
            plan = plan_for_class(hint.build_class)
            return _compile_node(lookup, value, plan, path, annotated=True)
        items = {
            k: _compile_value(lookup, v, hint.value, _join(path, k), owner)
            for k, v in value.items()
        }
        if not any(isinstance(item, _Step) for item in items.values()):
            return value
        hint.expect_container(dict, path, owner)
        return _Mapping(items)
    if value.__class__ in (list, tuple):
        items_list = [
            _compile_value(lookup, v, hint.item, _join(path, i), owner) for i, v in enumerate(value)
        ]
        if not any(isinstance(item, _Step) for item in items_list):
            return value
        return _Sequence(hint.expect_container(list, path, owner), items_list)
    return value


def _fit(node: _Node, hint: Hint, path: str, owner: str) -> _Node:
    """Check before anything runs that what ``node`` builds may be given where it stands."""
    produces = _PARTIAL_TYPE if node.partial else node.plan.produces
    if hint.is_any:
        return node
    if produces is None:
        node.check = hint  # a function without a return annotation: check what it returns
        return node
    if not hint.accepts_type(produces):
        raise ValidationError(
            f"{node.plan.label!r} at {path!r} builds {getattr(produces, '__qualname__', produces)}, "
            f"but {owner!r} expects {hint.describe()} there",
            suggestions=["Name an artifact that builds the expected type in _type"],
            context={"type": node.plan.label, "path": path, "expected": hint.describe()},
        )
    return node
