"""``sources``: a file is indexed piece by piece exactly as it would be whole, and the index's
memory is that of the pieces, not of the whole file's syntax tree; its lines split as
``readlines`` splits them."""

from __future__ import annotations

import importlib
import inspect
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from registry import sources

MODULES = ["argparse", "logging", "zipfile", "inspect", "registry.registries"]

TRICKY = textwrap.dedent(
    '''
    import functools

    TEMPLATE = """
    def not_a_definition():
    @decorated
    class NotAClass:
    """


    def identity(function):
        return function


    @identity
    @functools.lru_cache
    def decorated(x):
        return x


    def inner_and_lambda():
        double = lambda y: y * 2  # noqa: E731
        def nested():
            return double(1)
        return nested


    class Outer:
        def method(self):
            return (
    1
            )
    if True:
        def conditional():
            pass
    else:
        def conditional():
            pass
    '''
)


def index(lines: list[str], chunk: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.setattr(sources, "CHUNK_LINES", chunk)
    return sources._build_index(sources._Lines("".join(lines)))


@pytest.mark.parametrize("name", MODULES)
def test_pieces_index_like_the_whole_file(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = inspect.getsourcelines(importlib.import_module(name))[0]
    whole = index(lines, 10**9, monkeypatch)
    assert whole
    assert index(lines, 1, monkeypatch) == whole  # every definition a piece of its own
    assert index(lines, 50, monkeypatch) == whole


def test_definitions_inside_strings_and_odd_layouts(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = TRICKY.splitlines(keepends=True)
    whole = index(lines, 10**9, monkeypatch)
    assert index(lines, 1, monkeypatch) == whole
    assert "not_a_definition" not in whole and "NotAClass" not in whole  # text in a string
    assert len(sources._spans(whole, "conditional")) == 2  # type: ignore[arg-type]
    assert "inner_and_lambda.<locals>.<lambda>" in whole
    assert "inner_and_lambda.<locals>.nested" in whole


def test_a_file_that_does_not_parse_has_no_index(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (TRICKY + "\ndef broken(:\n    pass\n").splitlines(keepends=True)
    assert index(lines, 1, monkeypatch) == {}
    assert index(lines, 10**9, monkeypatch) == {}


def test_places_in_pieces_match_inspect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "CHUNK_LINES", 1)
    (tmp_path / "sources_tricky.py").write_text(TRICKY)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("sources_tricky")
    for obj in (module.decorated, module.inner_and_lambda(), module.Outer, module.Outer.method):
        place = sources.place_of(obj)
        assert place is not None and place.source_hash is not None
        lines, first = inspect.getsourcelines(obj)
        assert place.line == first, obj.__qualname__
        text = "".join(inspect.getsourcelines(module)[0])
        assert place.source_hash == sources._hash(
            sources._Lines(text), first, first + len(lines) - 1
        )


def test_indexing_a_large_module_holds_a_piece_at_a_time() -> None:
    lines = [
        f"def func_{i}(x: int, factor: float = 2.0) -> float:\n    return x * factor + {i}\n\n"
        for i in range(5_000)
    ]
    lines = "".join(lines).splitlines(keepends=True)

    def peak(work: object) -> int:
        tracemalloc.start()
        try:
            work()  # type: ignore[operator]
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    import ast

    whole = peak(lambda: ast.parse("".join(lines)))
    pieces = peak(lambda: sources._build_index(sources._Lines("".join(lines))))
    assert pieces < whole / 3, (pieces, whole)


@pytest.mark.parametrize(
    "text", ["", "\n", "a", "a\n", "a\nb", "a\n\nb\n", "x = '\x0c'\n\u2028y\n", "\n\n"]
)
def test_lines_split_like_readlines(text: str) -> None:
    import io

    expected = io.StringIO(text, newline="").readlines()
    lines = sources._Lines(text)
    assert list(lines) == expected
    assert len(lines) == len(expected)
    assert lines.join(0, len(lines)) == text
    assert lines[1:] == expected[1:]
