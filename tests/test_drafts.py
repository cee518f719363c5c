"""Drafting a persistent entry: the signature text and scheme JSON are those of the artifact
itself, also where drafts share work between artifacts of the same parameter shape."""

from __future__ import annotations

import functools
import inspect
import json
import textwrap
from typing import Any

import pytest

from registry import drafts, refs, schemes


def _functions(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(source), namespace)  # noqa: S102 - fixtures written below
    return {name: value for name, value in namespace.items() if inspect.isfunction(value)}


SAME_SHAPE_DIFFERENT_TEXT = _functions(
    """
    class Local:
        pass

    def a(x: int = 1) -> float: ...
    def b(x: int = True) -> float: ...
    def c(x: int = 1.0) -> float: ...
    def d(x: float = 0.0) -> float: ...
    def e(x: float = -0.0) -> float: ...
    def f(x: int = 1) -> None: ...
    def g(x: Local = 1) -> float: ...
    def h(y: int = 1) -> float: ...
    def i(x: int = 1, *rest: int) -> float: ...
    def j(x: int = 1, **rest: int) -> float: ...
    def k(x: int = 1, /) -> float: ...
    def l(*, x: int = 1) -> float: ...
    def m(*, x: int = True) -> float: ...
    def n(x: "int" = 1) -> float: ...
    def o(x: list[int] = 1) -> float: ...
    def p(x: int | None = 1) -> float: ...
    def q(x=[1]) -> float: ...
    def r(x: int = 1) -> float:
        '''Double x.'''
    def s(x: int = 1) -> float:
        '''Halve x.

        Rounds down.'''
    """
)


def _draft(function: Any) -> Any:
    origin = refs.origin_of(function)
    return drafts.persistent_draft("lab.ns", function.__name__, function, origin, None)


@pytest.mark.parametrize("rounds", [1, 2])  # the second round finds every shape known
def test_each_draft_holds_its_own_signature_and_scheme(rounds: int) -> None:
    for _ in range(rounds):
        for name, function in SAME_SHAPE_DIFFERENT_TEXT.items():
            draft = _draft(function)
            assert draft.signature == refs.signature_text(function), name
            expected = schemes.scheme_json_of(name, function)
            assert draft.scheme == expected, name
            assert draft.doc == refs.doc_summary(function), name


def test_a_wrapper_shows_the_wrapped_signature() -> None:
    def inner(x: int, y: str = "a") -> int:
        return x

    @functools.wraps(inner)
    def outer(*args: Any, **kwargs: Any) -> int:
        return inner(*args, **kwargs)

    plain = _draft(SAME_SHAPE_DIFFERENT_TEXT["a"])
    wrapped = _draft(outer)
    assert wrapped.signature == "(x: int, y: str = 'a') -> int"
    assert plain.signature == "(x: int = 1) -> float"


def test_the_scheme_text_is_what_json_dumps_writes() -> None:
    for name, function in SAME_SHAPE_DIFFERENT_TEXT.items():
        text = _draft(function).__dict__["_scheme"]
        assert text == json.dumps(schemes.scheme_json_of(name, function)), name


def test_reading_a_function_creates_no_attribute_dict_on_it() -> None:
    # A function's __dict__ is created when first read (~60 B); drafting 10,000 functions
    # through a read of it cost 0.6 MiB more per 10,000 entries (bench_store's RSS rows).
    import gc

    from registry.factorize import plans

    (scale,) = _functions("def scale(x: int, factor: float = 2.0) -> float: ...").values()

    def created_dicts() -> list[dict[str, Any]]:
        known = {id(scale.__globals__), id(scale.__builtins__), id(scale.__annotations__)}
        return [r for r in gc.get_referents(scale) if type(r) is dict and id(r) not in known]

    assert created_dicts() == []
    drafts._described(scale)
    schemes.resolved_hints(scale)
    plans.parameters_of(scale)
    assert created_dicts() == []
