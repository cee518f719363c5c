"""SQLite writes a small batch draft by draft and a large one with bulk statements
(``SqlStore.register_batch``): both must decide, number and record alike."""

from __future__ import annotations

from typing import Any

import pytest

from registry.store import sql
from registry.store.base import EntryDraft, RegistryError
from registry.store.sql import SqlStore


def scenario(store: SqlStore, namespace: str) -> dict[str, Any]:
    """A batch of new, new version, conflict, repeat, unchanged and unregistered-then-back
    drafts over a namespace with history; what a client can observe of its outcome."""
    store.ensure_namespace(namespace, "function")
    store.register(namespace, EntryDraft("same", "lab.mod:same", source_hash="a"))
    store.register(namespace, EntryDraft("taken", "lab.mod:taken", source_hash="a"))
    store.register(namespace, EntryDraft("gone", "lab.mod:gone", source_hash="a"))
    store.unregister(namespace, "gone")
    before = store.get_namespace(namespace)
    assert before is not None
    drafts = [
        EntryDraft("fresh", "lab.mod:fresh", source_hash="a", doc="first"),
        EntryDraft("same", "lab.mod:same", source_hash="b"),
        EntryDraft("taken", "lab.other:taken", source_hash="z"),  # another artifact
        EntryDraft("fresh", "lab.mod:fresh", source_hash="c"),
        EntryDraft("same", "lab.mod:same", source_hash="b"),  # repeated: unchanged
        EntryDraft("gone", "lab.mod:gone", source_hash="b"),  # back after its unregister
        EntryDraft("taken", "lab.mod:taken", source_hash="a"),  # unchanged
    ]
    results = store.register_batch(namespace, drafts)
    after = store.get_namespace(namespace)
    assert after is not None
    changes = store.changes_since(namespace, before.generation)

    def seen(result: Any) -> Any:
        if isinstance(result, RegistryError):
            return ("error", result.message.replace(namespace, "NS"))
        record = result.record
        moved = result.generation - before.generation if result.generation else 0
        return (result.outcome, record.identifier, record.version, record.source_hash, moved)

    return {
        "results": [seen(result) for result in results],
        "generation": after.generation - before.generation,
        "size": (before.size, after.size),
        "identifiers": store.list_identifiers(namespace),
        "history": {
            name: [(e.version, e.source_hash, e.doc) for e in store.history(namespace, name)]
            for name in ("fresh", "same", "taken", "gone")
        },
        "added": sorted(r.identifier for r in changes.added),
        "updated": sorted(r.identifier for r in changes.updated),
        "removed": sorted(changes.removed),
    }


def test_small_and_bulk_batches_decide_and_write_alike(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlStore(sqlite_url)
    draft_by_draft = scenario(store, "lab.each")
    monkeypatch.setattr(sql, "SQLITE_EACH_BATCH", 0)  # every batch takes the bulk statements
    bulk = scenario(store, "lab.bulk")
    assert draft_by_draft == bulk
    # and what they agree on is right
    assert [getattr(result[0], "name", result[0]) for result in bulk["results"]] == [
        "CREATED",
        "NEW_VERSION",
        "error",
        "NEW_VERSION",
        "UNCHANGED",
        "CREATED",
        "UNCHANGED",
    ]
    assert (bulk["generation"], bulk["size"]) == (4, (2, 4))
    assert bulk["history"]["fresh"] == [(1, "a", "first"), (2, "c", "")]
    assert bulk["history"]["gone"] == [(1, "a", ""), (2, "b", "")]
    assert (bulk["added"], bulk["updated"], bulk["removed"]) == (["fresh", "gone"], ["same"], [])
