"""Module scanning: which members of a module ``register_module_functions``,
``register_module_subclasses`` and ``register_module_callables`` register.

A module's ``__all__`` says what it exports; without one, its public names that it defines
itself (not what it imports) are taken.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from registry.errors import ValidationError

__all__ = ["register_members"]

_MISSING: Any = object()


def register_members(
    module: types.ModuleType,
    wanted: Callable[[Any], bool],
    register: Callable[[Any], object],
    *,
    raise_error: bool,
    registry_name: str,
    operation: str,
) -> types.ModuleType:
    """Call ``register`` on each public member of ``module`` that ``wanted`` selects, and
    return the module.

    Raises:
        ValidationError: ``module`` is not a module; with ``raise_error``, the first error of
            ``register`` (its context names ``module_name`` and ``operation``), else that
            member is skipped.
    """
    if not isinstance(module, types.ModuleType):
        raise ValidationError(
            f"{registry_name}.{operation} takes a module, got {type(module).__name__}",
            suggestions=["Pass the module object: import mylab.losses, then the module"],
            context={"operation": operation, "actual_type": type(module).__name__},
        )
    names = getattr(module, "__all__", None)
    exported = names is not None
    if names is None:
        names = [name for name in vars(module) if not name.startswith("_")]
    for name in names:
        member = getattr(module, name, _MISSING)
        if member is _MISSING or not wanted(member):
            continue
        if not exported and getattr(member, "__module__", None) != module.__name__:
            continue  # imported from elsewhere, not defined here
        try:
            register(member)
        except ValidationError as error:
            if raise_error:
                error.context["module_name"] = module.__name__
                error.context["operation"] = operation
                raise
    return module
