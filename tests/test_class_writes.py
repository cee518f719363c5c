"""Registries keep their changing state off the class itself.

Writing an attribute of a class invalidates the interpreter's caches of that class's
attributes, and CPython 3.13 stops specializing them after about a thousand writes: from then
on every ``Registry.get_artifact`` hit costs nearly twice as much. So once a registry class is made
(and its factorizer installed by the first build), registering, looking up, missing,
unregistering, building and syncing with other writers write no attribute of the class. A
metaclass records every such write.
"""

from __future__ import annotations

from typing import Any

import pytest

from registry import FunctionalRegistry, RegistryError, TypeRegistry

WRITES: list[tuple[str, str]] = []


class _Counting(type):
    def __setattr__(cls, name: str, value: Any) -> None:
        WRITES.append((cls.__name__, name))
        super().__setattr__(name, value)


def scale(x: int = 1, factor: float = 2.0) -> float:
    return x * factor


def shift(x: int = 1) -> int:
    return x + 1


class Model:
    def __init__(self, width: int = 8) -> None:
        self.width = width


class Wide(Model):
    pass


def exercise(registry: Any, artifacts: list[Any], rounds: int) -> None:
    """Every everyday operation, ``rounds`` times over, on new and known identifiers."""
    for turn in range(rounds):
        for index, artifact in enumerate(artifacts):
            name = f"{artifact.__name__.lower()}_{turn}_{index}"
            registry.register_artifact(name, artifact)  # new
            registry.register_artifact(name, artifact)  # unchanged
            assert registry.get_artifact(name) is artifact
            assert registry.has_identifier(name)
            with pytest.raises(RegistryError):
                registry.get_artifact(name + "_missing")  # a miss builds the did-you-mean index
            built = registry.factorize_artifact(name)
            registry.to_config(built)
        registry.unregister_identifier(f"{artifacts[0].__name__.lower()}_{turn}_0")
        assert len(list(registry.iter_identifiers())) > 0


@pytest.mark.parametrize("kind", ["functions", "types"])
def test_everyday_operations_write_no_class_attribute(kind: str) -> None:
    if kind == "functions":

        class Losses(FunctionalRegistry, metaclass=_Counting):
            pass

        registry: Any = Losses
        artifacts: list[Any] = [scale, shift]
    else:

        class Models(TypeRegistry[Model], metaclass=_Counting):
            pass

        registry, artifacts = Models, [Model, Wide]
    exercise(registry, artifacts, 1)  # the first build installs the generated factorizer
    WRITES.clear()
    exercise(registry, artifacts, 30)
    assert WRITES == []


def test_persistent_registries_and_their_siblings_write_no_class_attribute(
    sqlite_url: str,
) -> None:
    class Shared(
        FunctionalRegistry, metaclass=_Counting, logic_namespace="lab.writes", url=sqlite_url
    ):
        pass

    class Sibling(
        FunctionalRegistry, metaclass=_Counting, logic_namespace="lab.writes", url=sqlite_url
    ):
        pass

    exercise(Shared, [scale, shift], 1)
    exercise(Sibling, [shift, scale], 1)
    WRITES.clear()
    exercise(Shared, [scale, shift], 10)
    exercise(Sibling, [shift, scale], 10)  # Shared follows these writes
    assert Shared.get_artifact("scale_9_1") is scale
    assert WRITES == []
