"""References to artifacts: origins (``module:qualname``), import by path, source hashes.

Imports only ``errors``; used by registries to describe artifacts and to restore them.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import sys
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


def source_hash(obj: Any) -> str | None:
    """Return the sha256 of an artifact's source text, or of its bytecode when there is no source."""
    try:
        text = inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(inspect.unwrap(obj), "__code__", None)
        if code is None:
            return None
        text = repr((code.co_code, code.co_consts, code.co_names))
    return hashlib.sha256(text.encode()).hexdigest()


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
    """Find a module's source file on ``sys.path`` without importing it or its parents."""
    parts = module_name.split(".")
    for entry in sys.path:
        base = Path(entry or ".").joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
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
    lines = text.splitlines(keepends=True)[start - 1 : node.end_lineno]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


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
