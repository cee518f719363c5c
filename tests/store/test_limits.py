"""Field limits are one declaration, and every backend refuses the same drafts the same way.

Before this, PostgreSQL answered a too-long ``origin`` or a NUL in ``doc`` with a database error
(a 503 through the server), SQLite and PostgreSQL raised ``UnicodeEncodeError`` for a lone
surrogate, and the memory store kept anything.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import String

from registry.errors import ValidationError
from registry.server.schemas import BlobBody, DraftBody
from registry.store import limits
from registry.store.base import BlobDraft, EntryDraft, JsonText, Store
from registry.store.models import blobs, entries, heads, namespaces


def _draft(**fields: object) -> EntryDraft:
    values: dict[str, object] = {"identifier": "f", "origin": "lab.mod:f"}
    values.update(fields)
    return EntryDraft(**values)  # type: ignore[arg-type]


def _blob(**fields: str) -> BlobDraft:
    data = b"payload"
    values = {
        "data": data,
        "sha256": hashlib.sha256(data).hexdigest(),
        "format": "cloudpickle",
        "python_version": "3.11.7",
        "pickler_version": "3.0.0",
    }
    values.update(fields)
    return BlobDraft(**values)  # type: ignore[arg-type]


def _deep(levels: int) -> dict[str, object]:
    scheme: dict[str, object] = {}
    inner = scheme
    for _ in range(levels - 1):
        inner["a"] = {}
        inner = inner["a"]  # type: ignore[assignment]
    return scheme


# What the server's schema accepts must fit the columns: one declaration for both.
COLUMN_FIELDS = [
    (entries.c.origin, DraftBody, "origin"),
    (entries.c.source_hash, DraftBody, "source_hash"),
    (entries.c.python_version, DraftBody, "python_version"),
    (entries.c.package, DraftBody, "package"),
    (entries.c.package_version, DraftBody, "package_version"),
    (entries.c.created_by, DraftBody, "created_by"),
    (blobs.c.format, BlobBody, "format"),
    (blobs.c.python_version, BlobBody, "python_version"),
    (blobs.c.pickler_version, BlobBody, "pickler_version"),
]


@pytest.mark.parametrize(("column", "body", "field"), COLUMN_FIELDS)
def test_request_limits_equal_the_column_sizes(column, body, field) -> None:  # type: ignore[no-untyped-def]
    column_type = column.type
    assert isinstance(column_type, String)
    limit = [m.max_length for m in body.model_fields[field].metadata if hasattr(m, "max_length")]
    assert limit == [column_type.length]


def test_identifier_and_namespace_columns_fit_their_patterns() -> None:
    assert heads.c.identifier.type.length == limits.IDENTIFIER == 255
    assert namespaces.c.name.type.length == limits.NAMESPACE == 255
    assert "{1,255}" in limits.IDENTIFIER_PATTERN and "{1,255}" in limits.NAMESPACE_PATTERN


TOO_LONG = [
    ("origin", "lab.mod:" + "f" * (limits.ORIGIN - 7)),
    ("source_hash", "a" * (limits.SOURCE_HASH + 1)),
    ("signature", "(" + "x" * limits.SIGNATURE_TEXT),
    ("doc", "d" * (limits.DOC + 1)),
    ("python_version", "3" * (limits.PYTHON_VERSION + 1)),
    ("package", "p" * (limits.PACKAGE + 1)),
    ("package_version", "1" * (limits.PACKAGE_VERSION + 1)),
    ("created_by", "u" * (limits.CREATED_BY + 1)),
]

UNSTORABLE = [
    ("identifier", "a\x00b"),
    ("identifier", "a\ud800"),
    ("identifier", "bell\x07"),
    ("identifier", "x" * 256),
    ("origin", "lab.mod:f\x00"),
    ("doc", "a\x00b"),
    ("doc", "lone \udfff"),
    ("signature", "(x\x00)"),
    ("created_by", "me\ud800@host"),
    ("scheme", _deep(limits.SCHEME_DEPTH + 1)),
    ("scheme", _deep(300)),
    ("blob", _blob(format="f" * (limits.BLOB_FORMAT + 1))),
    ("blob", _blob(python_version="3\x00")),
]


def _ids(cases: list[tuple[str, object]]) -> list[str]:
    return [f"{field}-{index}" for index, (field, _) in enumerate(cases)]


@pytest.mark.parametrize(("field", "value"), TOO_LONG + UNSTORABLE, ids=_ids(TOO_LONG + UNSTORABLE))
def test_every_backend_refuses_the_same_drafts(
    store: Store, namespace: str, field: str, value: object
) -> None:
    store.ensure_namespace(namespace, "function")
    with pytest.raises(ValidationError) as caught:
        store.register(namespace, _draft(**{field: value}))
    assert type(caught.value).__name__ in ("ValidationError", "CoercionError")
    with pytest.raises(ValidationError):
        store.register_batch(namespace, [_draft(identifier="fine"), _draft(**{field: value})])
    # Nothing of the refused registration or batch was stored.
    assert store.list_entries(namespace) == []
    assert store.get_namespace(namespace).generation == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(("field", "value"), TOO_LONG, ids=_ids(TOO_LONG))
def test_the_limit_itself_is_accepted(store: Store, namespace: str, field: str, value: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, _draft(**{field: value[:-1]}))
    assert store.get_entry(namespace, "f") is not None


def test_errors_name_the_field_and_the_limit(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    with pytest.raises(ValidationError, match=r"origin.* 1024"):
        store.register(namespace, _draft(origin="lab.mod:" + "f" * (limits.ORIGIN - 7)))
    with pytest.raises(ValidationError, match="doc contains a NUL character"):
        store.register(namespace, _draft(doc="a\x00b"))
    with pytest.raises(ValidationError, match="nested more than 64 levels"):
        store.register(namespace, _draft(scheme=_deep(300)))


def test_derived_text_is_made_storable() -> None:
    assert limits.fit_text("a\x00b", 10) == "ab"
    assert limits.fit_text("a\ud800b", 10) == "a?b"
    assert limits.fit_text("x" * 20, 10) == "x" * 7 + "..."


def test_a_draft_is_checked_again_wherever_it_may_have_changed(
    store: Store, namespace: str
) -> None:
    # A draft that passed its check once is not checked again (it is frozen, and the registry
    # checks before the store does); a scheme given as a dict can still change, so it is.
    store.ensure_namespace(namespace, "function")
    scheme: dict[str, object] = {"type": "object"}
    draft = _draft(scheme=scheme)
    limits.check_draft(namespace, draft)
    scheme["properties"] = _deep(300)
    with pytest.raises(ValidationError, match="nested more than 64 levels"):
        store.register(namespace, draft)
    with pytest.raises(ValidationError, match="nested more than 64 levels"):
        store.register_batch(namespace, [draft])
    assert store.list_entries(namespace) == []
    checked = _draft(scheme=JsonText('{"type": "object"}'))
    limits.check_draft(namespace, checked)
    assert store.register(namespace, checked).record.identifier == "f"
