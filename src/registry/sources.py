"""Where an artifact is defined: its source file, the first line of its definition, and every
line at which that file defines the same qualified name.

Registries record the place with each registration, and the store's ``decide`` compares it to
tell the same definition run again (a module reloaded, a notebook cell or script run again)
from a second definition of the same name elsewhere in one file (a duplicate). A file is parsed
once per version (path, modification time, size); sources that are not files on disk (notebook
cells) are read through ``linecache``. Imports nothing else from ``registry``.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import linecache
import os
import sys
import threading
import tokenize
import types
from typing import Any, NamedTuple

__all__ = ["Place", "place_of"]


class Place(NamedTuple):
    """Where one artifact is defined."""

    file: str
    line: int | None
    """First line of the definition (its first decorator), ``None`` when it cannot be told."""
    definitions: tuple[tuple[int, str], ...]
    """``(first line, SHA-256 of its lines)`` of every definition of the same qualified name in
    ``file``, by line; empty when the file was not read."""
    source_hash: str | None
    """SHA-256 of the definition's lines in ``file`` (``None`` when they cannot be read)."""


#: ``qualname -> [(first line, last line), ...]`` of one version of one source file.
_Index = dict[str, list[tuple[int, int]]]


class _Source:
    """One version of one source file: its lines, its definitions, and the places found in it."""

    __slots__ = ("index", "lines", "places", "stamp")

    def __init__(self, stamp: object, lines: list[str], index: _Index) -> None:
        self.stamp = stamp
        self.lines = lines
        self.index = index
        self.places: dict[tuple[str, int | None, bool], Place] = {}


_SOURCES: dict[str, _Source] = {}
_NO_SOURCE = _Source(None, [], {})
_LOCK = threading.Lock()
_MAX_FILES = 256


def place_of(obj: Any, *, read: bool = True) -> Place | None:
    """Return where ``obj`` (a function, lambda or class) is defined, or ``None`` when it has no
    source file (builtins, objects that are not definitions).

    With ``read=False`` a function's place comes from its code object alone (no definitions,
    no hash): the file is neither checked nor parsed. A class is always read.
    """
    target = inspect.unwrap(obj) if hasattr(obj, "__wrapped__") else obj
    qualname = getattr(target, "__qualname__", None)
    if not isinstance(qualname, str):
        return None
    code = getattr(target, "__code__", None)
    if code is not None:
        file, line = code.co_filename, code.co_firstlineno
        if not read:
            return Place(file, line, (), None)
    elif inspect.isclass(target):
        found = _class_file(target)
        if found is None:
            return None
        file, line = found
    else:
        return None
    source = _source(file)
    if source is _NO_SOURCE:
        return Place(file, line, (), None)
    key = (qualname, line, code is None)
    place = source.places.get(key)
    if place is None:
        place = source.places[key] = _place(source, file, qualname, line, is_class=code is None)
    return place


def _place(source: _Source, file: str, qualname: str, line: int | None, *, is_class: bool) -> Place:
    spans = source.index.get(qualname, [])
    if line is None or (is_class and not any(first == line for first, _ in spans)):
        line = _class_line(spans, line)
    definitions = tuple(
        sorted(
            (first, hashlib.sha256("".join(source.lines[first - 1 : last]).encode()).hexdigest())
            for first, last in spans
        )
    )
    return Place(file, line, definitions, dict(definitions).get(line) if line else None)


def _class_file(cls: type) -> tuple[str, int | None] | None:
    """Return the file of a class and a line inside its body (``None`` if it has no method).

    Classes carry no code object; the methods their body defines do. Python 3.13 records the
    first line itself (``__firstlineno__``).
    """
    first: int | None = getattr(cls, "__firstlineno__", None)
    prefix = cls.__qualname__ + "."
    for member in vars(cls).values():
        function = member
        if isinstance(member, (staticmethod, classmethod)):
            function = member.__func__
        elif isinstance(member, property):
            function = member.fget
        if isinstance(function, types.FunctionType) and function.__qualname__.startswith(prefix):
            code = function.__code__
            return code.co_filename, first if first is not None else code.co_firstlineno
    module_file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return (module_file, first) if isinstance(module_file, str) else None


def _class_line(spans: list[tuple[int, int]], inside: int | None) -> int | None:
    """Return the first line of the class definition containing line ``inside`` (or the only
    definition when ``inside`` is unknown)."""
    if inside is None:
        return spans[0][0] if len(spans) == 1 else None
    containing = [first for first, last in spans if first <= inside <= last]
    return max(containing) if containing else None


def _source(file: str) -> _Source:
    """Return the current version of ``file`` (parsed once per version)."""
    if file.startswith("<") and file.endswith(">"):
        stamp: object = None  # exec'd code, the prompt, a notebook cell: not a file on disk
    else:
        try:
            status = os.stat(file)
            stamp = (status.st_mtime_ns, status.st_size)
        except (OSError, ValueError):
            stamp = None  # a notebook cell named like a path (ipykernel)
    cached = _SOURCES.get(file)
    if stamp is None:
        entry = linecache.cache.get(file)  # where IPython keeps the text of each cell
        lines = list(entry[2]) if entry is not None and len(entry) == 4 else []
        if not lines:
            return _NO_SOURCE
        stamp = ("linecache", hash(tuple(lines)))
        if cached is not None and cached.stamp == stamp:
            return cached
    elif cached is not None and cached.stamp == stamp:
        return cached
    else:
        lines = _read_lines(file)
    source = _Source(stamp, lines, _build_index("".join(lines)))
    with _LOCK:
        if len(_SOURCES) >= _MAX_FILES:
            _SOURCES.clear()
        _SOURCES[file] = source
    return source


def _read_lines(file: str) -> list[str]:
    try:
        with tokenize.open(file) as handle:  # honours a "# coding:" line
            return handle.readlines()
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []


def _build_index(text: str) -> _Index:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    indexer = _Indexer()
    indexer.visit(tree)
    return indexer.found


class _Indexer(ast.NodeVisitor):
    """Collects every definition with the ``__qualname__`` Python gives it."""

    def __init__(self) -> None:
        self.scope: list[str] = []
        self.found: _Index = {}

    def _define(self, name: str, node: ast.stmt | ast.expr, decorators: list[ast.expr]) -> None:
        first = min([d.lineno for d in decorators] + [node.lineno])
        last = node.end_lineno or first
        self.found.setdefault(".".join([*self.scope, name]), []).append((first, last))

    def _body(self, names: list[str], statements: list[Any]) -> None:
        self.scope += names
        for statement in statements:
            self.visit(statement)
        del self.scope[len(self.scope) - len(names) :]

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # Decorators, defaults and annotations belong to the enclosing scope.
        for part in [*node.decorator_list, node.args, *([node.returns] if node.returns else [])]:
            self.visit(part)
        self._define(node.name, node, node.decorator_list)
        self._body([node.name, "<locals>"], node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for part in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(part)
        self._define(node.name, node, node.decorator_list)
        self._body([node.name], node.body)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.args)
        self._define("<lambda>", node, [])
        self._body(["<lambda>", "<locals>"], [node.body])
