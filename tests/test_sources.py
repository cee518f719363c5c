"""``sources``: a file is indexed piece by piece exactly as it would be whole, and the index's
memory is that of the pieces, not of the whole file's syntax tree; its lines split as
``readlines`` splits them."""

from __future__ import annotations

import importlib
import inspect
import textwrap
import tracemalloc
import types
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


ALONE = textwrap.dedent(
    '''
    import functools


    def one_liner(x): return x


    def signature_closed_at_the_margin(
        x,
        y,
    ):
        """A docstring
    with a line at the margin.
        """
        return x + \\
    y
        # a comment as deep as the body: inspect takes it


    # a comment at the margin: it does not
    @functools.lru_cache(
        maxsize=None,
    )
    def decorated_over_lines(x):
        return [
    x
        ]
    CODE = 1


    async def coroutine(x):
        return x


    class Outer:
        class Inner:
            @staticmethod
            def method(x):
                text = """
    def not_a_definition():
    """
                return text

            # the next definition of the class


        def after(self):
            pass
    '''
)


def functions_of(module: types.ModuleType) -> list[types.FunctionType]:
    """The functions a module defines: its own, its classes' and their nested classes'."""
    namespaces = [vars(module)]
    for value in vars(module).values():
        if inspect.isclass(value) and value.__module__ == module.__name__:
            namespaces += [vars(c) for c in (value, *vars(value).values()) if inspect.isclass(c)]
    found = []
    for namespace in namespaces:
        for member in namespace.values():
            function = inspect.unwrap(getattr(member, "__func__", member))
            if isinstance(function, types.FunctionType) and function.__module__ == module.__name__:
                found.append(function)
    return found


@pytest.mark.parametrize(
    "name", ["sources_alone", *MODULES, "json.decoder", "dataclasses", "ast", "collections"]
)
def test_a_function_read_alone_has_the_place_the_file_index_gives(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sources_alone.py").write_text(ALONE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sources, "_SOURCES", {})
    module = importlib.import_module(name)
    functions = functions_of(module)
    assert len(functions) >= 6
    alone = {function: sources._read_alone(function) for function in functions}
    assert sum(found is not None for found in alone.values()) >= 0.9 * len(alone)
    file = inspect.getsourcefile(module)
    assert file is not None and not sources._SOURCES[file].indexed  # read alone: no index
    for function, found in alone.items():
        place = sources.place_of(function)
        assert place is not None
        if found is not None:
            assert found == (place.line, place.source_hash), function
        assert sources.line_and_hash(function) == (place.line, place.source_hash)


def test_a_function_whose_file_changed_or_uses_tabs_gets_the_place_the_index_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sources, "_SOURCES", {})
    path = tmp_path / "sources_edited.py"
    path.write_text("def first(x):\n    return x\n\n\ndef second(x):\n    return x\n")
    module = importlib.import_module("sources_edited")
    path.write_text("def second(x):\n    return x\n\n\ndef first(x):\n    return 2 * x\n")
    (tmp_path / "sources_tabbed.py").write_text(
        "class Tabbed:\n\tdef method(self):\n\t\treturn (\n1\n\t\t)\n\n\tx = 1\n"
    )
    tabbed = importlib.import_module("sources_tabbed")
    for function in (module.first, module.second, tabbed.Tabbed.method):
        place = sources.place_of(function)
        assert place is not None
        monkeypatch.setattr(sources, "_SOURCES", {})  # read alone again, not from the index
        assert sources.line_and_hash(function) == (place.line, place.source_hash), function
    assert sources.line_and_hash(module.first)[1] is None  # line 1 now defines `second`
