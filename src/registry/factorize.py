"""Build object graphs from nested configs, all validated before anything is called.

A config is a mapping of parameter values. A nested mapping carrying ``_type`` names a
registered artifact; the name is resolved by an :class:`ArtifactLookup` the caller hands in,
so this module never imports anything by path (``_type: "os.system"`` is just an unknown name)
and never imports ``registries``. Building has two phases:

1. *compile*: walk the whole tree, resolve every ``_type``, validate and coerce every literal
   value with the artifact's scheme, and check that each nested artifact fits the parameter it
   is given to. Nothing is called, so a bad leaf leaves no half-built objects behind.
2. *build*: call the artifacts depth-first with the validated values.

Per-artifact work is cached in :class:`~registry.plans.ArtifactPlan` objects. Whole compiled
trees are cached too, keyed by ``marshal.dumps(config, 2)``: marshal accepts exact builtin
types only (no subclasses, no arbitrary objects), so equal bytes mean an identical plain-data
config. A cached tree is reused only after checking that every ``_type`` in it still names the
same artifact, and only if its validated values are immutable scalars. Directives: ``_type``,
``_args_`` (positional values), ``_partial_`` (return a ``functools.partial``).
"""

from __future__ import annotations

import functools
import marshal
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pydantic
from pydantic import BaseModel

from registry import schemes
from registry.config_bounds import check_config
from registry.errors import ValidationError, closest_names, did_you_mean
from registry.hints import ANY_HINT, Hint
from registry.plans import ArtifactPlan, compile_plan, plan_for_class, shape_validator
from registry.steps import Builder, MappingStep, Node, SequenceStep, Step, builder

__all__ = ["ARGS_KEY", "PARTIAL_KEY", "TYPE_KEY", "ArtifactLookup", "factorize"]

TYPE_KEY = "_type"
ARGS_KEY = "_args_"
PARTIAL_KEY = "_partial_"
_UNSUPPORTED = {
    "_target_": "_target_ is an import path; name a registered artifact with _type instead",
    "_lazy_": "Use _partial_: true to get a callable that builds later",
    "_recursive_": "Nested _type mappings are always built; there is nothing to switch off",
    "_convert_": "Values are converted by the artifact's scheme; there is nothing to choose",
}
_ATOMIC = frozenset({str, int, float, bool, type(None), bytes})
_MAX_CACHED_TREES = 512
# Version 2 writes no back-references, so equal configs give equal bytes whatever the reference
# counts and string interning of their parts (later versions encode both).
_MARSHAL_VERSION = 2


class ArtifactLookup(Protocol):
    """Resolves ``_type`` names for :func:`factorize` and owns its caches."""

    plans: dict[str, ArtifactPlan]
    trees: dict[bytes, _Tree]

    def artifact(self, type_name: str) -> Callable[..., Any]:
        """Return the artifact ``type_name`` names; raise ValidationError if none."""

    def describe(self, type_name: str) -> tuple[str, type[BaseModel]]:
        """Return the qualified label (``Registry:name``) and the scheme of ``type_name``."""


class _Tree:
    """A compiled config and the artifacts its ``_type`` names resolved to (checked again
    before each reuse). It is turned into closures when it is first reused, not before: a
    config built once should not pay for them."""

    __slots__ = ("_build", "resolved", "root")

    def __init__(self, root: Node, resolved: list[tuple[str, ArtifactPlan]]) -> None:
        self.root = root
        self.resolved = [(name, plan.artifact) for name, plan in dict(resolved).items()]
        self._build: Builder | None = None

    def build(self) -> Any:
        if self._build is None:
            self._build = builder(self.root)
        return self._build()

    def is_current(self, lookup: ArtifactLookup) -> bool:
        try:
            for name, artifact in self.resolved:
                if lookup.artifact(name) is not artifact:
                    return False
        except ValidationError:  # unregistered since: compile again to report it properly
            return False
        return True


class _Compilation:
    """State of one compile: the lookup, the names resolved, and whether the tree is reusable."""

    __slots__ = ("lookup", "resolved", "reusable")

    def __init__(self, lookup: ArtifactLookup) -> None:
        self.lookup = lookup
        self.resolved: list[tuple[str, ArtifactPlan]] = []
        self.reusable = True


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
        _compile_root(lookup, type_name, config)
        return None
    try:
        key: bytes | None = marshal.dumps((type_name, config), _MARSHAL_VERSION)  # type: ignore[arg-type]
    except (ValueError, TypeError, RecursionError):  # not plain data: compile every time
        key = None
    if key is not None:
        tree = lookup.trees.get(key)
        if tree is not None and tree.is_current(lookup):
            return tree.build()
    # Compiling walks the config as a tree: bound it first (a hit was bounded when compiled).
    check_config(config)
    root, state = _compile_root(lookup, type_name, config)
    if key is None or not state.reusable:
        return root.build()
    if len(lookup.trees) >= _MAX_CACHED_TREES:
        lookup.trees.clear()
    lookup.trees[key] = _Tree(root, state.resolved)
    return root.build()


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
            label, model = lookup.describe(name)
            plan = lookup.plans[name] = compile_plan(label, artifact, model)
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
        if value.__class__ in _ATOMIC:
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
        state.reusable = state.reusable and extra.__class__ in _ATOMIC
    node.extra_args = [*(node.extra_args or ()), extra]
    node.plain = False


def _validate_literals(
    state: _Compilation, node: Node, literals: dict[str, Any], nested: dict[str, Step]
) -> None:
    plan = node.plan
    names = tuple(nested)
    validator = shape_validator(plan, names, node.partial)
    if names:
        node.nested = nested
    if validator is None:
        return
    try:
        node.values = values = validator.validate_python(literals)
    except pydantic.ValidationError as error:
        raise _invalid(plan.label, error, node.path) from None
    except Exception as exc:  # a user validator raising something pydantic does not wrap
        raise ValidationError(
            f"Invalid config for {plan.label!r} at {node.path or '<root>'!r}: {exc}",
            context={"type": plan.label, "path": node.path},
        ) from exc
    if state.reusable:  # a reused tree must not share mutable values between builds
        for value in values.values():
            if value.__class__ not in _ATOMIC:
                state.reusable = False
                break


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
    if cls in _ATOMIC:
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


def _compile_sequence(
    state: _Compilation, value: list[Any] | tuple[Any, ...], hint: Hint, path: str, owner: str
) -> Any:
    items: list[Any] = []
    has_steps = False
    item_hint = hint.item
    prefix = f"{path}." if path else ""
    for index, item in enumerate(value):
        if item.__class__ in _ATOMIC:
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
        valid = hint.verify(item, where, owner)
        state.reusable = state.reusable and valid.__class__ in _ATOMIC
        checked.append(valid)
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
