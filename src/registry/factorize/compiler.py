"""Build object graphs from nested configs, all validated before anything is called.

A config is a mapping of parameter values. A nested mapping carrying ``_type`` names a
registered artifact; the name is resolved by an :class:`ArtifactLookup` the caller hands in,
so this module never imports anything by path (``_type: "os.system"`` is just an unknown name)
and never imports ``registries``. Building has two phases:

1. *compile*: walk the whole tree, resolve every ``_type``, validate and coerce every literal
   value with the artifact's scheme, and check that each nested artifact fits the parameter it
   is given to. Nothing is called, so a bad leaf leaves no half-built objects behind.
2. *build*: call the artifacts depth-first with the validated values.

Per-artifact work is cached in :class:`~registry.factorize.plans.ArtifactPlan` objects. Configs are not
cached by value: the second time a config *shape* is compiled for a root name (its keys,
``_type`` names and containers, whatever its scalar values), it gets a generated builder
(:mod:`registry.factorize.shapes`) that later configs of that shape run instead of both phases. No
config is serialised into a key: a shape is summarised only after its config compiled (a walk
no longer than the compile's), and a builder gives up at the first difference from its shape.
Directives: ``_type``, ``_args_`` (positional values), ``_partial_`` (return a
``functools.partial``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import pydantic
from pydantic import BaseModel

from registry import schemes
from registry.errors import ValidationError, closest_names, did_you_mean
from registry.factorize import shapes
from registry.factorize.config_bounds import check_config
from registry.factorize.hints import ANY_HINT, Hint
from registry.factorize.plans import (
    ArtifactPlan,
    compile_plan,
    plan_for_class,
    shape_validator,
    validate_direct,
)
from registry.factorize.shapes import MISMATCH, ShapeBuilder
from registry.factorize.steps import ATOMIC, MappingStep, Node, SequenceStep, Step

__all__ = [
    "ARGS_KEY",
    "PARTIAL_KEY",
    "TYPE_KEY",
    "ArtifactLookup",
    "build_new",
    "build_tree",
    "factorize",
]

TYPE_KEY = "_type"
ARGS_KEY = "_args_"
PARTIAL_KEY = "_partial_"
_UNSUPPORTED = {
    "_target_": "_target_ is an import path; name a registered artifact with _type instead",
    "_lazy_": "Use _partial_: true to get a callable that builds later",
    "_recursive_": "Nested _type mappings are always built; there is nothing to switch off",
    "_convert_": "Values are converted by the artifact's scheme; there is nothing to choose",
}
#: Generated builders kept per root name (the last used first), shapes remembered until seen
#: again, and the size of the largest shape that gets a builder.
_MAX_BUILDERS = 8
_MAX_SHAPES_SEEN = 1024
_MAX_SHAPE_PARTS = 1000


class ArtifactLookup(Protocol):
    """Resolves ``_type`` names for :func:`factorize` and owns its caches."""

    plans: dict[str, ArtifactPlan]
    #: Generated builders per root name, the last used first (:mod:`registry.factorize.shapes`).
    builders: dict[str, tuple[ShapeBuilder, ...]]
    #: Shapes compiled once, by ``(root name, shape)``; the second time gets a builder.
    shapes_seen: set[Any]
    #: The root registry's live artifacts: a hit is what :meth:`artifact` returns.
    artifacts: Mapping[str, Any]

    def artifact(self, type_name: str) -> Callable[..., Any]:
        """Return the artifact ``type_name`` names; raise ValidationError if none."""

    def label(self, type_name: str) -> str:
        """Return the qualified label (``Registry:name``) of ``type_name``."""

    def scheme(self, type_name: str) -> type[BaseModel]:
        """Return the pydantic scheme of ``type_name`` (raising its explanation if it has none)."""


class _Compilation:
    """State of one compile: the lookup and the names resolved, with their plans."""

    __slots__ = ("lookup", "resolved")

    def __init__(self, lookup: ArtifactLookup) -> None:
        self.lookup = lookup
        self.resolved: list[tuple[str, ArtifactPlan]] = []


# --------------------------------------------------------------------------- compilation


def factorize(
    lookup: ArtifactLookup, type_name: str, config: Mapping[str, Any], *, build: bool = True
) -> Any:
    """Validate the whole ``config`` tree for the artifact ``type_name``, then build it
    (with ``build=False``: validate only, call nothing and return ``None``).

    Raises:
        ValidationError: anywhere in the tree (nothing has been called then), or an artifact
            raised while building (the cause is chained).
    """
    if not build:
        check_config(config)
        with _bounded_stack(type_name):
            _compile_root(lookup, type_name, config)
        return None
    return build_tree(lookup, type_name, config)


def build_tree(
    lookup: ArtifactLookup,
    type_name: str,
    config: Mapping[str, Any],
    tried: ShapeBuilder | None = None,
) -> Any:
    """Build ``config`` with the generated builder of its shape, else on the general path.

    The builder that matches moves to the front of its root's builders, so a config built
    again and again is checked against its own shape first, whatever shapes were learnt after
    it. ``tried`` is a builder the caller already ran on ``config`` (and that did not match).
    """
    builders = lookup.builders.get(type_name, ())
    for position, fast in enumerate(builders):
        if fast is tried:
            continue
        built = fast(config)
        if built is not MISMATCH:
            # Not under a lock: a builder another thread adds at this very moment may be
            # dropped, and is generated again the next time its shape compiles.
            if position and lookup.builders.get(type_name) is builders:
                others = builders[:position] + builders[position + 1 :]
                lookup.builders[type_name] = (fast, *others)
            return built
    return build_new(lookup, type_name, config)


def build_new(lookup: ArtifactLookup, type_name: str, config: Mapping[str, Any]) -> Any:
    """Compile and build ``config`` on the general path (no generated builder matched it)."""
    # Compiling walks the config as a tree: bound it first. (A generated builder walks no
    # further than the shape it was made from, which was bounded when it compiled.)
    check_config(config)
    with _bounded_stack(type_name):
        root, state = _compile_root(lookup, type_name, config)
        _learn_shape(lookup, type_name, config, root, state)
        return root.build()


@contextlib.contextmanager
def _bounded_stack(type_name: str) -> Iterator[None]:
    """Turn a ``RecursionError`` into a ``ValidationError``: bounded configs do not get one,
    but a caller whose own stack is already deep may."""
    try:
        yield
    except RecursionError:
        raise ValidationError(
            f"Building {type_name!r} ran out of stack: the config, or the code calling "
            "factorization, is nested too deeply",
            suggestions=["Flatten the config, or call factorization from a shallower stack"],
            context={"type": type_name},
        ) from None


def _learn_shape(
    lookup: ArtifactLookup,
    type_name: str,
    config: Mapping[str, Any],
    root: Node,
    state: _Compilation,
) -> None:
    """Generate a builder for the shape of ``config`` the second time it is compiled."""
    shape = _shape_of(config)
    if shape is None:
        return
    key = (type_name, shape)
    if key not in lookup.shapes_seen:
        if len(lookup.shapes_seen) >= _MAX_SHAPES_SEEN:
            lookup.shapes_seen.clear()
        lookup.shapes_seen.add(key)
        return
    current = lookup.builders.get(type_name, ())
    if any(fast.shape == shape and fast.is_current(lookup) for fast in current):
        return  # it already has a builder; this config failed a check the general path passed
    fast = shapes.generate(
        lookup,
        type_name,
        config,
        root,
        resolved=state.resolved,
        holds_no_artifacts=holds_no_artifacts,
    )
    fast.shape = shape
    others = tuple(other for other in current if other.shape != shape)
    lookup.builders[type_name] = (fast, *others)[:_MAX_BUILDERS]


def _shape_of(config: Mapping[str, Any]) -> Any:
    """Return a hashable summary of what compiling ``config`` depends on besides its scalar
    values, or ``None`` for configs that get no builder: those holding mappings other than
    dicts, and those of more than ``_MAX_SHAPE_PARTS`` mappings and items (a builder's code
    grows with its shape, and generating it would cost more than it saves)."""
    budget = [_MAX_SHAPE_PARTS]

    def part(value: Any) -> Any:
        cls = value.__class__
        if cls in ATOMIC:
            return None
        budget[0] -= 1
        if budget[0] < 0:
            raise _NoShape
        if cls is dict:
            return tuple(
                (key, item) if key == TYPE_KEY and item.__class__ is str else (key, part(item))
                for key, item in value.items()
            )
        if cls is list or cls is tuple:
            return (cls, *[part(item) for item in value])
        if isinstance(value, Mapping):
            raise _NoShape
        return cls

    try:
        shape = part(config)
        hash(shape)
    except Exception:  # _NoShape, or keys whose comparison fails: no builder then
        return None
    return shape


class _NoShape(Exception):
    pass


def _compile_root(
    lookup: ArtifactLookup, type_name: str, config: Mapping[str, Any]
) -> tuple[Node, _Compilation]:
    root_type = config.get(TYPE_KEY, type_name)
    if root_type != type_name and not _same_artifact(lookup, root_type, type_name):
        raise ValidationError(
            f"The config names _type {root_type!r} but {type_name!r} was asked for",
            suggestions=["Drop _type from the top level, or ask for the artifact it names"],
            context={"type": type_name, "path": TYPE_KEY},
        )
    state = _Compilation(lookup)
    return _compile_node(state, config, _resolve(state, type_name, ""), "", False), state


def _same_artifact(lookup: ArtifactLookup, first: object, second: str) -> bool:
    """Return whether two names (``Encoder``, ``Exp:Encoder``) resolve to the same artifact."""
    if not isinstance(first, str):
        return False
    try:
        return lookup.artifact(first) is lookup.artifact(second)
    except ValidationError:
        return False


def _resolve(state: _Compilation, type_name: object, path: str) -> ArtifactPlan:
    if type_name.__class__ is not str:
        raise ValidationError(
            f"_type at {path or '<root>'!r} must be a registered name, got {type_name!r}",
            suggestions=["Write _type: name or _type: 'Registry:name'"],
            context={"path": _join(path, TYPE_KEY), "type": repr(type_name)},
        )
    name: str = type_name
    lookup = state.lookup
    try:
        artifact = lookup.artifact(name)
        plan = lookup.plans.get(name)
        if plan is None or plan.artifact is not artifact:
            plan = lookup.plans[name] = compile_plan(
                lookup.label(name), artifact, lambda: lookup.scheme(name)
            )
    except ValidationError as error:
        raise _located(error, name, _join(path, TYPE_KEY) if path else "") from None
    state.resolved.append((name, plan))
    return plan


def _located(error: ValidationError, type_name: str, path: str) -> ValidationError:
    """Return ``error`` (same class) saying where in the config it happened."""
    where = f" (at {path!r})" if path else ""
    return type(error)(
        error.message + where,
        suggestions=error.suggestions,
        context={**error.context, "type": type_name, "path": path},
    )


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _compile_node(
    state: _Compilation, config: Mapping[Any, Any], plan: ArtifactPlan, path: str, annotated: bool
) -> Node:
    node = Node(plan, path, annotated)
    literals: dict[str, Any] = {}
    nested: dict[str, Step] = {}
    positional: Any = None
    fields = plan.fields
    for key, value in config.items():
        hint = fields.get(key)
        if hint is None:
            if key == TYPE_KEY:
                continue  # resolved by the caller
            if key == ARGS_KEY:
                positional = value  # spread after the named values, to catch duplicates
                continue
            if key == PARTIAL_KEY:
                _set_partial(node, value)
                continue
            hint = _unknown_key(plan, key, path)
        if value.__class__ in ATOMIC:
            literals[key] = value
            continue
        compiled = _compile_value(state, value, hint, _join(path, key), plan.label)
        if isinstance(compiled, Step):
            nested[key] = compiled
        else:
            literals[key] = value
    if positional is not None:
        _positional_values(state, node, positional, literals, nested)
    if node.partial and plan.positional_only:
        _check_positional_gap(node, literals.keys() | nested.keys())
    _validate_literals(state, node, literals, nested)
    return node


def _check_positional_gap(node: Node, given: set[str]) -> None:
    """A partial may leave parameters out, but not a positional-only one before a given one:
    the later value could not be passed positionally."""
    names = node.plan.positional_only
    last = max((i for i, name in enumerate(names) if name in given), default=-1)
    missing = [n for n in names[:last] if n not in given and n not in node.plan.defaults]
    if missing:
        path = _join(node.path, missing[0])
        raise ValidationError(
            f"{node.plan.label!r} needs {missing[0]!r} (at {path!r}): it is positional-only and "
            f"comes before {names[last]!r}",
            suggestions=[f"Give {missing[0]!r} too, or leave out the values after it"],
            context={"type": node.plan.label, "path": path},
        )


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


def _set_partial(node: Node, value: Any) -> None:
    if value.__class__ is not bool:
        path = _join(node.path, PARTIAL_KEY)
        raise ValidationError(
            f"_partial_ at {path!r} must be true or false, got {value!r}",
            context={"type": node.plan.label, "path": path},
        )
    node.partial = value
    node.plain = node.plain and not value


def _positional_values(
    state: _Compilation,
    node: Node,
    values: Any,
    literals: dict[str, Any],
    nested: dict[str, Step],
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
            _extra_positional(state, node, value, item_path)
            continue
        name = plan.positional[index]
        if name in literals or name in nested:
            raise ValidationError(
                f"{plan.label!r} got {name!r} twice: in _args_ and by name (at {item_path!r})",
                context={"type": plan.label, "path": item_path},
            )
        compiled = _compile_value(state, value, plan.fields[name], item_path, plan.label)
        if isinstance(compiled, Step):
            nested[name] = compiled
        else:
            literals[name] = value


def _extra_positional(state: _Compilation, node: Node, value: Any, path: str) -> None:
    """Add a value for ``*args``, validated against its annotation."""
    hint = node.plan.var_args
    assert hint is not None
    extra = _compile_value(state, value, hint, path, node.plan.label)
    if not isinstance(extra, Step):
        extra = hint.verify(value, path, node.plan.label)
    node.extra_args = [*(node.extra_args or ()), extra]
    node.plain = False


def _validate_literals(
    state: _Compilation, node: Node, literals: dict[str, Any], nested: dict[str, Step]
) -> None:
    plan = node.plan
    if nested:
        node.nested = nested
    values = validate_direct(plan, literals, nested, node.partial)
    if values is not None:
        node.values = values
        return
    validator = shape_validator(plan, tuple(nested), node.partial)
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
    full_path = path
    if problems:  # without pydantic's union member tags such as "is-instance[Head]"
        parts = str(problems[0]["field"]).split(".")
        full_path = ".".join(part for part in parts if "[" not in part)
    return ValidationError(
        translated.message,
        suggestions=[f"Fix the value at {full_path!r} to match the parameters of {label!r}"],
        context={"type": label, "path": full_path, "node_path": path, "errors": problems},
    )


def _compile_value(state: _Compilation, value: Any, hint: Hint, path: str, owner: str) -> Any:
    """Return a :class:`Step` if ``value`` holds artifacts to build, else ``value`` itself."""
    cls = value.__class__
    if cls in ATOMIC:
        return value
    if cls is list or cls is tuple:  # before isinstance(Mapping), an abstract-class check
        return _compile_sequence(state, value, hint, path, owner)
    if cls is dict or isinstance(value, Mapping):
        if TYPE_KEY in value:
            node = _compile_node(state, value, _resolve(state, value[TYPE_KEY], path), path, False)
            return node if hint.is_any else _fit(node, hint, path, owner)
        if hint.build_class is not None:
            try:
                plan = plan_for_class(hint.build_class)
            except ValidationError as error:
                raise _located(error, hint.describe(), path) from None
            return _compile_node(state, value, plan, path, True)
        return _compile_mapping(state, value, hint, path, owner)
    return value


def holds_no_artifacts(value: Any, hint: Hint) -> bool:
    """Return whether :func:`_compile_value` would keep ``value`` as a literal (nothing in it
    is built). Generated builders check literal containers with it."""
    cls = value.__class__
    if cls in ATOMIC:
        return True
    if cls is list or cls is tuple:
        item = hint.item
        return all(holds_no_artifacts(part, item) for part in value)
    if cls is dict or isinstance(value, Mapping):
        if TYPE_KEY in value or hint.build_class is not None:
            return False
        item = hint.value
        return all(holds_no_artifacts(part, item) for part in value.values())
    return True


def _compile_sequence(
    state: _Compilation, value: list[Any] | tuple[Any, ...], hint: Hint, path: str, owner: str
) -> Any:
    items: list[Any] = []
    has_steps = False
    item_hint = hint.item
    prefix = f"{path}." if path else ""
    for index, item in enumerate(value):
        if item.__class__ in ATOMIC:
            items.append(item)
            continue
        compiled = _compile_value(state, item, item_hint, f"{prefix}{index}", owner)
        has_steps = has_steps or isinstance(compiled, Step)
        items.append(compiled)
    if not has_steps:
        return value
    kind = hint.expect_container(value.__class__, path, owner)
    return SequenceStep(kind, _literals_checked(state, items, item_hint, path, owner))


def _compile_mapping(
    state: _Compilation, value: Mapping[Any, Any], hint: Hint, path: str, owner: str
) -> Any:
    items = {
        k: _compile_value(state, v, hint.value, _join(path, k), owner) for k, v in value.items()
    }
    if not any(isinstance(item, Step) for item in items.values()):
        return value
    hint.expect_container(dict, path, owner)
    keys = list(items)
    checked = _literals_checked(state, list(items.values()), hint.value, path, owner, keys=keys)
    return MappingStep(dict(zip(keys, checked, strict=True)))


def _literals_checked(
    state: _Compilation,
    items: list[Any],
    hint: Hint,
    path: str,
    owner: str,
    *,
    keys: list[Any] | None = None,
) -> list[Any]:
    """Validate the plain items of a container that also holds artifacts.

    The scheme cannot validate such a container as a whole before its artifacts are built,
    so its plain items are validated against the item annotation here.
    """
    checked = []
    for index, item in enumerate(items):
        if isinstance(item, Step):
            checked.append(item)
            continue
        where = _join(path, keys[index] if keys is not None else index)
        checked.append(hint.verify(item, where, owner))
    return checked


def _fit(node: Node, hint: Hint, path: str, owner: str) -> Node:
    """Check before anything runs that what ``node`` builds may be given where it stands."""
    produces = functools.partial if node.partial else node.plan.produces
    if produces is None:
        node.check = hint  # a function without a return annotation: check what it returns
        node.plain = False
        return node
    if not hint.accepts_type(produces):
        raise ValidationError(
            f"{node.plan.label!r} at {path!r} builds {getattr(produces, '__qualname__', produces)}, "
            f"but {owner!r} expects {hint.describe()} there",
            suggestions=["Name an artifact that builds the expected type in _type"],
            context={"type": node.plan.label, "path": path, "expected": hint.describe()},
        )
    return node
