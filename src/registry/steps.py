"""Compiled configs: the steps the builder runs once everything has been validated.

A :class:`Node` calls one artifact with validated values and the results of its nested steps;
:class:`SequenceStep` and :class:`MappingStep` rebuild containers that hold artifacts. Building
never mutates a step, so a compiled tree can be built again (and from several threads).
Imports only ``errors``, ``hints``, ``plans`` and ``provenance``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from registry.errors import ValidationError
from registry.hints import Hint
from registry.plans import ArtifactPlan
from registry.provenance import remember

__all__ = ["Builder", "MappingStep", "Node", "SequenceStep", "Step", "builder"]


class Step:
    """A part of the config that contains artifacts to build. Building never mutates it."""

    __slots__ = ()

    def build(self) -> Any:
        raise NotImplementedError


def _built(value: Any) -> Any:
    return value.build() if isinstance(value, Step) else value


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
                raise self._failed(exc) from exc
            remember(obj, self)
            return obj
        return self._build_special(kwargs)

    def _build_special(self, kwargs: dict[str, Any]) -> Any:
        """Build with positional values, as a partial, or with a check of the result."""
        kwargs = dict(kwargs)
        args = self._positional(kwargs)
        try:
            if self.partial:
                obj = functools.partial(self.plan.artifact, *args, **kwargs)
            else:
                obj = self.plan.artifact(*args, **kwargs)
        except ValidationError:
            raise
        except Exception as exc:
            raise self._failed(exc) from exc
        if self.check is not None:
            self.check.verify(obj, self.path, self.plan.label)
        remember(obj, self)
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

    def _failed(self, exc: Exception) -> ValidationError:
        where = f" at {self.path!r}" if self.path else ""
        return ValidationError(
            f"Building {self.plan.label!r}{where} raised {type(exc).__name__}: {exc}",
            suggestions=["The config was valid; the artifact itself failed. See the cause."],
            context={"type": self.plan.label, "path": self.path, "cause": repr(exc)},
        )


# --------------------------------------------------------------------------- builders
# A compiled tree that is built again and again is turned into closures once: calling a
# closure costs about half of a method call that reads its state from attributes.

Builder = Callable[[], Any]


def builder(step: Step) -> Builder:
    """Return a function that builds ``step``, for trees that are built repeatedly."""
    if isinstance(step, Node):
        return _node_builder(step) if step.plain else step.build
    if isinstance(step, SequenceStep):
        return _sequence_builder(step)
    return step.build


def _sequence_builder(step: SequenceStep) -> Builder:
    kind = step.kind
    if not all(isinstance(item, Step) for item in step.items):
        return step.build
    makers = tuple(builder(item) for item in step.items)

    def build_sequence() -> Any:
        built = [make() for make in makers]
        return built if kind is list else kind(built)

    return build_sequence


def _node_builder(node: Node) -> Builder:
    artifact, values, failed = node.artifact, node.values, node._failed
    nested = tuple((name, builder(step)) for name, step in (node.nested or {}).items())

    def build_node() -> Any:
        kwargs = values
        if nested:
            kwargs = values.copy()
            for name, make in nested:
                kwargs[name] = make()
        try:
            obj = artifact(**kwargs)
        except ValidationError:
            raise
        except Exception as exc:
            raise failed(exc) from exc
        remember(obj, node)
        return obj

    return build_node
