"""Rows of the ``entries`` table as records: which columns a record reads, and the mapping.

Shared by the SQLAlchemy statements (``sql_statements.py``) and the bare-driver reads of a
cold process (``sql_direct.py``), so both read the same columns into the same records.
Imports only ``store.base``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

from registry.store.base import EntryRecord, JsonText, Seal

__all__ = ["ENTRY_FIELDS", "entry_record", "utc"]

#: The ``entries`` columns an :class:`EntryRecord` is read from, in this order.
ENTRY_FIELDS = (
    "identifier",
    "version",
    "origin",
    "source_hash",
    "signature",
    "scheme_json",
    "doc",
    "blob_sha256",
    "python_version",
    "package",
    "package_version",
    "created_at",
    "created_by",
    "source_file",
    "source_line",
    "seal_key_id",
    "seal",
)


def utc(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; the server wrote them in UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _shared(text: str | None) -> str | None:
    # Few distinct values across many records (Python and package versions, user@host):
    # one string object each instead of one per record.
    return None if text is None else sys.intern(text)


def entry_record(namespace: str, row: Any) -> EntryRecord:
    """Turn a row of :data:`ENTRY_FIELDS` (or a mapping with those keys) into a record.

    The scheme stays JSON text until someone reads ``record.scheme``.
    """
    values = row if isinstance(row, dict) else row._mapping
    scheme_json = values["scheme_json"]
    seal = values["seal"]
    return EntryRecord(
        namespace=namespace,
        identifier=sys.intern(values["identifier"]),
        version=values["version"],
        origin=values["origin"],
        source_hash=values["source_hash"],
        signature=values["signature"],
        # Text from a draft is shared, text from a row is wrapped; either is parsed on read.
        scheme=scheme_json
        if scheme_json is None or isinstance(scheme_json, JsonText)
        else JsonText(scheme_json),
        doc=values["doc"],
        blob_sha256=values["blob_sha256"],
        python_version=_shared(values["python_version"]) or "",
        package=_shared(values["package"]),
        package_version=_shared(values["package_version"]),
        created_at=utc(values["created_at"]),
        created_by=_shared(values["created_by"]) or "",
        source_file=_shared(values["source_file"]),
        source_line=values["source_line"],
        seal=None if seal is None else Seal(values["seal_key_id"], seal, values["version"]),
    )
