"""The size limits of every stored field, declared once.

The SQL column sizes (``store.models``), the server's request schema (``server.schemas``) and the
checks every backend runs on a draft before writing it (:func:`check_draft`) all read these
numbers, so input the server accepts always fits the database, and a draft refused by one
backend is refused by all of them. Imports only ``errors``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from registry.errors import ValidationError

if TYPE_CHECKING:
    from registry.store.base import EntryDraft

__all__ = [
    "BATCH",
    "BLOB_FORMAT",
    "BLOB_TEXT",
    "CREATED_BY",
    "DEFINITIONS",
    "DOC",
    "DRAFT_TEXT",
    "GENERATION",
    "IDENTIFIER",
    "IDENTIFIER_PATTERN",
    "IDENTIFIER_RE",
    "KEY_ID",
    "LINE",
    "NAMESPACE",
    "NAMESPACE_PATTERN",
    "ORIGIN",
    "PACKAGE",
    "PACKAGE_VERSION",
    "PATH",
    "PICKLER_VERSION",
    "PYTHON_VERSION",
    "SCHEME_BYTES",
    "SCHEME_DEPTH",
    "SEAL",
    "SEAL_TEXT",
    "SIGNATURE_TEXT",
    "SOURCE_FILE",
    "SOURCE_HASH",
    "check_draft",
    "check_drafts",
    "check_scheme",
    "check_text",
    "fit_text",
]

NAMESPACE = 255
IDENTIFIER = 255
ORIGIN = 1024
SOURCE_HASH = 128
PYTHON_VERSION = 32
PACKAGE = 255
PACKAGE_VERSION = 64
CREATED_BY = 255
#: ``Text`` columns: unlimited in SQL, limited here so every backend agrees.
SIGNATURE_TEXT = 20_000
DOC = 200_000
SCHEME_BYTES = 1_000_000
#: Deeper JSON is refused: pydantic, ``json`` and the server's serialiser all recurse.
SCHEME_DEPTH = 64
#: The stored prefix of a definition's source file; the server accepts paths up to ``PATH``.
SOURCE_FILE = 1024
PATH = 4096
#: ``Integer`` columns (source lines) hold 32-bit values on every database.
LINE = 2**31 - 1
#: Generations and change counters are 64-bit integers (``BIGINT``).
GENERATION = 2**63 - 1
BLOB_FORMAT = 32
PICKLER_VERSION = 32
KEY_ID = 64
SEAL = 128
#: ``(line, source hash)`` pairs one draft may list, and drafts in one batch request.
DEFINITIONS = 10_000
BATCH = 10_000

#: 1-255 letters, digits, '.', '_' or '-' (a ``logic_namespace``).
NAMESPACE_PATTERN = r"[A-Za-z0-9_.\-]{1,255}"
#: No whitespace, no control characters, no ':', '@' or '/' (reserved for ``Registry:name`` and
#: URLs). The server's schema uses it as is: pydantic refuses lone surrogates by itself.
IDENTIFIER_PATTERN = r"[^\s:@/\x00-\x1f\x7f-\x9f]{1,255}"
#: The same rule in Python, where lone surrogates (no database can encode them) must be named.
IDENTIFIER_RE = re.compile(r"[^\s:@/\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,255}")

#: The bounded text fields of a draft, its blob and its seal, and their limits.
DRAFT_TEXT = {
    "origin": ORIGIN,
    "source_hash": SOURCE_HASH,
    "signature": SIGNATURE_TEXT,
    "doc": DOC,
    "python_version": PYTHON_VERSION,
    "package": PACKAGE,
    "package_version": PACKAGE_VERSION,
    "created_by": CREATED_BY,
}
BLOB_TEXT = {
    "format": BLOB_FORMAT,
    "python_version": PYTHON_VERSION,
    "pickler_version": PICKLER_VERSION,
}
SEAL_TEXT = {"key_id": KEY_ID, "signature": SEAL}


def check_text(field: str, value: str, limit: int, context: dict[str, Any]) -> None:
    """Refuse ``value`` if it is too long, holds NUL or a lone surrogate (neither SQLite nor
    PostgreSQL can store those).

    Raises:
        ValidationError: naming the field and the limit.
    """
    if len(value) > limit:
        raise ValidationError(
            f"{field} is {len(value)} characters long; the limit is {limit}",
            suggestions=[f"Shorten {field} to at most {limit} characters"],
            context={**context, "field": field, "limit": limit, "length": len(value)},
        )
    if "\x00" in value:
        raise ValidationError(
            f"{field} contains a NUL character, which no store can keep",
            suggestions=[f"Remove the NUL (\\x00) characters from {field}"],
            context={**context, "field": field},
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"{field} contains a lone surrogate ({value[exc.start]!r} at index {exc.start}), "
            "which is not valid Unicode text",
            suggestions=[f"Fix the encoding of {field}; it must be valid UTF-8 text"],
            context={**context, "field": field, "index": exc.start},
        ) from None


def fit_text(value: str, limit: int) -> str:
    """Make text derived from code (a docstring, a signature) storable: NULs dropped, lone
    surrogates replaced, cut to ``limit`` characters."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value if len(value) <= limit else value[: limit - 3] + "..."


def check_draft(namespace: str, draft: EntryDraft) -> None:
    """Refuse a draft that some backend could not store, the same way on every backend.

    Raises:
        ValidationError: a field is too long, holds NUL or a lone surrogate, or the scheme is
            nested too deeply or too large.
    """
    if draft.__dict__.get("_checked"):
        # Drafts are frozen: one that passed when a registry drafted it passes in the store.
        return
    context = {"registry_name": namespace, "identifier": repr(draft.identifier)[:300]}
    check_text("identifier", draft.identifier, IDENTIFIER, context)
    if not IDENTIFIER_RE.fullmatch(draft.identifier):
        raise ValidationError(
            f"Invalid identifier {draft.identifier!r}: use 1-255 characters without whitespace, "
            "control characters, ':', '@' or '/'",
            suggestions=["Pick a name like 'focal_loss' or 'resnet-50'"],
            context={**context, "field": "identifier"},
        )
    for field, limit in DRAFT_TEXT.items():
        value = getattr(draft, field)
        if value is not None:
            check_text(field, value, limit, context)
    if draft.source_line is not None and not 1 <= draft.source_line <= LINE:
        raise ValidationError(
            f"source_line is {draft.source_line}; it must be between 1 and {LINE}",
            context={**context, "field": "source_line", "limit": LINE},
        )
    if draft.blob is not None:
        for field, limit in BLOB_TEXT.items():
            check_text(f"blob.{field}", getattr(draft.blob, field), limit, context)
    if draft.seal is not None:
        for field, limit in SEAL_TEXT.items():
            check_text(f"seal.{field}", getattr(draft.seal, field), limit, context)
    scheme = draft.__dict__["_scheme"]  # as given: reading draft.scheme would parse JSON text
    if isinstance(scheme, str):
        # JSON text comes from json.dumps of a bounded dict (registries, the server's schema).
        if len(scheme) > SCHEME_BYTES:
            raise ValidationError(
                f"scheme is {len(scheme)} bytes as JSON; the limit is {SCHEME_BYTES}",
                context={**context, "field": "scheme", "limit": SCHEME_BYTES},
            )
    elif scheme is not None:
        check_scheme(scheme, context)
        return  # a dict can change after this check: check it again next time
    draft.__dict__["_checked"] = True


def check_drafts(namespace: str, drafts: Sequence[EntryDraft]) -> None:
    """:func:`check_draft` for a batch: one bad draft refuses the whole batch, naming its index."""
    for index, draft in enumerate(drafts):
        try:
            check_draft(namespace, draft)
        except ValidationError as error:
            raise ValidationError(
                f"Draft {index} of the batch: {error.message}",
                suggestions=error.suggestions,
                context={**error.context, "index": index},
            ) from None


def check_scheme(scheme: Any, context: dict[str, Any]) -> None:
    """Refuse a scheme deeper than :data:`SCHEME_DEPTH` or larger than :data:`SCHEME_BYTES`."""
    depth = _depth(scheme, SCHEME_DEPTH)
    if depth > SCHEME_DEPTH:
        raise ValidationError(
            f"scheme is nested more than {SCHEME_DEPTH} levels deep",
            suggestions=["Flatten the scheme; JSON Schemas of real signatures are shallow"],
            context={**context, "field": "scheme", "limit": SCHEME_DEPTH},
        )
    try:
        size = len(json.dumps(scheme))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"scheme is not JSON data: {exc}",
            context={**context, "field": "scheme"},
        ) from None
    if size > SCHEME_BYTES:
        raise ValidationError(
            f"scheme is {size} bytes as JSON; the limit is {SCHEME_BYTES}",
            context={**context, "field": "scheme", "limit": SCHEME_BYTES, "length": size},
        )


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of JSON-like ``value``, counted without recursion; stops past ``limit``."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest
