"""Bulk paths of ``SqlStore.register_batch``: a few statements per 500 drafts, not 3 per draft.

:func:`register_many` runs inside the caller's transaction after it locked the namespace row, so
reading the current heads first and deciding in Python is as atomic as the one-by-one path.
:func:`register_few` (PostgreSQL, a few drafts: what a server worker's group commit writes) does
the same in two round trips: ``BEGIN`` with the lock and the read of each identifier, then one
statement per new row (entry, head, tombstone), one bump of the generation (with its
``NOTIFY``, which names the identifiers written when they fit) and the ``COMMIT``.
Every draft is decided (:func:`decide`) before anything is written, so a conflicting draft
writes nothing and the other drafts go on. Imports ``errors``, ``store.base``,
``store.models``, ``store.sql_driver``, ``store.sql_statements``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from registry.errors import RegistryError, StoreError
from registry.store.base import (
    EntryDraft,
    EntryRecord,
    Outcome,
    Registration,
    decide,
    missing_namespace_error,
)
from registry.store.models import entries, heads
from registry.store.sql_driver import DriverStatement, OwnTransaction
from registry.store.sql_statements import (
    ENTRY_COLUMNS,
    IN_CHUNK,
    Statements,
    announced_batch,
    blob_params,
    entry_params,
    entry_record,
    write_entry_params,
)

__all__ = ["register_few", "register_many"]


@dataclass
class _Plan:
    """What the batch will write, decided before writing."""

    namespace: str
    namespace_id: int
    generation: int
    results: list[Registration | RegistryError | tuple[int, Outcome]] = field(default_factory=list)
    """A final result, or (index of the planned entry row whose record it returns, outcome)."""
    entries: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: int = 0
    """How many identifiers the batch adds to the namespace."""


def register_many(
    conn: Connection,
    statements: Statements,
    *,
    namespace: str,
    namespace_id: int,
    generation: int,
    drafts: Sequence[EntryDraft],
) -> tuple[list[Registration | RegistryError], int, int]:
    """Register ``drafts`` in the open transaction.

    Returns the per-draft results, how many entry rows were written (the generation moves by
    that much) and how many identifiers were added.
    """
    identifiers = sorted({draft.identifier for draft in drafts})
    current = _current_heads(conn, namespace, namespace_id, identifiers)
    last_versions = _last_versions(conn, namespace_id, identifiers)
    plan = _plan(namespace, namespace_id, generation, drafts, known=(current, last_versions))
    if not plan.entries:
        return [r for r in plan.results if not isinstance(r, tuple)], 0, 0
    return _write(conn, statements, plan), len(plan.entries), plan.created


def register_few(
    own: OwnTransaction,
    *,
    lock: DriverStatement,
    read: DriverStatement,
    write_row: DriverStatement,
    bump: DriverStatement,
    namespace: str,
    drafts: Sequence[EntryDraft],
    moved: Callable[[int, int], None],
) -> list[Registration | RegistryError]:
    """Register ``drafts`` (without blobs) in the pipelined transaction ``own``: two round
    trips. ``moved(before, after)`` is told the generation's move before the ``COMMIT``
    leaves."""
    identifiers = sorted({draft.identifier for draft in drafts})
    # The lock first, alone: a read that waited for it would see the rows of its snapshot,
    # older than the writer it waited for; the reads after it see that writer's rows.
    steps = [(lock, {"name": namespace})]
    steps += [(read, {"name": namespace, "identifier": identifier}) for identifier in identifiers]
    locked, *states = own.begin_and_fetch_each(steps)
    if locked is None:
        raise missing_namespace_error(namespace)
    namespace_id, generation = int(locked["id"]), int(locked["generation"])
    current = {
        identifier: entry_record(namespace, state)
        for identifier, state in zip(identifiers, states, strict=True)
        if state["version"] is not None
    }
    last_versions = {
        identifier: int(state["last_version"])
        for identifier, state in zip(identifiers, states, strict=True)
        if state["last_version"] is not None
    }
    plan = _plan(namespace, namespace_id, generation, drafts, known=(current, last_versions))
    if not plan.entries:
        return _results(plan, [])
    writes = [
        (write_row, write_entry_params(params, change=generation + index + 1))
        for index, params in enumerate(plan.entries)
    ]
    count = {
        "namespace_id": namespace_id,
        "writes": len(writes),
        "added": plan.created,
        # Listeners that only cache forget these instead of reading what the batch wrote.
        "announced": announced_batch([params["identifier"] for params in plan.entries]),
    }
    moved(generation, generation + len(writes))
    returned = own.execute_each_and_commit([*writes, (bump, count)])
    records = [
        entry_record(namespace, {**params, "created_at": row[1]})
        for params, row in zip(plan.entries, returned, strict=False)  # the last is the bump's
    ]
    return _results(plan, records)


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[start : start + IN_CHUNK] for start in range(0, len(items), IN_CHUNK)]


def _current_heads(
    conn: Connection, namespace: str, namespace_id: int, identifiers: Sequence[str]
) -> dict[str, EntryRecord]:
    found: dict[str, EntryRecord] = {}
    for chunk in _chunks(identifiers):
        rows = conn.execute(
            select(*ENTRY_COLUMNS)
            .join(heads, heads.c.entry_id == entries.c.id)
            .where(heads.c.namespace_id == namespace_id, heads.c.identifier.in_(chunk))
        )
        for row in rows:
            found[row.identifier] = entry_record(namespace, row)
    return found


def _last_versions(
    conn: Connection, namespace_id: int, identifiers: Sequence[str]
) -> dict[str, int]:
    # Unregistered identifiers keep their history: numbering goes on from the last version.
    versions: dict[str, int] = {}
    for chunk in _chunks(identifiers):
        rows = conn.execute(
            select(entries.c.identifier, func.max(entries.c.version))
            .where(entries.c.namespace_id == namespace_id, entries.c.identifier.in_(chunk))
            .group_by(entries.c.identifier)
        )
        versions.update({str(identifier): int(version) for identifier, version in rows})
    return versions


def _plan(
    namespace: str,
    namespace_id: int,
    generation: int,
    drafts: Sequence[EntryDraft],
    *,
    known: tuple[dict[str, EntryRecord], dict[str, int]],
) -> _Plan:
    current, last_versions = known  # current heads and last versions, updated as we plan
    plan = _Plan(namespace, namespace_id, generation)
    planned_row: dict[str, int] = {}  # identifier -> index of its newest planned entry row
    unread: set[str] = set()  # planned identifiers whose newest row is not in ``current`` yet
    for draft in drafts:
        if draft.identifier in unread:  # repeated in this batch: decide against its planned row
            unread.discard(draft.identifier)
            params = plan.entries[planned_row[draft.identifier]]
            current[draft.identifier] = entry_record(namespace, {**params, "created_at": None})
        try:
            outcome = decide(namespace, current.get(draft.identifier), draft)
        except RegistryError as error:
            plan.results.append(error)
            continue
        if outcome is Outcome.UNCHANGED:
            row = planned_row.get(draft.identifier)
            head = current[draft.identifier]
            # A draft repeated in one batch: the first one writes, the repeat is unchanged.
            plan.results.append(Registration(head, outcome) if row is None else (row, outcome))
            continue
        version = last_versions.get(draft.identifier, 0) + 1
        last_versions[draft.identifier] = version
        params = {**entry_params(draft), "namespace_id": namespace_id, "version": version}
        index = len(plan.entries)
        plan.entries.append(params)
        plan.results.append((index, outcome))
        planned_row[draft.identifier] = index
        if draft.blob is not None:
            plan.blobs.setdefault(draft.blob.sha256, blob_params(draft.blob))
        # Each written row is one generation step. One head row per identifier (an upsert may
        # not touch a row twice): the newest entry, at the position of its first creation; an
        # existing head keeps its position.
        change = generation + index + 1
        planned_head = plan.heads.get(draft.identifier)
        if planned_head is not None:
            position = planned_head["position"]
        elif draft.identifier in current:
            position = 0  # not written: the upsert keeps the existing head's position
        else:
            position = change
            plan.created += 1
        plan.heads[draft.identifier] = {"index": index, "position": position, "change": change}
        unread.add(draft.identifier)  # a record only if the identifier comes again
    return plan


def _write(
    conn: Connection, statements: Statements, plan: _Plan
) -> list[Registration | RegistryError]:
    if plan.blobs:
        conn.execute(statements.insert_blob, list(plan.blobs.values()))
    returned = _insert_entries(conn, statements, plan.entries)
    records = []
    entry_ids = []
    for params, (entry_id, created_at) in zip(plan.entries, returned, strict=True):
        entry_ids.append(entry_id)
        records.append(entry_record(plan.namespace, {**params, "created_at": created_at}))
    conn.execute(
        statements.upsert_head,
        [
            {
                "namespace_id": plan.namespace_id,
                "identifier": identifier,
                "entry_id": entry_ids[head["index"]],
                "position": head["position"],
                "change": head["change"],
            }
            for identifier, head in plan.heads.items()
        ],
    )
    if conn.execute(statements.tombstone_count, {"namespace_id": plan.namespace_id}).scalar():
        for chunk in _chunks(list(plan.heads)):
            conn.execute(
                statements.untombstone_many,
                {"namespace_id": plan.namespace_id, "identifiers": list(chunk)},
            )

    return _results(plan, records)


def _insert_entries(
    conn: Connection, statements: Statements, rows: list[dict[str, Any]]
) -> Sequence[Any]:
    """Insert the entry ``rows``; return their ``(id, created_at)`` in the order of ``rows``."""
    if conn.dialect.name != "sqlite":
        return conn.execute(statements.bulk_insert_entry, rows).all()
    # This transaction holds SQLite's write lock, and SQLite numbers new rows of an INTEGER
    # PRIMARY KEY table above its largest id, in the order they are inserted: the rows above
    # the largest id before the insert are these, in this order. (10,000 rows: 3 statements
    # instead of 10,000.)
    last = conn.execute(statements.last_entry_id).scalar() or 0
    conn.execute(statements.insert_entries, rows)
    returned = conn.execute(statements.entries_after, {"after": last}).all()
    if len(returned) != len(rows):  # the ids ran out of order: roll back rather than guess
        raise StoreError(
            f"SQLite numbered {len(rows)} new entries out of order ({len(returned)} above the "
            f"largest id {last}); the batch was not written",
            suggestions=["Register these artifacts one by one, and report this as a bug"],
            context={"rows": len(rows), "read_back": len(returned), "largest_id": last},
        )
    return returned


def _results(plan: _Plan, records: list[EntryRecord]) -> list[Registration | RegistryError]:
    """The result of each draft, given the records of the rows ``plan`` wrote."""

    def final(planned: Registration | RegistryError | tuple[int, Outcome]) -> Any:
        if not isinstance(planned, tuple):
            return planned
        index, outcome = planned
        # Row ``index`` moved the generation to generation + index + 1; a repeat wrote nothing.
        written = outcome is not Outcome.UNCHANGED
        return Registration(records[index], outcome, plan.generation + index + 1 if written else 0)

    return [final(planned) for planned in plan.results]
