"""References to artifacts: origins (``module:qualname``), import by path, source hashes.

Imports only ``errors`` and ``sources``; used by registries to describe artifacts and to restore
them.
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry import sources
from registry.errors import RestoreError

if TYPE_CHECKING:
    from registry.store.base import EntryRecord

__all__ = [
    "display_name",
    "doc_summary",
    "drift_state",
    "first_paragraph",
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
    quadratic in its length. With ``index`` (registration) it comes from the file's index in
    :mod:`registry.sources`, which also gives the place of the definition, so one read and one
    parse of a file serve both; ``index=False`` never parses a whole file for a function (a
    restore: a reader of a huge module would otherwise hold its index's memory).
    """
    target = inspect.unwrap(obj)
    if index or inspect.isclass(target):
        place = sources.place_of(obj)
        if place is not None and place.source_hash is not None:
            return place.source_hash
    try:
        text = _source_text(obj)
    except Exception:  # anything unusual: ask inspect itself
        text = None
    if text is None:
        try:
            text = inspect.getsource(obj)
        except (OSError, TypeError):
            code = getattr(target, "__code__", None)
            if code is None:
                return None
            text = repr((code.co_code, code.co_consts, code.co_names))
    return hashlib.sha256(text.encode()).hexdigest()


#: How ``inspect.findsource`` recognises the first line of a function definition.
_DEFINITION_START = re.compile(r"^(\s*def\s)|(\s*async\s+def\s)|(.*(?<!\w)lambda(:|\s))|^(\s*@)")


def _source_text(obj: Any) -> str | None:
    """``inspect.getsource(obj)`` of a function, tokenizing only its own lines (``None`` for
    anything else: let inspect decide)."""
    target = inspect.unwrap(obj)
    if inspect.ismethod(target):
        target = target.__func__
    if not inspect.isfunction(target):
        return None
    path = inspect.getsourcefile(target)
    if path is None:
        return None
    linecache.checkcache(path)
    module = inspect.getmodule(target, path)
    lines = linecache.getlines(path, module.__dict__ if module is not None else None)
    if not lines:
        return None
    start = target.__code__.co_firstlineno - 1
    while start > 0 and not _DEFINITION_START.match(lines[start]):
        start -= 1
    return sources.block(lines, start)


def signature_text(obj: Any, signature: inspect.Signature | None = None) -> str:
    """Return ``name(params) -> ret`` as text, or ``""`` when it cannot be read.

    ``signature`` is ``inspect.signature(obj)`` when the caller has read it already; its text
    is the answer unless an annotation is a string (those are shown evaluated).
    """
    if signature is not None and not _string_annotations(signature):
        return str(signature)
    try:
        return str(inspect.signature(obj, eval_str=True))
    except Exception:  # an annotation that cannot be evaluated: show it as written
        try:
            return str(inspect.signature(obj))
        except (TypeError, ValueError):
            return ""


def _string_annotations(signature: inspect.Signature) -> bool:
    if isinstance(signature.return_annotation, str):
        return True
    return any(isinstance(p.annotation, str) for p in signature.parameters.values())


def doc_summary(obj: Any) -> str:
    """Return the first paragraph of an artifact's docstring."""
    return first_paragraph(inspect.getdoc(obj))


def first_paragraph(doc: str | None) -> str:
    """Return the first paragraph of a docstring as ``inspect.getdoc`` cleans it."""
    return (doc or "").split("\n\n", 1)[0].strip()


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
    block = sources.block(text.splitlines(keepends=True), start - 1)
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
