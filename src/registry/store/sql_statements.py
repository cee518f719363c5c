"""SQL building blocks shared by ``SqlStore`` and its bulk batch path.

The column lists, row-to-record mapping and the write statements, which are built once per
store because building a statement costs more than running it. Imports ``store.base``,
``store.models`` and SQLAlchemy.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Text, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from registry.store import limits
from registry.store.base import BlobDraft, EntryDraft, EntryRecord, Seal, current_user_host
from registry.store.models import BlobRow, EntryRow, HeadRow, NamespaceRow, metadata

__all__ = [
    "BLOB_COLUMNS",
    "ENTRY_COLUMNS",
    "IN_CHUNK",
    "NOTIFY_CHANNEL",
    "Statements",
    "as_utc",
    "blob_params",
    "entry_params",
    "entry_record",
    "utc",
]

#: PostgreSQL channel on which every write announces ``{"ns": name, "g": generation}``.
NOTIFY_CHANNEL = "registry_changes"

#: Longest ``IN (...)`` list sent at once (SQLite caps bound parameters; optuna#1457).
IN_CHUNK = 500

ENTRY_COLUMNS = (
    EntryRow.id,
    EntryRow.identifier,
    EntryRow.version,
    EntryRow.origin,
    EntryRow.source_hash,
    EntryRow.signature,
    EntryRow.scheme_json,
    EntryRow.doc,
    EntryRow.blob_sha256,
    EntryRow.python_version,
    EntryRow.package,
    EntryRow.package_version,
    EntryRow.created_at,
    EntryRow.created_by,
    EntryRow.source_file,
    EntryRow.source_line,
    EntryRow.seal_key_id,
    EntryRow.seal,
)


BLOB_COLUMNS = (
    BlobRow.data,
    BlobRow.sha256,
    BlobRow.format,
    BlobRow.python_version,
    BlobRow.pickler_version,
)


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def utc(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; the server wrote them in UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def entry_params(draft: EntryDraft) -> dict[str, Any]:
    """The ``entries`` column values of ``draft`` (without namespace and version)."""
    params: dict[str, Any] = {
        "identifier": draft.identifier,
        "origin": draft.origin,
        "blob_sha256": draft.blob.sha256 if draft.blob is not None else None,
        "scheme_json": None if draft.scheme is None else json.dumps(draft.scheme),
        "signature": draft.signature,
        "doc": draft.doc,
        "source_hash": draft.source_hash,
        "python_version": draft.python_version,
        "package": draft.package,
        "package_version": draft.package_version,
        # Imports from another store keep their provenance; new rows get ours.
        "created_by": (draft.created_by or current_user_host())[:255],
        "source_file": (
            None
            if draft.source_file is None
            else limits.fit_text(draft.source_file, limits.SOURCE_FILE)
        ),
        "source_line": draft.source_line,
        "seal_key_id": None if draft.seal is None else draft.seal.key_id,
        "seal": None if draft.seal is None else draft.seal.signature,
    }
    if draft.created_at is not None:
        # SQLite keeps no offset: store every timestamp in UTC.
        params["created_at"] = as_utc(draft.created_at)
    return params


def blob_params(blob: BlobDraft) -> dict[str, Any]:
    """The ``blobs`` column values of ``blob``."""
    return {
        "sha256": blob.sha256,
        "format": blob.format,
        "python_version": blob.python_version,
        "pickler_version": blob.pickler_version,
        "size": len(blob.data),
        "data": blob.data,
    }


class Statements:
    """The write-path statements, built once per store (building them costs more than running)."""

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        entries, heads, blobs = (metadata.tables[name] for name in ("entries", "heads", "blobs"))
        self.head = (
            select(*ENTRY_COLUMNS)
            .join(HeadRow, HeadRow.entry_id == EntryRow.id)
            .where(HeadRow.namespace_id == bindparam("ns_id"))
            .where(HeadRow.identifier == bindparam("ident"))
        )
        # Numbered inside the insert, under the namespace lock; the UNIQUE constraint backs it.
        next_version = (
            select(func.coalesce(func.max(EntryRow.version), 0) + 1)
            .where(EntryRow.namespace_id == bindparam("ns_id"))
            .where(EntryRow.identifier == bindparam("ident"))
            .scalar_subquery()
        )
        self.next_version = select(next_version)
        self.insert_entry = (
            insert(entries)
            .values(version=next_version)
            .returning(EntryRow.id, EntryRow.version, EntryRow.created_at)
        )
        # Explicit versions, many rows per statement, rows returned in parameter order.
        self.bulk_insert_entry = insert(entries).returning(
            EntryRow.id, EntryRow.created_at, sort_by_parameter_order=True
        )
        upsert = insert(heads)
        self.upsert_head = upsert.on_conflict_do_update(
            index_elements=[HeadRow.namespace_id, HeadRow.identifier],
            set_={"entry_id": upsert.excluded.entry_id},
        )
        self.insert_blob = insert(blobs).on_conflict_do_nothing(index_elements=[BlobRow.sha256])
        self.reseal = (
            update(EntryRow)
            .where(EntryRow.namespace_id == bindparam("ns_id"))
            .where(EntryRow.identifier == bindparam("ident"))
            .where(EntryRow.version == bindparam("entry_version"))
            .values(seal_key_id=bindparam("new_key_id"), seal=bindparam("new_seal"))
        )
        # FOR UPDATE serialises writers of one namespace on PostgreSQL; SQLite omits it and is
        # serialised by BEGIN IMMEDIATE instead.
        self.lock_namespace = (
            select(NamespaceRow.id, NamespaceRow.generation)
            .where(NamespaceRow.name == bindparam("name"))
            .with_for_update()
        )
        bump = (
            update(NamespaceRow)
            .where(NamespaceRow.id == bindparam("ns_id"))
            .values(generation=NamespaceRow.generation + bindparam("writes"))
        )
        if dialect == "postgresql":
            # Announce in the same round trip; delivered only if the transaction commits.
            payload = func.json_build_object(
                "ns", NamespaceRow.name, "g", NamespaceRow.generation
            ).cast(Text)
            self.bump = bump.returning(
                NamespaceRow.generation, func.pg_notify(NOTIFY_CHANNEL, payload)
            )
        else:
            self.bump = bump.returning(NamespaceRow.generation)


def entry_record(namespace: str, row: Any) -> EntryRecord:
    """Turn a row of :data:`ENTRY_COLUMNS` (or a mapping with those keys) into a record."""
    values = row if isinstance(row, dict) else row._mapping
    scheme_json = values["scheme_json"]
    seal = values["seal"]
    return EntryRecord(
        namespace=namespace,
        identifier=values["identifier"],
        version=values["version"],
        origin=values["origin"],
        source_hash=values["source_hash"],
        signature=values["signature"],
        scheme=None if scheme_json is None else json.loads(scheme_json),
        doc=values["doc"],
        blob_sha256=values["blob_sha256"],
        python_version=values["python_version"],
        package=values["package"],
        package_version=values["package_version"],
        created_at=utc(values["created_at"]),
        created_by=values["created_by"],
        source_file=values["source_file"],
        source_line=values["source_line"],
        seal=None if seal is None else Seal(values["seal_key_id"], seal, values["version"]),
    )
