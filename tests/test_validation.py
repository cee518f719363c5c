"""strict= signature and protocol conformance, including postponed annotations."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, Optional, Protocol, Union

import pytest

from registry import ConformanceError, FunctionalRegistry, TypeRegistry
from tests.samples import postponed


class Unary(FunctionalRegistry[[int], int], strict=True):
    pass


class Typed(FunctionalRegistry, strict=True):
    pass


class AnyArgsToStr(FunctionalRegistry[..., str], strict=True):
    pass


def inc(x: int) -> int:
    return x + 1


def widen(x: float) -> bool:  # accepts more, returns a subtype: still conforms
    return x > 0


def with_default(x: int, scale: int = 1) -> int:
    return x * scale


def optional_return(x: int) -> Optional[int]:  # noqa: UP045  (the typing spelling is the point)
    return x


@pytest.mark.parametrize("func", [inc, widen, with_default, postponed.double])
def test_strict_generic_accepts_conforming_functions(func):
    Unary.register_artifact(func)
    assert Unary.get_artifact(func.__name__) is func


def test_postponed_annotations_are_resolved():
    """The sample module uses ``from __future__ import annotations``: hints are strings."""
    assert isinstance(postponed.double.__annotations__["x"], str)
    Typed.register_artifact(postponed.to_score)
    assert Typed.has_identifier("to_score")


def test_one_conformance_error_lists_every_problem():
    def bad(x: str, y: str) -> str:
        return x

    with pytest.raises(ConformanceError) as info:
        Unary.register_artifact(bad)
    problems = info.value.context["problems"]
    assert len(problems) == 3, problems
    assert any("positional parameter" in p for p in problems)
    assert any("parameter 0 ('x') is str, expected int" in p for p in problems)
    assert any("returns str, expected int" in p for p in problems)
    json.dumps(info.value.context)
    assert not Unary.has_identifier("bad")


def test_optional_return_does_not_conform_to_int():
    with pytest.raises(ConformanceError, match="returns"):
        Unary.register_artifact(optional_return)


def test_unannotated_parameter_fails_against_generic():
    def loose(x) -> int:
        return 1

    with pytest.raises(ConformanceError, match="not annotated"):
        Unary.register_artifact(loose)


def test_strict_without_generics_requires_full_annotations():
    def partial_hints(x: int, y) -> int:
        return x

    def no_return(x: int):
        return x

    with pytest.raises(ConformanceError) as info:
        Typed.register_artifact(partial_hints)
    assert "parameters without annotation: y" in info.value.message
    with pytest.raises(ConformanceError, match="return type is not annotated"):
        Typed.register_artifact(no_return)
    Typed.register_artifact(inc)


def test_ellipsis_generic_checks_the_return_only():
    def name(a: Any, b: int, *rest: int) -> str:
        return ""

    AnyArgsToStr.register_artifact(name)
    with pytest.raises(ConformanceError):
        AnyArgsToStr.register_artifact(inc)


def test_unresolvable_annotation_is_reported():
    def ghost(x: NotDefinedAnywhere) -> int:  # type: ignore[name-defined]  # noqa: F821
        return 1

    with pytest.raises(ConformanceError, match="cannot be resolved"):
        Unary.register_artifact(ghost)


def test_union_parameter_accepts_expected_type():
    def either(x: Union[int, str]) -> int:  # noqa: UP007
        return 1

    Unary.register_artifact(either)


# ------------------------------------------------------------------ classes


class ScorerProtocol(Protocol):
    name: str

    def score(self, x: int) -> float: ...

    def reset(self) -> None: ...


class Scorers(TypeRegistry[ScorerProtocol], strict=True):
    pass


class GoodScorer:
    name = "good"

    def score(self, x: int) -> float:
        return float(x)

    def reset(self) -> None:
        pass


class AnnotatedNameScorer:
    name: str

    def score(self, x: float, scale: int = 1) -> float:
        return x

    @classmethod
    def reset(cls) -> None:
        pass


class BadScorer:
    def score(self, x: str) -> str:
        return x

    reset = 3


def test_protocol_conformance_positive():
    Scorers.register_artifact(GoodScorer)
    Scorers.register_artifact(AnnotatedNameScorer)
    assert list(Scorers.iter_identifiers()) == ["GoodScorer", "AnnotatedNameScorer"]


def test_protocol_conformance_lists_every_problem():
    with pytest.raises(ConformanceError) as info:
        Scorers.register_artifact(BadScorer)
    problems = info.value.context["problems"]
    assert "missing member 'name'" in problems
    assert "member 'reset' must be a method" in problems
    assert any("method 'score': parameter 0 ('x') is str, expected int" in p for p in problems)
    assert any("method 'score': returns str, expected float" in p for p in problems)


def test_protocol_from_postponed_module():
    class Postponed(TypeRegistry[postponed.Scorer], strict=True):
        pass

    Postponed.register_artifact(postponed.GoodScorer)


class Base(ABC):
    @abstractmethod
    def forward(self, x: int) -> int: ...


class StrictModels(TypeRegistry[Base], strict=True, abstract=True):
    pass


def test_strict_abc_flags_missing_abstract_methods_and_bad_signatures():
    class Half(Base):
        pass

    class WrongSig(Base):
        def forward(self, x: int, y: int) -> int:
            return x

    class Fine(Base):
        def forward(self, x: int) -> int:
            return x

    with pytest.raises(ConformanceError, match="abstract methods not implemented: forward"):
        StrictModels.register_artifact(Half)
    with pytest.raises(ConformanceError, match="positional parameter"):
        StrictModels.register_artifact(WrongSig)
    StrictModels.register_artifact(Fine)


def test_strict_type_registry_without_base_requires_annotated_init():
    class AnyStrict(TypeRegistry, strict=True):
        pass

    class Annotated:
        def __init__(self, size: int) -> None:
            self.size = size

    class Bare:
        def __init__(self, size):
            self.size = size

    AnyStrict.register_artifact(Annotated)
    with pytest.raises(ConformanceError, match="__init__: parameters without annotation: size"):
        AnyStrict.register_artifact(Bare)
