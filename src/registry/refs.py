"""References to artifacts: origins (``module:qualname``), import by path, source hashes.

Imports only ``errors``; used by registries to describe artifacts and to restore them.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.machinery
import inspect
import linecache
import re
import sys
import threading
import tokenize
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.errors import RestoreError

if TYPE_CHECKING:
    from registry.store.base import EntryRecord

__all__ = [
    "display_name",
    "doc_summary",
    "drift_state",
    "import_object",
    "origin_of",
    "signature_text",
    "source_hash",
    "source_hash_without_import",
]


def origin_of(obj: Any) -> str:
    """Return ``module:qualname`` of an artifact (its import path when it has one)."""
    module = getattr(obj, "__module__", None) or "<unknown>"
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if qualname is None:
        qualname = f"<instance of {type(obj).__qualname__}>"
    return f"{module}:{qualname}"


def display_name(obj: Any) -> str:
    """Return the name a user wrote for an artifact: its qualname without the
    ``function.<locals>.`` prefix of a definition made inside a function."""
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(qualname, str):
        return type(obj).__name__
    return qualname.rpartition("<locals>.")[2]


def source_hash(obj: Any, *, index: bool = True) -> str | None:
    """Return the sha256 of an artifact's source text, or of its bytecode when there is no source.

    The text is what ``inspect.getsource`` returns, found without its per-call costs, which
    grow with the size of the module (a copy of the rest of the file for a function, a parse
    of the whole file for a class): registering every function of a large module took time
    quadratic in its length. ``index=False`` never parses a whole file for a function (a
    restore: a reader of a huge module would otherwise hold its syntax tree's memory).
    """
    try:
        text = _source_text(obj, index)
    except Exception:  # anything unusual: ask inspect itself
        text = None
    if text is None:
        try:
            text = inspect.getsource(obj)
        except (OSError, TypeError):
            code = getattr(inspect.unwrap(obj), "__code__", None)
            if code is None:
                return None
            text = repr((code.co_code, code.co_consts, code.co_names))
    return hashlib.sha256(text.encode()).hexdigest()


#: How ``inspect.findsource`` recognises the first line of a function definition.
_DEFINITION_START = re.compile(r"^(\s*def\s)|(\s*async\s+def\s)|(.*(?<!\w)lambda(:|\s))|^(\s*@)")


def _source_text(obj: Any, use_index: bool = True) -> str | None:
    """``inspect.getsource(obj)`` for functions and classes, or ``None`` to let it decide."""
    target = inspect.unwrap(obj)
    if inspect.ismethod(target):
        target = target.__func__
    if not (inspect.isfunction(target) or inspect.isclass(target)):
        return None
    path = inspect.getsourcefile(target)
    if path is None:
        return None
    linecache.checkcache(path)
    module = inspect.getmodule(target, path)
    lines = linecache.getlines(path, module.__dict__ if module is not None else None)
    if not lines:
        return None
    is_class = inspect.isclass(target)
    index = _index_of(path, lines, build=is_class) if use_index or is_class else None
    if inspect.isclass(target):
        start = index.class_starts.get(target.__qualname__) if index else None
        if start is None:
            return None
    else:
        start = target.__code__.co_firstlineno - 1
        while start > 0 and not _DEFINITION_START.match(lines[start]):
            start -= 1
    end = index.ends.get(start) if index else None
    if end is None:
        return _block(lines, start)
    return "".join(lines[start:end])


def _block(lines: list[str], start: int) -> str:
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
    return "".join(lines[start : start + finder.last])


#: Hash this many definitions of one file one by one (tokenizing each block), then parse the
#: file once and read the rest from its syntax tree: a single restore never parses a module,
#: registering a whole module does it once.
INDEX_AFTER = 8


class _FileIndex:
    """Where the definitions of one version of a file start and end, from its syntax tree."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.class_starts: dict[str, int] = {}
        """Class qualname -> index of its first line (first decorator), as inspect finds it."""
        self.ends: dict[int, int] = {}
        """Index of a definition's first line -> index after its last, as inspect ends it."""
        self._visit(ast.parse("".join(lines)).body, "")

    def _visit(self, body: list[ast.stmt], scope: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
                self._record_end(node, first - 1)
                if isinstance(node, ast.ClassDef):
                    qualname = scope + node.name
                    self.class_starts.setdefault(qualname, first - 1)  # the first, as inspect
                    self._visit(node.body, qualname + ".")
                else:
                    self._visit(node.body, f"{scope}{node.name}.<locals>.")
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                for block in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, block, ()):
                        inner = child.body if isinstance(child, ast.ExceptHandler) else [child]
                        self._visit(inner, scope)

    def _record_end(self, node: ast.stmt, start: int) -> None:
        body = getattr(node, "body", [])
        if not body or body[0].lineno == node.lineno or node.end_lineno is None:
            return  # a one-line definition: let the tokenizer decide
        # inspect's block finder also takes the comment lines that follow the last statement
        # and are indented at least as deep as the body.
        column = body[0].col_offset
        end = position = node.end_lineno
        while position < len(self.lines):
            text = self.lines[position]
            stripped = text.strip()
            if stripped and not stripped.startswith("#"):
                break
            if stripped and len(text) - len(text.lstrip()) >= column:
                end = position + 1
            position += 1
        self.ends.setdefault(start, end)


_indexes: dict[str, _FileIndex | int] = {}
_indexes_lock = threading.Lock()


def _index_of(path: str, lines: list[str], *, build: bool) -> _FileIndex | None:
    """The file's index once it was asked for often enough (or ``build``), else ``None``."""
    with _indexes_lock:
        known = _indexes.get(path, 0)
        if isinstance(known, _FileIndex):
            if known.lines is lines:
                return known
            known = 0  # the file changed since
        if not build and known < INDEX_AFTER:
            _indexes[path] = known + 1
            return None
    index = _FileIndex(lines)
    with _indexes_lock:
        _indexes[path] = index
    return index


def signature_text(obj: Any) -> str:
    """Return ``name(params) -> ret`` as text, or ``""`` when it cannot be read."""
    try:
        return str(inspect.signature(obj, eval_str=True))
    except Exception:  # an annotation that cannot be evaluated: show it as written
        try:
            return str(inspect.signature(obj))
        except (TypeError, ValueError):
            return ""


def doc_summary(obj: Any) -> str:
    """Return the first paragraph of an artifact's docstring."""
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n", 1)[0].strip()


def import_object(origin: str) -> Any:
    """Import ``pkg.mod:qualname`` and return the object it names.

    Raises:
        RestoreError: the path is malformed, the module cannot be imported or lacks the name,
            or the object found claims another origin.
    """
    module_name, _, qualname = origin.partition(":")
    context = {"import_path": origin}
    if not module_name or not qualname or "<" in qualname or module_name == "__main__":
        raise RestoreError(
            f"{origin!r} is not an import path that another process can load",
            suggestions=["Define the artifact at module level in an importable module"],
            context=context,
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise RestoreError(
            f"Cannot import module {module_name!r} for {origin}: {type(exc).__name__}: {exc}",
            suggestions=[
                f"Install the package that provides {module_name!r} on this machine",
                "Or check that the module still exists under this name",
            ],
            context={**context, "cause": repr(exc), "sys_path_head": sys.path[:3]},
        ) from exc
    for part in qualname.split("."):
        if part.startswith("__") and part.endswith("__"):
            raise RestoreError(f"{origin!r} walks through a dunder attribute", context=context)
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise RestoreError(
                f"Module {module_name!r} has no attribute path {qualname!r} (needed for {origin})",
                suggestions=["The artifact may have been renamed or moved; register it again"],
                context=context,
            ) from exc
    found = origin_of(obj)
    if found != origin:
        raise RestoreError(
            f"{origin} now resolves to an object defined at {found}",
            suggestions=["Register the artifact again from its new location"],
            context={**context, "found_origin": found},
        )
    return obj


def _module_file(module_name: str) -> Path | None:
    """Find a module's source file as ``import`` would, without importing it or its parents.

    Asks every finder on ``sys.meta_path`` (so editable installs and zip imports count) one
    package level at a time, passing the parent's search locations down.
    """
    search: list[str] | None = None
    spec = None
    parts = module_name.split(".")
    for depth in range(1, len(parts) + 1):
        spec = _find_spec(".".join(parts[:depth]), search)
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
    if spec is None or not spec.has_location or not spec.origin:
        return None
    origin = Path(spec.origin)
    return origin if origin.suffix == ".py" and origin.is_file() else None


def _find_spec(name: str, search: list[str] | None) -> importlib.machinery.ModuleSpec | None:
    loaded = sys.modules.get(name)
    if loaded is not None and loaded.__spec__ is not None:
        return loaded.__spec__
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            found = find(name, search)
        except (ImportError, ValueError, OSError):
            continue
        if found is not None:
            return found  # type: ignore[no-any-return]
    return None


Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _find_definition(tree: ast.Module, qualname: str) -> Definition | None:
    scope: list[ast.stmt] = tree.body
    found: Definition | None = None
    for part in qualname.split("."):
        found = next(
            (
                node
                for node in scope
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and node.name == part
            ),
            None,
        )
        if found is None:
            return None
        scope = found.body
    return found


def source_hash_without_import(origin: str) -> str | None:
    """Hash the current source of ``module:qualname`` as :func:`source_hash` would, reading the
    file instead of importing the module. ``None`` when the source cannot be found."""
    module_name, _, qualname = origin.partition(":")
    path = _module_file(module_name)
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
        node = _find_definition(ast.parse(text), qualname)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    if node is None:
        return None
    start = min([d.lineno for d in node.decorator_list] + [node.lineno])
    block = _block(text.splitlines(keepends=True), start - 1)
    return hashlib.sha256(block.encode()).hexdigest()


def drift_state(record: EntryRecord) -> str:
    """Describe whether the source on this machine still matches what was registered."""
    if record.blob_sha256:
        return "stored as a pickle: no source to compare"
    if not record.source_hash:
        return "unknown: no source hash was stored"
    current = source_hash_without_import(record.origin)
    if current is None:
        return "unknown: source not found on this machine"
    if current == record.source_hash:
        return "unchanged"
    return f"changed since version {record.version} was registered"
