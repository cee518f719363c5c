"""Bulk path of ``SqlStore.register_batch``: a few statements per 500 drafts, not 3 per draft.

Runs inside the caller's transaction after it locked the namespace row, so reading the current
heads first and deciding in Python is as atomic as the one-by-one path. Every draft is decided
(:func:`decide`) before anything is written, so a conflicting draft writes nothing and the other
drafts go on. Imports ``errors``, ``store.base``, ``store.models``, ``store.sql_statements``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from registry.errors import RegistryError
from registry.store.base import (
    EntryDraft,
    EntryRecord,
    Outcome,
    Registration,
    decide,
)
from registry.store.models import EntryRow, HeadRow
from registry.store.sql_statements import (
    ENTRY_COLUMNS,
    IN_CHUNK,
    Statements,
    blob_params,
    entry_params,
    entry_record,
)

__all__ = ["register_many"]


@dataclass
class _Plan:
    """What the batch will write, decided before writing."""

    namespace: str
    namespace_id: int
    results: list[Registration | RegistryError | tuple[int, Outcome]] = field(default_factory=list)
    """A final result, or (index of the planned entry row whose record it returns, outcome)."""
    entries: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)


def register_many(
    conn: Connection,
    statements: Statements,
    *,
    namespace: str,
    namespace_id: int,
    generation: int,
    drafts: Sequence[EntryDraft],
) -> tuple[list[Registration | RegistryError], int]:
    """Register ``drafts`` in the open transaction; return per-draft results and the writes."""
    identifiers = sorted({draft.identifier for draft in drafts})
    current = _current_heads(conn, namespace, namespace_id, identifiers)
    last_versions = _last_versions(conn, namespace_id, identifiers)
    plan = _plan(namespace, namespace_id, generation, drafts, known=(current, last_versions))
    if not plan.entries:
        return [r for r in plan.results if not isinstance(r, tuple)], 0
    return _write(conn, statements, plan), len(plan.entries)


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[start : start + IN_CHUNK] for start in range(0, len(items), IN_CHUNK)]


def _current_heads(
    conn: Connection, namespace: str, namespace_id: int, identifiers: Sequence[str]
) -> dict[str, EntryRecord]:
    heads: dict[str, EntryRecord] = {}
    for chunk in _chunks(identifiers):
        rows = conn.execute(
            select(*ENTRY_COLUMNS)
            .join(HeadRow, HeadRow.entry_id == EntryRow.id)
            .where(HeadRow.namespace_id == namespace_id, HeadRow.identifier.in_(chunk))
        )
        for row in rows:
            heads[row.identifier] = entry_record(namespace, row)
    return heads


def _last_versions(
    conn: Connection, namespace_id: int, identifiers: Sequence[str]
) -> dict[str, int]:
    # Unregistered identifiers keep their history: numbering goes on from the last version.
    versions: dict[str, int] = {}
    for chunk in _chunks(identifiers):
        rows = conn.execute(
            select(EntryRow.identifier, func.max(EntryRow.version))
            .where(EntryRow.namespace_id == namespace_id, EntryRow.identifier.in_(chunk))
            .group_by(EntryRow.identifier)
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
    plan = _Plan(namespace, namespace_id)
    planned_row: dict[str, int] = {}  # identifier -> index of its newest planned entry row
    for draft in drafts:
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
        # One head row per identifier (an upsert may not touch a row twice): the newest entry,
        # at the position of its first creation; an existing head keeps its position.
        planned_head = plan.heads.get(draft.identifier)
        position = planned_head["position"] if planned_head else generation + len(plan.entries)
        plan.heads[draft.identifier] = {"index": index, "position": position}
        current[draft.identifier] = entry_record(namespace, {**params, "created_at": None})
    return plan


def _write(
    conn: Connection, statements: Statements, plan: _Plan
) -> list[Registration | RegistryError]:
    if plan.blobs:
        conn.execute(statements.insert_blob, list(plan.blobs.values()))
    returned = conn.execute(statements.bulk_insert_entry, plan.entries).all()
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
            }
            for identifier, head in plan.heads.items()
        ],
    )
    return [
        Registration(records[result[0]], result[1]) if isinstance(result, tuple) else result
        for result in plan.results
    ]
