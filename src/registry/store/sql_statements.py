"""SQL building blocks shared by ``SqlStore`` and its bulk batch path.

The column lists, row-to-record mapping and the statements, which are built once per store
because building a statement costs more than running it. Imports ``store.base``,
``store.limits``, ``store.models``, ``store.sql_rows``, ``store.sql_direct`` (the notify
channel) and SQLAlchemy Core.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    bindparam,
    cast,
    column,
    delete,
    func,
    null,
    select,
    table,
    true,
    union_all,
    update,
)

from registry.store import limits
from registry.store.base import BlobDraft, EntryDraft, current_user_host, scheme_text
from registry.store.models import blobs, entries, heads, namespaces, tombstones
from registry.store.sql_direct import NOTIFY_CHANNEL
from registry.store.sql_rows import ENTRY_FIELDS, entry_record

__all__ = [
    "ANNOUNCED_BATCH_CHARS",
    "BLOB_COLUMNS",
    "ENTRY_COLUMNS",
    "IN_CHUNK",
    "Statements",
    "announced_batch",
    "as_utc",
    "blob_params",
    "create_entry_params",
    "entry_params",
    "entry_record",
    "write_entry_params",
]

#: PostgreSQL's catalog of relations, for the planner's row count of a table.
pg_class = table("pg_class", column("oid", Integer), column("reltuples", Float))

#: Longest ``IN (...)`` list sent at once (SQLite caps bound parameters; optuna#1457).
IN_CHUNK = 500

ENTRY_COLUMNS = tuple(entries.c[name] for name in ENTRY_FIELDS)

BLOB_COLUMNS = (
    blobs.c.data,
    blobs.c.sha256,
    blobs.c.format,
    blobs.c.python_version,
    blobs.c.pickler_version,
)

#: Columns of ``entries`` a registration writes: its namespace and every column a record reads
#: but ``created_at`` (that comes from the server, or from the draft when an import keeps its
#: provenance).
_WRITTEN = ("namespace_id", *(name for name in ENTRY_FIELDS if name != "created_at"))


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def entry_params(draft: EntryDraft) -> dict[str, Any]:
    """The ``entries`` column values of ``draft`` (without namespace and version)."""
    params: dict[str, Any] = {
        "identifier": draft.identifier,
        "origin": draft.origin,
        "blob_sha256": draft.blob.sha256 if draft.blob is not None else None,
        "scheme_json": scheme_text(draft),
        "signature": draft.signature,
        "doc": draft.doc,
        "source_hash": draft.source_hash,
        "python_version": draft.python_version,
        "package": draft.package,
        "package_version": draft.package_version,
        # Imports from another store keep their provenance; new rows get ours.
        "created_by": (draft.created_by or current_user_host())[: limits.CREATED_BY],
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


def _nulls(columns: Any) -> list[Any]:
    """A NULL named like each column: the other part's columns in a ``UNION ALL`` (PostgreSQL
    gives it the type of the column it stands beside)."""
    return [null().label(column.name) for column in columns]


class Statements:
    """The statements of the store, built once per store (building them costs more than running)."""

    def __init__(self, dialect: str) -> None:
        # Only the dialect in use: importing PostgreSQL's costs ~40 ms of a SQLite cold start.
        insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
        self.insert = insert
        ns_id = bindparam("namespace_id", type_=Integer)
        ident = bindparam("identifier", type_=String)

        # -- reads -----------------------------------------------------------------------------
        self.namespace_state = select(
            namespaces.c.id, namespaces.c.generation, namespaces.c.cleared_at
        ).where(namespaces.c.name == bindparam("name"))
        self.entry = (
            select(*ENTRY_COLUMNS)
            .join(heads, heads.c.entry_id == entries.c.id)
            .join(namespaces, namespaces.c.id == heads.c.namespace_id)
            .where(namespaces.c.name == bindparam("name"), heads.c.identifier == ident)
        )
        self.identifiers = (
            select(heads.c.identifier)
            .where(
                heads.c.namespace_id
                == select(namespaces.c.id)
                .where(namespaces.c.name == bindparam("name"))
                .scalar_subquery()
            )
            .order_by(heads.c.position)
        )
        self._catch_up_reads(dialect)

        # -- one registration: lock the namespace and read the identifier's state at once ---
        head = heads.alias("head")
        current = entries.alias("current")
        last_version = (
            select(func.max(entries.c.version))
            .where(entries.c.namespace_id == namespaces.c.id, entries.c.identifier == ident)
            .scalar_subquery()
        )
        tombstoned = (
            select(func.count())
            .where(tombstones.c.namespace_id == namespaces.c.id, tombstones.c.identifier == ident)
            .scalar_subquery()
        )
        # FOR UPDATE OF namespaces serialises writers of one namespace on PostgreSQL; SQLite
        # omits it and is serialised by BEGIN IMMEDIATE instead.
        self.lock_and_read = (
            select(
                namespaces.c.id,
                namespaces.c.generation,
                last_version.label("last_version"),
                tombstoned.label("tombstoned"),
                *(current.c[column.name] for column in ENTRY_COLUMNS),
            )
            .select_from(namespaces)
            .outerjoin(
                head, (head.c.namespace_id == namespaces.c.id) & (head.c.identifier == ident)
            )
            .outerjoin(current, current.c.id == head.c.entry_id)
            .where(namespaces.c.name == bindparam("name"))
            .with_for_update(of=namespaces)
        )
        self.lock_namespace = (
            select(namespaces.c.id, namespaces.c.generation)
            .where(namespaces.c.name == bindparam("name"))
            .with_for_update()
        )

        # -- writes ----------------------------------------------------------------------------
        self.insert_blob = insert(blobs).on_conflict_do_nothing(index_elements=[blobs.c.sha256])
        self.insert_entry = insert(entries).returning(entries.c.id, entries.c.created_at)
        # Many rows per statement, returned in parameter order (PostgreSQL).
        self.bulk_insert_entry = insert(entries).returning(
            entries.c.id, entries.c.created_at, sort_by_parameter_order=True
        )
        upsert = insert(heads)
        # A new version keeps the head's position (registration order); a new head takes it.
        self.upsert_head = upsert.on_conflict_do_update(
            index_elements=[heads.c.namespace_id, heads.c.identifier],
            set_={"entry_id": upsert.excluded.entry_id, "change": upsert.excluded.change},
        )
        # A signed write of unchanged bytes replaces the entry's seal and moves its head, so
        # listeners read the resealed record. (Parameters of an UPDATE may not be named like
        # the table's columns.)
        self.reseal = (
            update(entries)
            .where(
                entries.c.namespace_id == bindparam("where_namespace_id", type_=Integer),
                entries.c.identifier == bindparam("where_identifier", type_=String),
                entries.c.version == bindparam("where_version", type_=Integer),
            )
            .values(seal_key_id=bindparam("new_key_id"), seal=bindparam("new_seal"))
        )
        self.touch_head = (
            update(heads)
            .where(
                heads.c.namespace_id == bindparam("where_namespace_id", type_=Integer),
                heads.c.identifier == bindparam("where_identifier", type_=String),
            )
            .values(change=bindparam("new_change", type_=BigInteger))
        )
        self.untombstone = delete(tombstones).where(
            tombstones.c.namespace_id == ns_id, tombstones.c.identifier == ident
        )
        self.untombstone_many = delete(tombstones).where(
            tombstones.c.namespace_id == ns_id,
            tombstones.c.identifier.in_(bindparam("identifiers", expanding=True)),
        )
        self.tombstone_count = select(func.count()).where(tombstones.c.namespace_id == ns_id)
        removal = insert(tombstones)
        self.tombstone = removal.on_conflict_do_update(
            index_elements=[tombstones.c.namespace_id, tombstones.c.identifier],
            set_={"change": removal.excluded.change},
        )
        bump = (
            update(namespaces)
            .where(namespaces.c.id == ns_id)
            .values(
                generation=namespaces.c.generation + bindparam("writes", type_=BigInteger),
                size=namespaces.c.size + bindparam("added", type_=BigInteger),
            )
        )
        # A clear is one change: listeners holding less than it drop everything they hold.
        self.clear_mark = (
            update(namespaces)
            .where(namespaces.c.id == ns_id)
            .values(
                generation=namespaces.c.generation + 1,
                cleared_at=namespaces.c.generation + 1,
                size=0,
            )
        )
        if dialect == "postgresql":
            # Announce in the same round trip; delivered only if the transaction commits.
            self.bump = bump.returning(
                namespaces.c.generation,
                _notify(identifiers=bindparam("announced", type_=Text, value=None)),
            )
            self.clear_mark = self.clear_mark.returning(namespaces.c.generation, _notify())
            self.write_entry = self._write_entry_cte()
            self.write_row = self._write_entry_cte(bump=False)
            self.create_entry = self._create_entry_cte()
            # The rows the planner's statistics know in heads, and a namespace's identifiers.
            self.statistics_known = select(
                select(func.coalesce(pg_class.c.reltuples, -1))
                .where(pg_class.c.oid == func.to_regclass("heads"))
                .scalar_subquery(),
                namespaces.c.size,
            ).where(namespaces.c.name == bindparam("name"))
        else:
            self.bump = bump.returning(namespaces.c.generation)
            self.clear_mark = self.clear_mark.returning(namespaces.c.generation)
            # SQLAlchemy returns the rows of a many-row INSERT in parameter order only one
            # statement per row on SQLite (no sentinel column), so a batch inserts without
            # RETURNING and reads its rows back by id (see sql_batch._insert_entries).
            self.insert_entries = insert(entries)
            self.last_entry_id = select(func.max(entries.c.id))
            self.entries_after = (
                select(entries.c.id, entries.c.created_at)
                .where(entries.c.id > bindparam("after", type_=Integer))
                .order_by(entries.c.id)
            )

    def _catch_up_reads(self, dialect: str) -> None:
        """The reads of ``SqlStore.changes_since``: what changed after generation ``since``."""
        since = bindparam("since", type_=BigInteger)
        # By name, so that the reads need no answer from each other (on PostgreSQL they are
        # one statement).
        named = select(namespaces.c.id).where(namespaces.c.name == bindparam("name"))
        named_id = named.scalar_subquery()
        # Unordered: the caller sorts the few changed heads by position. With ORDER BY
        # position, a planner whose statistics predate the namespace's growth (a namespace
        # filled since the last ANALYZE) walked the (namespace_id, position) index and
        # filtered every head of the namespace (7 ms at 100,000) instead of reading the
        # changed ones from the (namespace_id, change) index (0.05 ms).
        self.changed_heads = (
            select(heads.c.position, *ENTRY_COLUMNS)
            .join(heads, heads.c.entry_id == entries.c.id)
            .where(heads.c.namespace_id == named_id, heads.c.change > since)
        )
        if dialect == "postgresql":
            # One index lookup per changed head: right after a large batch, stale statistics
            # made the planner hash-join against a scan of every entry (~10 ms at 100,000).
            # LIMIT 1 keeps the lateral subquery from being flattened back into that join.
            found = (
                select(*ENTRY_COLUMNS).where(entries.c.id == heads.c.entry_id).limit(1).lateral()
            )
            self.changed_heads = (
                select(heads.c.position, *(found.c[column.name] for column in ENTRY_COLUMNS))
                .select_from(heads)
                .join(found, true())
                .where(heads.c.namespace_id == named_id, heads.c.change > since)
            )
        self.removed = select(tombstones.c.identifier).where(
            tombstones.c.namespace_id == named_id, tombstones.c.change > since
        )
        if dialect == "postgresql":
            # The three reads as one statement, which sees one snapshot: sent alone in
            # autocommit, it needs no BEGIN ... COMMIT around it. Every server worker and
            # listening registry runs it for each burst of the others' writes; as three
            # statements in a pipelined transaction it cost the client ~1.7x the CPU. The first
            # part is the namespace's row (none: no namespace) with the removed identifiers and
            # NULL head columns; the second, one row per changed head with NULL namespace
            # columns.
            gone = (
                select(func.array_agg(tombstones.c.identifier).label("removed"))
                .where(tombstones.c.namespace_id == namespaces.c.id, tombstones.c.change > since)
                .lateral("gone")
            )
            state = (namespaces.c.generation, namespaces.c.cleared_at, gone.c.removed)
            self.changes = union_all(
                select(*_nulls(self.changed_heads.selected_columns), *state)
                .select_from(namespaces.join(gone, true()))
                .where(namespaces.c.name == bindparam("name")),
                self.changed_heads.add_columns(*_nulls(state)),
            )

    def _write_entry_cte(self, *, bump: bool = True) -> Any:
        """PostgreSQL: insert the entry, move the head, drop a tombstone and bump the
        generation (announcing it) in one statement, so a registration is two round trips.
        ``bump=False``: the same without the bump, for one row of a batch (which bumps once).

        Its parameters are named ``new_<column>`` (see :func:`write_entry_params`): SQLAlchemy
        adds execution parameters named like a table's columns to the ``SET`` of an
        ``UPDATE`` inside a CTE, and ``namespaces`` has columns named like those of ``entries``.
        """

        ns_id, ident = _new("namespace_id", Integer), _new("identifier", String)
        change = _new("change", BigInteger)
        values: dict[str, Any] = {name: _new(name, entries.c[name].type) for name in _WRITTEN}
        values["created_at"] = _created_at()
        new_entry = (
            self.insert(entries)
            .values(values)
            .returning(entries.c.id, entries.c.created_at)
            .cte("new_entry")
        )
        upsert = self.insert(heads).from_select(
            ["namespace_id", "identifier", "entry_id", "position", "change"],
            select(ns_id, ident, new_entry.c.id, change, change),
        )
        new_head = upsert.on_conflict_do_update(
            index_elements=[heads.c.namespace_id, heads.c.identifier],
            set_={"entry_id": upsert.excluded.entry_id, "change": upsert.excluded.change},
        ).cte("new_head")
        untombstone = (
            delete(tombstones)
            .where(tombstones.c.namespace_id == ns_id, tombstones.c.identifier == ident)
            .cte("untombstone")
        )
        if not bump:
            return select(new_entry.c.id, new_entry.c.created_at).add_cte(new_head, untombstone)
        bumped = (
            update(namespaces)
            .where(namespaces.c.id == ns_id)
            .values(
                generation=namespaces.c.generation + 1,
                size=namespaces.c.size + _new("added", BigInteger),
            )
            .returning(namespaces.c.generation, _notify(ident))
            .cte("bumped")
        )
        generation = select(bumped.c.generation).scalar_subquery()
        return select(new_entry.c.id, new_entry.c.created_at, generation).add_cte(
            new_head, untombstone
        )

    def _create_entry_cte(self) -> Any:
        """PostgreSQL: register an identifier that has no head, in one statement that needs
        nothing read beforehand, or write nothing and return the identifier's current entry.

        Sent alone in autocommit, it is a registration's whole transaction and one round trip
        for the two common cases, a new identifier and a definition run again unchanged. The
        statement locks the namespace row before anything else, as every writer does, and
        reads one snapshot, taken before it waited for that lock: the ``UPDATE`` of the
        generation bumps the latest value, which also places the head, and a writer that
        created the same identifier meanwhile makes the ``INSERT`` of the head (or of its
        version) fail on its unique key: nothing is written, and the caller replays.

        Returns no row when the namespace does not exist, else one row: the current entry's
        columns (all null when there is none) and ``created_at_new``, ``created_version``,
        ``generation`` and ``size`` (null when nothing was written). Parameters are named
        ``new_<column>`` and ``new_name`` (the namespace).
        """

        ident = _new("identifier", String)
        # Locked first, as every writer locks it before inserting: a writer holding it never
        # waits for an entry this statement inserted (a deadlock that would cost a second).
        namespace = (
            select(namespaces.c.id)
            .where(namespaces.c.name == _new("name", String))
            .with_for_update()
            .cte("namespace")
        )
        head = heads.alias("head")
        current = entries.alias("current")
        state = (
            select(namespace.c.id.label("namespace_id"), current)
            .select_from(namespace)
            .outerjoin(head, (head.c.namespace_id == namespace.c.id) & (head.c.identifier == ident))
            .outerjoin(current, current.c.id == head.c.entry_id)
            .cte("state")
        )
        last_version = (
            select(func.max(entries.c.version))
            .where(entries.c.namespace_id == state.c.namespace_id, entries.c.identifier == ident)
            .scalar_subquery()
        )
        columns = [name for name in _WRITTEN if name not in ("namespace_id", "version")]
        created_at = _created_at()
        new_entry = (
            self.insert(entries)
            .from_select(
                ["namespace_id", "version", *columns, "created_at"],
                select(
                    state.c.namespace_id,
                    func.coalesce(last_version, 0) + 1,
                    *(_new(name, entries.c[name].type) for name in columns),
                    created_at,
                ).where(state.c.id.is_(None)),
            )
            .returning(
                entries.c.id, entries.c.created_at, entries.c.version, entries.c.namespace_id
            )
            .cte("new_entry")
        )
        created_in = select(new_entry.c.namespace_id).scalar_subquery()
        bumped = (
            update(namespaces)
            .where(namespaces.c.id == created_in)
            .values(generation=namespaces.c.generation + 1, size=namespaces.c.size + 1)
            .returning(namespaces.c.generation, namespaces.c.size, _notify(ident))
            .cte("bumped")
        )
        new_head = (
            self.insert(heads)
            .from_select(
                ["namespace_id", "identifier", "entry_id", "position", "change"],
                select(
                    new_entry.c.namespace_id,
                    ident,
                    new_entry.c.id,
                    bumped.c.generation,
                    bumped.c.generation,
                ).select_from(new_entry.join(bumped, true())),
            )
            .cte("new_head")
        )
        untombstone = (
            delete(tombstones)
            .where(tombstones.c.namespace_id == created_in, tombstones.c.identifier == ident)
            .cte("untombstone")
        )
        return (
            select(
                *(state.c[name] for name in ENTRY_FIELDS),
                new_entry.c.created_at.label("created_at_new"),
                new_entry.c.version.label("created_version"),
                bumped.c.generation,
                bumped.c.size,
            )
            .select_from(state)
            .outerjoin(new_entry, true())
            .outerjoin(bumped, true())
            .add_cte(new_head, untombstone)
        )


def write_entry_params(
    params: dict[str, Any], *, change: int, added: int | None = None
) -> dict[str, Any]:
    """The parameters of :attr:`Statements.write_entry` (``added`` given) or
    :attr:`Statements.write_row` for the ``entries`` values ``params``."""
    named = {"created_at": None, **params, "change": change}
    if added is not None:
        named["added"] = added
    return _new_params(named)


def create_entry_params(namespace: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of :attr:`Statements.create_entry` for the ``entries`` values ``params``
    (without namespace id and version) of an entry of ``namespace``."""
    return _new_params({"created_at": None, **params, "name": namespace})


def _new(name: str, type_: Any) -> Any:
    """The parameter ``new_<name>`` of the write CTEs: SQLAlchemy adds execution parameters
    named like a table's columns to the ``SET`` of an ``UPDATE`` inside a CTE."""
    return bindparam(f"new_{name}", type_=type_)


def _new_params(named: dict[str, Any]) -> dict[str, Any]:
    return {f"new_{key}": value for key, value in named.items()}


def _created_at() -> Any:
    """The ``created_at`` of a written entry: the draft's (an import keeps it), else now."""
    return func.coalesce(_new("created_at", DateTime(timezone=True)), func.now())


def _notify(identifier: Any = None, *, identifiers: Any = None) -> Any:
    """``pg_notify`` of the updated namespace row, for the ``RETURNING`` of its update.

    ``identifier``: the one identifier a write that moves the generation by one registered. It
    goes into the payload as ``id``, so a listener that only caches can forget that identifier
    instead of reading what changed (see ``Watcher.announced_writes``); at most 255 characters,
    it keeps the payload well under PostgreSQL's 8,000 bytes. ``identifiers``: a JSON array
    (text, or null) of the identifiers a batch registered, one per generation it moved, in
    order (:func:`announced_batch`); it goes into the payload as ``ids``.
    """
    fields: list[Any] = ["ns", namespaces.c.name, "g", namespaces.c.generation]
    if identifier is not None:
        fields += ["id", identifier.cast(Text)]
    if identifiers is not None:
        fields += ["ids", cast(identifiers, JSON)]
    payload = func.json_build_object(*fields)
    return func.pg_notify(NOTIFY_CHANNEL, payload.cast(Text)).label("notified")


#: The longest JSON array of identifiers a batch's notification carries: with the namespace
#: (255 characters at most) and the generation, the payload stays under PostgreSQL's 8,000 bytes.
ANNOUNCED_BATCH_CHARS = 7_000


def announced_batch(identifiers: Sequence[str]) -> str | None:
    """The ``announced`` parameter of the bump of a batch that wrote one entry row per
    identifier of ``identifiers``, in order: their JSON array, or ``None`` when it would not
    fit in a notification (listeners then read what changed, as after any unannounced move)."""
    text = json.dumps(list(identifiers))  # ASCII only: its length is its size in bytes
    return text if len(text) <= ANNOUNCED_BATCH_CHARS else None
