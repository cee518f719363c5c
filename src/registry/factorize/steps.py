"""Compiled configs: the steps the builder runs once everything has been validated.

A :class:`Node` calls one artifact with validated values and the results of its nested steps;
:class:`SequenceStep` and :class:`MappingStep` rebuild containers that hold artifacts. Building
never mutates a step, so a compiled tree can be built again (and from several threads). The
builders generated per config shape (``shapes.py``) keep a *template* of the tree whose literal
values are :class:`Slot` markers, filled from the values of each build for ``to_config``.
Imports only ``errors``, ``hints``, ``plans`` and ``records``.
"""

from __future__ import annotations

import functools
from typing import Any

from registry.errors import ValidationError
from registry.factorize.hints import Hint
from registry.factorize.plans import ArtifactPlan
from registry.factorize.records import remember

__all__ = ["ATOMIC", "MappingStep", "Node", "SequenceStep", "Slot", "Step", "call_special"]

#: Scalars a config can hold; they are always literal values, never built.
ATOMIC = frozenset({str, int, float, bool, type(None), bytes})


class Step:
    """A part of the config that contains artifacts to build. Building never mutates it."""

    __slots__ = ()

    def build(self) -> Any:
        raise NotImplementedError


def _built(value: Any) -> Any:
    return value.build() if isinstance(value, Step) else value


class Slot:
    """In a template tree: the literal value number ``index`` of each build."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class SequenceStep(Step):
    __slots__ = ("items", "kind")

    def __init__(self, kind: type, items: list[Any]) -> None:
        self.kind = kind
        self.items = items

    def build(self) -> Any:
        built = [item.build() if isinstance(item, Step) else item for item in self.items]
        return built if self.kind is list else self.kind(built)


class MappingStep(Step):
    __slots__ = ("items",)

    def __init__(self, items: dict[Any, Any]) -> None:
        self.items = items

    def build(self) -> Any:
        return {key: _built(value) for key, value in self.items.items()}


class Node(Step):
    """One artifact call: validated literal values plus nested steps.

    ``plain`` means a keyword-only call with nothing to check afterwards (the common case).
    """

    __slots__ = (
        "annotated",
        "artifact",
        "check",
        "extra_args",
        "nested",
        "partial",
        "path",
        "plain",
        "plan",
        "values",
    )

    def __init__(self, plan: ArtifactPlan, path: str, annotated: bool) -> None:
        self.plan = plan
        self.artifact = plan.artifact
        self.path = path
        self.annotated = annotated
        self.values: dict[str, Any] = {}
        self.nested: dict[str, Step] | None = None
        self.extra_args: list[Any] | None = None
        self.partial = False
        self.check: Hint | None = None
        self.plain = not plan.positional_only

    def build(self) -> Any:
        kwargs = self.values
        if self.nested is not None:
            kwargs = kwargs.copy()
            for name, step in self.nested.items():
                kwargs[name] = step.build()
        if self.plain:
            try:
                obj = self.artifact(**kwargs)
            except ValidationError:
                raise
            except Exception as exc:
                raise self.failed(exc) from exc
            remember(obj, self)
            return obj
        extras = None if self.extra_args is None else [_built(item) for item in self.extra_args]
        return call_special(self, dict(kwargs), extras)

    def failed(self, exc: Exception) -> ValidationError:
        """Return the error for ``exc``, raised by the artifact while building this node."""
        where = f" at {self.path!r}" if self.path else ""
        return ValidationError(
            f"Building {self.plan.label!r}{where} raised {type(exc).__name__}: {exc}",
            suggestions=["The config was valid; the artifact itself failed. See the cause."],
            context={"type": self.plan.label, "path": self.path, "cause": repr(exc)},
        )


def call_special(
    node: Node, kwargs: dict[str, Any], extras: list[Any] | None, slots: tuple[Any, ...] = ()
) -> Any:
    """Build ``node`` with positional values, as a partial, or with a check of the result.

    ``kwargs`` (consumed) holds the named values, ``extras`` the built ``*args`` values, and
    ``slots`` the literal values of this build when ``node`` is a template.
    """
    plan = node.plan
    names = plan.positional if extras is not None else plan.positional_only
    given = [i for i, name in enumerate(names) if name in kwargs]
    args = [
        kwargs.pop(name) if name in kwargs else plan.defaults[name]
        for name in names[: given[-1] + 1 if given else 0]
    ]
    if extras is not None:
        args += extras
    try:
        if node.partial:
            obj = functools.partial(plan.artifact, *args, **kwargs)
        else:
            obj = plan.artifact(*args, **kwargs)
    except ValidationError:
        raise
    except Exception as exc:
        raise node.failed(exc) from exc
    if node.check is not None:
        node.check.verify(obj, node.path, plan.label)
    remember(obj, node, slots)
    return obj
