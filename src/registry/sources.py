"""Where an artifact is defined: its source file, the first line of its definition, and every
line at which that file defines the same qualified name.

Registries record the place with each registration, and the store's ``decide`` compares it to
tell the same definition run again (a module reloaded, a notebook cell or script run again)
from a second definition of the same name elsewhere in one file (a duplicate). The place also
carries the source hash (``refs.source_hash``): the SHA-256 of exactly the text
``inspect.getsource`` returns. A file is read once per version (path, modification time,
size), and parsed whole into its index of definitions the first time a place is asked for;
sources that are not files on disk (notebook cells) are read through ``linecache``. A
registration that only needs a function's own line and hash (:func:`line_and_hash`: is it
stored as it is?) parses just that function's lines. The files kept are bounded by their total
number of lines. Imports only ``gcpause``.
"""

from __future__ import annotations

import array
import ast
import bisect
import hashlib
import inspect
import linecache
import os
import re
import sys
import threading
import tokenize
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, overload

from registry import gcpause

__all__ = ["Place", "block", "files_checked_once", "line_and_hash", "place_of"]


class Place(NamedTuple):
    """Where one artifact is defined."""

    file: str
    line: int | None
    """First line of the definition (its first decorator), ``None`` when it cannot be told."""
    definitions: tuple[tuple[int, str], ...]
    """``(first line, source hash)`` of every definition of the same qualified name in
    ``file``, by line; empty when the file was not read."""
    source_hash: str | None
    """SHA-256 of the definition's text as ``inspect.getsource`` returns it (``None`` when it
    cannot be read)."""


#: ``qualname -> span`` or ``qualname -> (span, span, ...)`` of one version of one source file,
#: each span ``(first line, last line, end)`` packed into one int (see :func:`_pack`); ``end``
#: is the last line of the text ``inspect.getsource`` returns, ``0`` when the tokenizer must
#: tell (a definition on one line, a lambda). A module of 10,000 functions indexes in ~2 MiB.
_Index = dict[str, "int | tuple[int, ...]"]

_NEWLINE = re.compile("\n")
_LINE_BITS = 24
_LINE_MASK = (1 << _LINE_BITS) - 1


def _pack(first: int, last: int, end: int) -> int:
    return first | last << _LINE_BITS | end << 2 * _LINE_BITS


def _spans(index: _Index, qualname: str) -> list[tuple[int, int, int]]:
    """The ``(first line, last line, end)`` of every definition of ``qualname``, in order."""
    found = index.get(qualname, ())
    packed = (found,) if isinstance(found, int) else found
    return [(p & _LINE_MASK, p >> _LINE_BITS & _LINE_MASK, p >> 2 * _LINE_BITS) for p in packed]


class _Lines(Sequence[str]):
    """The lines of a text (split at ``\\n`` only, as ``readlines`` splits them), without a
    string object per line: the text and where each line starts."""

    __slots__ = ("starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        # One machine integer per line, appended one at a time: no temporary object per line.
        self.starts = array.array("Q", [0])
        self.starts.extend(newline.end() for newline in _NEWLINE.finditer(text))
        if self.starts[-1] != len(text):
            self.starts.append(len(text))  # a last line without a newline

    def __len__(self) -> int:
        return len(self.starts) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[number] for number in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.text[self.starts[index] : self.starts[index + 1]]

    def join(self, start: int, end: int) -> str:
        """``"".join(self[start:end])`` with one slice of the text."""
        end = min(end, len(self))
        return self.text[self.starts[start] : self.starts[end]] if start < end else ""

    def find(self, word: str, start: int, end: int) -> bool:
        """Whether ``word`` occurs in lines ``start`` to ``end`` (exclusive)."""
        end = min(end, len(self))
        return start < end and self.text.find(word, self.starts[start], self.starts[end]) >= 0


class _Source:
    """One version of one source file: its lines and (parsed on first use) its definitions."""

    __slots__ = ("_index", "lines", "stamp")

    def __init__(self, stamp: object, lines: _Lines, index: _Index | None = None) -> None:
        self.stamp = stamp
        self.lines = lines
        self._index = index

    @property
    def index(self) -> _Index:
        if self._index is None:
            self._index = _build_index(self.lines)  # two threads may both build it: same result
        return self._index

    @property
    def indexed(self) -> bool:
        return self._index is not None


_SOURCES: dict[str, _Source] = {}
_NO_SOURCE = _Source(None, _Lines(""), {})
_LOCK = threading.Lock()
#: At most this many lines of source files are kept (the oldest files go first).
MAX_LINES = 200_000


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
    spans = _spans(source.index, qualname)
    if line is None or (code is None and not any(first == line for first, _, _ in spans)):
        line = _class_line(spans, line)
    definitions = tuple(sorted((first, _hash(source.lines, first, end)) for first, _, end in spans))
    return Place(file, line, definitions, dict(definitions).get(line) if line else None)


def line_and_hash(obj: Any) -> tuple[int | None, str | None]:
    """Return the first line and source hash of ``obj``'s own definition, as :func:`place_of`
    gives them, or ``(None, None)``.

    A plain function's are read from its own lines: the first that may end its definition is
    tried, then the next, until they parse as that one definition: a few lines are parsed,
    where indexing the file parses all of them. Other objects, and definitions that do not read
    that way, are asked of :func:`place_of`.
    """
    found = _read_alone(obj)
    if found is not None:
        return found
    place = place_of(obj)
    return (None, None) if place is None else (place.line, place.source_hash)


def _read_alone(obj: Any) -> tuple[int, str] | None:
    """What :func:`line_and_hash` gives when ``obj`` is a plain function read from its own
    lines; ``None`` when it is not one, or its lines do not read alone."""
    target = inspect.unwrap(obj) if hasattr(obj, "__wrapped__") else obj
    code = getattr(target, "__code__", None)
    if code is None or code.co_name == "<lambda>":
        return None
    # A wrapper named after what it wraps (``reprlib.recursive_repr``) is not the definition
    # place_of looks up by its qualified name.
    qualname = getattr(target, "__qualname__", None)
    if target.__name__ != code.co_name or qualname != getattr(code, "co_qualname", qualname):
        return None
    return _own_definition(code)


#: Candidate ends tried by :func:`_own_definition` before it gives up.
_OWN_ATTEMPTS = 8


def _own_definition(code: types.CodeType) -> tuple[int, str] | None:
    source = _source(code.co_filename)
    lines, first = source.lines, code.co_firstlineno
    if source.indexed:
        return None  # place_of answers from the index at once
    if not 0 < first <= len(lines):
        return None  # no source, or the file changed since the code was compiled
    start = first - 1
    indent = _indentation(lines[start])
    if not 0 <= indent < _BLANK:
        return None  # tabs (only the tokenizer tells their depth), or no code on that line
    end = start + 1
    for _attempt in range(_OWN_ATTEMPTS):
        # The definition ends before code at or left of its first line, outside strings and
        # brackets: where it does not, the text up to there does not parse.
        while end < len(lines) and _indentation(lines[end]) > indent:
            end += 1
        if end < len(lines) and _indentation(lines[end]) == _TABBED:
            return None
        text = lines.join(start, end)
        wrapped = indent > 0  # an indented definition parses inside a block of its own
        try:
            tree = ast.parse(f"if 1:\n{text}" if wrapped else text)
        except (SyntaxError, ValueError):
            if end >= len(lines):
                return None
            end += 1
            continue
        body = tree.body[0].body if wrapped and isinstance(tree.body[0], ast.If) else tree.body
        offset = start - 1 if wrapped else start  # file line = parsed line + offset
        node = body[0] if len(body) == 1 else None
        if (
            not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            or node.name != code.co_name
            or min([d.lineno for d in node.decorator_list] + [node.lineno]) + offset != first
        ):
            return None
        indexer = _Indexer(lines)
        indexer.offset = offset
        return first, _hash(lines, first, indexer._end(node))
    return None


_BLANK = 1 << 30  # deeper than any code: blank and comment lines never end a block
_TABBED = -1


def _indentation(line: str) -> int:
    """The spaces before the code of ``line``: :data:`_BLANK` for a blank or comment line,
    :data:`_TABBED` when its indentation has a tab."""
    stripped = line.lstrip()
    if not stripped or stripped.startswith("#"):
        return _BLANK
    margin = line[: len(line) - len(stripped)]
    return _TABBED if "\t" in margin else len(margin)


def _hash(lines: _Lines, first: int, end: int) -> str:
    text = lines.join(first - 1, end) if end else block(lines, first - 1)
    return hashlib.sha256(text.encode()).hexdigest()


def block(lines: Sequence[str], start: int) -> str:
    """The definition starting at ``lines[start]``, ended as ``inspect.getblock`` ends it
    (without copying the rest of the file first)."""
    finder = inspect.BlockFinder()
    position = start

    def readline() -> str:
        nonlocal position
        if position >= len(lines):
            return ""
        position += 1
        return lines[position - 1]

    try:
        for token in tokenize.generate_tokens(readline):
            finder.tokeneater(*token)
    except (inspect.EndOfBlock, IndentationError):
        pass
    if isinstance(lines, _Lines):
        return lines.join(start, start + finder.last)
    return "".join(lines[start : start + finder.last])


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


def _class_line(spans: list[tuple[int, int, int]], inside: int | None) -> int | None:
    """Return the first line of the class definition containing line ``inside`` (or the only
    definition when ``inside`` is unknown)."""
    if inside is None:
        return spans[0][0] if len(spans) == 1 else None
    containing = [first for first, last, _ in spans if first <= inside <= last]
    return max(containing) if containing else None


@contextmanager
def files_checked_once() -> Iterator[None]:
    """Within this block (in this thread), each file is checked for changes once: a batch
    drafts thousands of artifacts from a few files, and a ``stat`` per artifact cost ~10 us."""
    if getattr(_checked, "stamps", None) is not None:
        yield  # an outer block holds the stamps
        return
    _checked.stamps = {}
    try:
        yield
    finally:
        _checked.stamps = None


_checked = threading.local()


def _stamp(file: str) -> object:
    """The version of ``file`` on disk: ``(mtime, size)``, or ``None`` when it is not a file."""
    stamps: dict[str, object] | None = getattr(_checked, "stamps", None)
    if stamps is not None and file in stamps:
        return stamps[file]
    if file.startswith("<") and file.endswith(">"):
        stamp: object = None  # exec'd code, the prompt, a notebook cell: not a file on disk
    else:
        try:
            status = os.stat(file)
            stamp = (status.st_mtime_ns, status.st_size)
        except (OSError, ValueError):
            stamp = None  # a notebook cell named like a path (ipykernel)
    if stamps is not None:
        stamps[file] = stamp
    return stamp


def _source(file: str) -> _Source:
    """Return the current version of ``file`` (parsed once per version)."""
    stamp = _stamp(file)
    cached = _SOURCES.get(file)
    if stamp is None:
        entry = linecache.cache.get(file)  # where IPython keeps the text of each cell
        text = "".join(entry[2]) if entry is not None and len(entry) == 4 else ""
        if not text:
            return _NO_SOURCE
        stamp = ("linecache", hash(text))
        if cached is not None and cached.stamp == stamp:
            return cached
    elif cached is not None and cached.stamp == stamp:
        return cached
    else:
        text = _read_text(file)
    source = _Source(stamp, _Lines(text))
    with _LOCK:
        _SOURCES.pop(file, None)
        _SOURCES[file] = source
        kept = sum(len(kept.lines) for kept in _SOURCES.values())
        for old in list(_SOURCES)[:-1]:
            if kept <= MAX_LINES:
                break
            kept -= len(_SOURCES.pop(old).lines)
    return source


def _read_text(file: str) -> str:
    try:
        with tokenize.open(file) as handle:  # honours a "# coding:" line
            return handle.read()
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ""


#: Parse at least this many lines at once: fewer calls, and a syntax tree this small costs a few
#: MiB at most. Parsing a large module whole costs ~1 KiB per line, and the memory a parse takes
#: stays with the process (its fragments pin the allocator's arenas).
CHUNK_LINES = 300

#: A line that starts a top-level definition, unless it is inside a string.
_DEFINITION_LINE = re.compile(r"^(?:def|class|async[ \t]+def)[ \t]|^@", re.MULTILINE)


def _build_index(lines: _Lines) -> _Index:
    """Index the definitions of a file, parsing it a few hundred lines at a time.

    A piece ends before a line that starts a top-level definition; when that line is in fact
    inside a string, the piece does not parse, and a piece twice as long is tried.
    """
    cuts = [match.start() for match in _DEFINITION_LINE.finditer(lines.text)]
    cuts = [bisect.bisect_left(lines.starts, offset) for offset in cuts]  # as line numbers
    cuts.append(len(lines))
    indexer = _Indexer(lines)
    begin, size = 0, CHUNK_LINES
    with gcpause.paused():  # a syntax tree is acyclic and large: see registry.gcpause
        while begin < len(lines):
            end = cuts[min(bisect.bisect_left(cuts, begin + size), len(cuts) - 1)]
            try:
                tree = ast.parse(lines.join(begin, end))
            except (SyntaxError, ValueError):
                if end == len(lines):
                    return {}  # the file does not parse
                size *= 2
                continue
            for statement in tree.body:
                indexer.index(statement, begin)
            begin, size = end, CHUNK_LINES
    return indexer.found


class _Indexer(ast.NodeVisitor):
    """Collects every definition with the ``__qualname__`` Python gives it."""

    def __init__(self, lines: _Lines) -> None:
        self.lines = lines
        self.offset = 0
        """Lines of the file before the piece being indexed (its line numbers start at 1)."""
        self.scope: list[str] = []
        self.found: _Index = {}

    def index(self, statement: ast.stmt, offset: int) -> None:
        """Index one top-level statement of a piece that starts after line ``offset``.

        Its expressions are walked only when its text says ``lambda``: a lambda is the only
        definition an expression can hold, and walking every expression node of a large module
        costs several times its parse."""
        self.offset = offset
        first = min(
            [d.lineno for d in getattr(statement, "decorator_list", ())] + [statement.lineno]
        )
        last = statement.end_lineno or first
        if self.lines.find("lambda", offset + first - 1, offset + last):
            self.visit(statement)
        else:
            self._statements(statement)

    def _statements(self, node: ast.AST) -> None:
        """Index the definitions among the statements of ``node`` (no expressions)."""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self._define(node.name, node, node.decorator_list)
            self._body([node.name, "<locals>"], node.body, self._statements)
        elif isinstance(node, ast.ClassDef):
            self._define(node.name, node, node.decorator_list)
            self._body([node.name], node.body, self._statements)
        else:
            for field in _STATEMENT_FIELDS:
                for child in getattr(node, field, ()):
                    self._statements(child)

    def _define(self, name: str, node: ast.stmt | ast.expr, decorators: list[ast.expr]) -> None:
        first = min([d.lineno for d in decorators] + [node.lineno])
        last = node.end_lineno or first
        span = _pack(self.offset + first, self.offset + last, self._end(node))
        qualname = ".".join([*self.scope, name])
        known = self.found.get(qualname)
        if known is None:
            self.found[qualname] = span
        else:
            self.found[qualname] = (*((known,) if isinstance(known, int) else known), span)

    def _end(self, node: ast.stmt | ast.expr) -> int:
        """The line of the file that ends the text ``inspect.getsource`` returns for ``node``
        (``0``: let the tokenizer tell, for a lambda or a definition whose body starts on its
        first line)."""
        body = getattr(node, "body", None)
        if not isinstance(body, list) or not body or body[0].lineno == node.lineno:
            return 0
        if node.end_lineno is None:
            return 0
        # inspect's block finder also takes the comment lines that follow the last statement
        # and are indented at least as deep as the body.
        column = body[0].col_offset
        end = position = self.offset + node.end_lineno  # in the file, not the piece
        while position < len(self.lines):
            text = self.lines[position]
            stripped = text.strip()
            if stripped and not stripped.startswith("#"):
                break
            if stripped and len(text) - len(text.lstrip()) >= column:
                end = position + 1
            position += 1
        return end

    def _body(
        self,
        names: list[str],
        statements: list[Any],
        visit: Callable[[ast.AST], None] | None = None,
    ) -> None:
        self.scope += names
        for statement in statements:
            (visit or self.visit)(statement)
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


#: The fields in which statements (``if``, ``try``, ``with``, ``match``, ...) hold statements.
_STATEMENT_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")
