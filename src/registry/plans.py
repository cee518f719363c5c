"""Per-artifact factorization plans: what the builder needs to know about one artifact
(parameter hints, positional parameters, what it builds) and the validators of its literal
values for each config shape, all derived once from the artifact's pydantic scheme.

Imports only ``errors``, ``hints`` and ``schemes``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict
from typing_extensions import NotRequired, Required, TypedDict

from registry import schemes
from registry.errors import ValidationError
from registry.hints import Hint, hint_for

__all__ = ["ArtifactPlan", "compile_plan", "plan_for_class", "shape_validator"]

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
    shapes: dict[tuple[tuple[str, ...], bool], Validator | None] = field(default_factory=dict)


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
    # Keyed by parameter name: a field pydantic reserves the name of has it as its alias.
    infos = {info.alias or name: info for name, info in model.model_fields.items()}
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
