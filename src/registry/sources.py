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
from dataclasses import dataclass
from typing import Any

__all__ = ["Place", "place_of"]


@dataclass(frozen=True)
class Place:
    """Where one artifact is defined."""

    file: str
    line: int | None
    """First line of the definition (its first decorator), ``None`` when it cannot be told."""
    defined_at: tuple[int, ...]
    """First lines of every definition of the same qualified name in ``file``, ascending;
    empty when the file cannot be read."""
    source_hash: str | None
    """SHA-256 of the definition's lines in ``file`` (``None`` when they cannot be read)."""


#: ``qualname -> [(first line, last line), ...]`` of one version of one source file.
_Index = dict[str, list[tuple[int, int]]]

_INDEXES: dict[str, tuple[object, _Index, list[str]]] = {}
_LOCK = threading.Lock()
_MAX_FILES = 256


def place_of(obj: Any) -> Place | None:
    """Return where ``obj`` (a function, lambda or class) is defined, or ``None`` when it has no
    source file (builtins, objects that are not definitions)."""
    target = inspect.unwrap(obj) if callable(obj) else obj
    qualname = getattr(target, "__qualname__", None)
    if not isinstance(qualname, str):
        return None
    code = getattr(target, "__code__", None)
    if code is not None:
        file, line = code.co_filename, code.co_firstlineno
    elif inspect.isclass(target):
        found = _class_file(target)
        if found is None:
            return None
        file, line = found
    else:
        return None
    index, lines = _index(file)
    spans = index.get(qualname, [])
    if line is None or (code is None and not any(first == line for first, _ in spans)):
        line = _class_line(spans, line)
    hashed = None
    for first, last in spans:
        if first == line:
            hashed = hashlib.sha256("".join(lines[first - 1 : last]).encode()).hexdigest()
            break
    return Place(file, line, tuple(sorted(first for first, _ in spans)), hashed)


def _class_file(cls: type) -> tuple[str, int | None] | None:
    """Return the file of a class and a line inside its body (``None`` if it has no method).

    Classes carry no code object; the methods their body defines do. Python 3.13 records the
    first line itself (``__firstlineno__``).
    """
    inside: list[tuple[str, int]] = []
    prefix = cls.__qualname__ + "."
    for member in vars(cls).values():
        for function in _functions_of(member):
            code = getattr(function, "__code__", None)
            if code is not None and getattr(function, "__qualname__", "").startswith(prefix):
                inside.append((code.co_filename, code.co_firstlineno))
    first: int | None = getattr(cls, "__firstlineno__", None)
    if inside:
        file, line = min(inside, key=lambda found: found[1])
        return file, first if first is not None else line
    module_file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return (module_file, first) if isinstance(module_file, str) else None


def _functions_of(member: Any) -> list[Any]:
    if isinstance(member, (staticmethod, classmethod)):
        return [member.__func__]
    if isinstance(member, property):
        return [f for f in (member.fget, member.fset, member.fdel) if f is not None]
    return [member] if inspect.isfunction(member) else []


def _class_line(spans: list[tuple[int, int]], inside: int | None) -> int | None:
    """Return the first line of the class definition containing line ``inside`` (or the only
    definition when ``inside`` is unknown)."""
    if inside is None:
        return spans[0][0] if len(spans) == 1 else None
    containing = [first for first, last in spans if first <= inside <= last]
    return max(containing) if containing else None


def _index(file: str) -> tuple[_Index, list[str]]:
    """Return the definitions index and the lines of ``file`` (cached per file version)."""
    try:
        status = os.stat(file)
        stamp: object = (status.st_mtime_ns, status.st_size)
    except (OSError, ValueError):
        stamp = None  # not a file on disk: a notebook cell, "<string>", "<stdin>"
    with _LOCK:
        cached = _INDEXES.get(file)
    if cached is not None and cached[0] == stamp and stamp is not None:
        return cached[1], cached[2]
    lines = _read_lines(file, on_disk=stamp is not None)
    if stamp is None:
        stamp = ("linecache", len(lines), hash(tuple(lines)))
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
    index = _build_index("".join(lines))
    with _LOCK:
        if len(_INDEXES) >= _MAX_FILES:
            _INDEXES.clear()
        _INDEXES[file] = (stamp, index, lines)
    return index, lines


def _read_lines(file: str, *, on_disk: bool) -> list[str]:
    if on_disk:
        try:
            with tokenize.open(file) as handle:  # honours a "# coding:" line
                return handle.readlines()
        except (OSError, SyntaxError, UnicodeDecodeError):
            return []
    return list(linecache.getlines(file))


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
