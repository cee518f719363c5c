"""The ``Store`` contract against every backend: memory, SQLite (raw and cached), PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from registry.errors import RegistryError
from registry.store.base import (
    BlobDraft,
    ChangeSet,
    EntryDraft,
    EntryRecord,
    Outcome,
    Registration,
    Store,
)


def draft(
    identifier: str, origin: str | None = None, source: str = "v1", **extra: object
) -> EntryDraft:
    return EntryDraft(
        identifier=identifier,
        origin=origin or f"lab.mod:{identifier}",
        source_hash=hashlib.sha256(source.encode()).hexdigest(),
        **extra,  # type: ignore[arg-type]
    )


def blob(payload: bytes) -> BlobDraft:
    return BlobDraft(
        data=payload,
        sha256=hashlib.sha256(payload).hexdigest(),
        format="cloudpickle",
        python_version="3.11.7",
        pickler_version="3.0.0",
    )


def test_ensure_namespace_creates_once_and_checks_kind(store: Store, namespace: str) -> None:
    created = store.ensure_namespace(namespace, "function")
    assert (created.name, created.kind, created.size) == (namespace, "function", 0)
    again = store.ensure_namespace(namespace, "function")
    assert again.generation == created.generation
    with pytest.raises(RegistryError, match="holds function artifacts, not type"):
        store.ensure_namespace(namespace, "type")
    assert store.get_namespace(namespace) == again
    assert store.get_namespace(namespace + ".missing") is None


def test_register_then_read_back(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    result = store.register(
        namespace,
        draft(
            "focal",
            scheme={"type": "object", "properties": {"gamma": {"type": "number"}}},
            signature="(x, gamma=2.0)",
            doc="Focal loss.",
            python_version="3.11.7",
            package="mylab",
            package_version="1.2",
        ),
    )
    assert result.outcome is Outcome.CREATED
    record = store.get_entry(namespace, "focal")
    assert record is not None
    assert record == result.record or record.created_at is not None
    assert (record.identifier, record.version, record.origin) == ("focal", 1, "lab.mod:focal")
    assert record.scheme == {"type": "object", "properties": {"gamma": {"type": "number"}}}
    assert (record.signature, record.doc, record.package) == (
        "(x, gamma=2.0)",
        "Focal loss.",
        "mylab",
    )
    assert "@" in record.created_by
    assert isinstance(record.created_at, datetime) and record.created_at.tzinfo is not None
    assert store.get_entry(namespace, "missing") is None
    assert store.get_entry(namespace + ".missing", "focal") is None


def test_listing_keeps_registration_order(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    for name in ["c", "a", "b"]:
        store.register(namespace, draft(name))
    store.register(namespace, draft("c", source="v2"))  # a new version keeps its place
    assert [e.identifier for e in store.list_entries(namespace)] == ["c", "a", "b"]
    store.unregister(namespace, "a")
    store.register(namespace, draft("a"))  # re-created: goes to the end
    assert [e.identifier for e in store.list_entries(namespace)] == ["c", "b", "a"]
    assert store.list_entries(namespace + ".missing") == []


def test_same_definition_again_is_unchanged(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    first = store.register(namespace, draft("f"))
    generation = store.generations()[namespace]
    again = store.register(namespace, draft("f"))
    assert again.outcome is Outcome.UNCHANGED
    assert again.record.version == first.record.version == 1
    assert store.generations()[namespace] == generation


def test_changed_source_records_a_new_version(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, draft("f", source="v1"))
    second = store.register(namespace, draft("f", source="v2"))
    assert second.outcome is Outcome.NEW_VERSION
    assert second.record.version == 2
    current = store.get_entry(namespace, "f")
    assert current is not None and current.version == 2
    history = store.history(namespace, "f")
    assert [h.version for h in history] == [1, 2]
    assert history[0].source_hash != history[1].source_hash


def test_different_origin_conflicts_naming_both(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, draft("loss", origin="lab.a:focal"))
    with pytest.raises(RegistryError) as caught:
        store.register(namespace, draft("loss", origin="lab.b:dice"))
    assert "lab.a:focal" in str(caught.value) and "lab.b:dice" in str(caught.value)
    assert caught.value.context["existing_origin"] == "lab.a:focal"
    current = store.get_entry(namespace, "loss")
    assert current is not None and current.origin == "lab.a:focal"
    assert len(store.history(namespace, "loss")) == 1


def test_register_into_missing_namespace_raises(store: Store, namespace: str) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        store.register(namespace, draft("f"))


def test_unregister_keeps_history_and_numbers_on(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, draft("f"))
    assert store.unregister(namespace, "f") is True
    assert store.unregister(namespace, "f") is False
    assert store.unregister(namespace + ".missing", "f") is False
    assert store.get_entry(namespace, "f") is None
    assert len(store.history(namespace, "f")) == 1
    again = store.register(namespace, draft("f", origin="lab.other:f"))  # free again
    assert again.outcome is Outcome.CREATED and again.record.version == 2


def test_clear_removes_every_identifier(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    for name in "abc":
        store.register(namespace, draft(name))
    assert store.clear(namespace) == 3
    assert store.clear(namespace) == 0
    assert store.list_entries(namespace) == []
    namespace_record = store.get_namespace(namespace)
    assert namespace_record is not None and namespace_record.size == 0


def test_batch_reports_per_item_results(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, draft("taken", origin="lab.a:taken"))
    results = store.register_batch(
        namespace,
        [draft("x"), draft("taken", origin="lab.b:taken"), draft("y"), draft("x")],
    )
    assert isinstance(results[0], Registration) and results[0].outcome is Outcome.CREATED
    assert isinstance(results[1], RegistryError) and "lab.a:taken" in str(results[1])
    assert isinstance(results[2], Registration) and results[2].outcome is Outcome.CREATED
    assert isinstance(results[3], Registration) and results[3].outcome is Outcome.UNCHANGED
    assert [e.identifier for e in store.list_entries(namespace)] == ["taken", "x", "y"]
    with pytest.raises(RegistryError, match="does not exist"):
        store.register_batch(namespace + ".missing", [draft("z")])


def test_batch_versions_repeats_and_blobs(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, draft("old", source="v1"))
    store.register(namespace, draft("gone"))
    store.unregister(namespace, "gone")
    payload = blob(b"batch blob")
    results = store.register_batch(
        namespace,
        [
            draft("new", source="v1"),
            draft("old", source="v2"),
            draft("new", source="v2"),
            draft("new", source="v2"),
            draft("gone"),
            draft("lam", origin="__main__:<lambda>", blob=payload),
        ],
    )
    outcomes = [r.outcome if isinstance(r, Registration) else r for r in results]
    assert outcomes == [
        Outcome.CREATED,
        Outcome.NEW_VERSION,
        Outcome.NEW_VERSION,
        Outcome.UNCHANGED,
        Outcome.CREATED,
        Outcome.CREATED,
    ]
    versions = [r.record.version for r in results if isinstance(r, Registration)]
    assert versions == [1, 2, 2, 2, 2, 1]
    assert [e.identifier for e in store.list_entries(namespace)] == ["old", "new", "gone", "lam"]
    new = store.get_entry(namespace, "new")
    assert new is not None and new.version == 2 and new == results[2].record  # type: ignore[union-attr]
    assert [h.version for h in store.history(namespace, "new")] == [1, 2]
    assert store.get_blob(payload.sha256) is not None
    assert store.generations()[namespace] >= 5


def test_generation_moves_with_every_write_only(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    seen = [store.generations()[namespace]]

    def moved() -> bool:
        now = store.generations()[namespace]
        changed = now > seen[-1]
        seen.append(now)
        return changed

    store.register(namespace, draft("f"))
    assert moved()
    store.register(namespace, draft("f"))
    assert not moved()
    store.register(namespace, draft("f", source="v2"))
    assert moved()
    store.register_batch(namespace, [draft("g"), draft("h")])
    assert moved()
    store.unregister(namespace, "g")
    assert moved()
    store.unregister(namespace, "g")
    assert not moved()
    store.clear(namespace)
    assert moved()
    namespace_record = store.get_namespace(namespace)
    assert namespace_record is not None and namespace_record.generation == seen[-1]


def test_namespaces_are_listed_by_name_with_sizes(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace + ".b", "type")
    store.ensure_namespace(namespace + ".a", "scheme")
    store.register(namespace + ".b", draft("T"))
    listed = {n.name: n for n in store.list_namespaces() if n.name.startswith(namespace)}
    assert list(listed) == [namespace + ".a", namespace + ".b"]
    assert (listed[namespace + ".a"].kind, listed[namespace + ".a"].size) == ("scheme", 0)
    assert (listed[namespace + ".b"].kind, listed[namespace + ".b"].size) == ("type", 1)


def test_blobs_are_stored_once_by_content(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    payload = blob(b"\x80\x05pickled lambda")
    store.register(namespace, draft("l1", origin="__main__:<lambda>", blob=payload))
    store.register(namespace, draft("l2", origin="__main__:<lambda>", blob=payload))
    first = store.get_entry(namespace, "l1")
    assert first is not None and first.blob_sha256 == payload.sha256 and not first.importable
    stored = store.get_blob(payload.sha256)
    assert stored is not None
    assert (stored.data, stored.python_version, stored.pickler_version) == (
        payload.data,
        "3.11.7",
        "3.0.0",
    )
    assert store.get_blob("0" * 64) is None


def test_imported_provenance_is_kept(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    when = datetime(2024, 5, 17, 9, 30, tzinfo=timezone.utc)
    result = store.register(namespace, draft("f", created_by="ada@lab-1", created_at=when))
    stored = store.get_entry(namespace, "f")
    assert stored is not None
    assert (stored.created_by, stored.created_at) == ("ada@lab-1", when)
    assert (result.record.created_by, result.record.created_at) == ("ada@lab-1", when)


def test_two_lambdas_under_one_identifier_conflict(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, draft("l", origin="__main__:<lambda>", source="x + 1"))
    with pytest.raises(RegistryError):
        store.register(namespace, draft("l", origin="__main__:<lambda>", source="x * 2"))


def apply(view: dict[str, EntryRecord], changes: ChangeSet) -> dict[str, EntryRecord]:
    """What a listener holding ``view`` holds after applying ``changes`` (ChangeSet's recipe)."""
    result = {} if changes.cleared else dict(view)
    for identifier in changes.removed:
        result.pop(identifier, None)
    for record in changes.updated:
        result[record.identifier] = record
    for record in changes.added:
        result.pop(record.identifier, None)
        result[record.identifier] = record
    return result


def snapshot(store: Store, namespace: str) -> tuple[int, dict[str, EntryRecord]]:
    record = store.get_namespace(namespace)
    assert record is not None
    return record.generation, {r.identifier: r for r in store.list_entries(namespace)}


def test_changes_since_carries_only_what_moved(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register_batch(namespace, [draft("a"), draft("b"), draft("c"), draft("d")])
    since, view = snapshot(store, namespace)
    store.register(namespace, draft("e"))
    store.register(namespace, draft("a", source="v2"))
    store.unregister(namespace, "b")
    store.unregister(namespace, "c")
    store.register(namespace, draft("c", source="v3"))  # back, at the end of the order
    changes = store.changes_since(namespace, since)
    assert not changes.cleared
    assert [r.identifier for r in changes.added] == ["e", "c"]
    assert [(r.identifier, r.version) for r in changes.updated] == [("a", 2)]
    assert changes.removed == ("b",)
    generation, current = snapshot(store, namespace)
    assert changes.generation == generation
    after = apply(view, changes)
    assert list(after) == list(current) == ["a", "d", "e", "c"]
    assert after == current
    assert store.changes_since(namespace, generation) == ChangeSet(
        namespace, generation, generation
    )


def test_changes_since_a_clear_drop_everything_before_it(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register_batch(namespace, [draft("a"), draft("b")])
    since, view = snapshot(store, namespace)
    store.clear(namespace)
    store.register(namespace, draft("b", source="v2"))
    changes = store.changes_since(namespace, since)
    assert changes.cleared
    assert [(r.identifier, r.version) for r in changes.added] == [("b", 2)]
    assert apply(view, changes) == snapshot(store, namespace)[1]
    # A listener that started after the clear is not told to drop anything.
    assert not store.changes_since(namespace, changes.generation - 1).cleared


def test_changes_since_after_a_batch_and_for_a_missing_namespace(
    store: Store, namespace: str
) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, draft("a"))
    since, view = snapshot(store, namespace)
    store.register_batch(namespace, [draft("b"), draft("a", source="v2"), draft("c")])
    changes = store.changes_since(namespace, since)
    assert [r.identifier for r in changes.added] == ["b", "c"]
    assert [r.identifier for r in changes.updated] == ["a"]
    assert apply(view, changes) == snapshot(store, namespace)[1]
    missing = store.changes_since(namespace + ".missing", 0)
    assert (missing.generation, missing.records, missing.removed) == (0, (), ())


def test_changes_since_a_generation_beyond_any_stored_number(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, draft("a"))
    for since in (2**63, 10**30):  # beyond BIGINT: nothing changed after it
        changes = store.changes_since(namespace, since)
        assert (changes.records, changes.removed, changes.cleared) == ((), (), False)


def test_registrations_report_the_generation_they_wrote(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    first = store.register(namespace, draft("a"))
    assert first.generation == store.generations()[namespace]
    assert store.register(namespace, draft("a")).generation == 0  # unchanged: nothing written
    results = store.register_batch(namespace, [draft("b"), draft("a"), draft("c")])
    stamps = [r.generation for r in results if isinstance(r, Registration)]
    assert stamps == [first.generation + 1, 0, first.generation + 2]
    assert store.generations()[namespace] == first.generation + 2


def test_identifiers_and_sizes_follow_every_write(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register_batch(namespace, [draft("a"), draft("b"), draft("c")])
    store.register(namespace, draft("a", source="v2"))
    store.unregister(namespace, "b")
    store.register(namespace, draft("b"))
    assert store.list_identifiers(namespace) == ["a", "c", "b"]
    record = store.get_namespace(namespace)
    assert record is not None and record.size == 3
    store.clear(namespace)
    assert store.list_identifiers(namespace) == []
    record = store.get_namespace(namespace)
    assert record is not None and record.size == 0
    assert store.list_identifiers(namespace + ".missing") == []


def placed(
    line: int, defined_at: tuple[int, ...], source: str = "v1", **extra: object
) -> EntryDraft:
    """A draft of ``lab.mod:f`` defined at ``line`` of lab/mod.py, which defines ``f`` at
    ``defined_at``."""
    return draft(
        "f",
        source=source,
        source_file="lab/mod.py",
        source_line=line,
        definitions=tuple((at, f"hash{at}") for at in defined_at),
        **extra,
    )


def test_the_place_is_stored_and_read_back(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    result = store.register(namespace, placed(10, (10,)))
    stored = store.get_entry(namespace, "f")
    assert stored is not None
    assert (stored.source_file, stored.source_line) == ("lab/mod.py", 10)
    assert (result.record.source_file, result.record.source_line) == ("lab/mod.py", 10)
    assert [(r.source_file, r.source_line) for r in store.list_entries(namespace)] == [
        ("lab/mod.py", 10)
    ]


def test_a_second_definition_of_one_name_in_one_file_is_refused(
    store: Store, namespace: str
) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, placed(10, (10, 30)))
    with pytest.raises(RegistryError) as info:
        store.register(namespace, placed(30, (10, 30), source="v2"))
    error = info.value
    assert "lab/mod.py:10" in error.message and "lab/mod.py:30" in error.message
    assert "defines f at lines 10, 30" in error.message
    assert (error.context["existing_place"], error.context["new_place"]) == (
        "lab/mod.py:10",
        "lab/mod.py:30",
    )
    assert error.context["existing_source_hash"] != error.context["new_source_hash"]
    [result] = store.register_batch(namespace, [placed(30, (10, 30), source="v2")])
    assert isinstance(result, RegistryError)
    assert [r.source_line for r in store.history(namespace, "f")] == [10]


def test_the_same_place_again_or_a_moved_definition_is_a_new_version(
    store: Store, namespace: str
) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, placed(10, (10,)))
    assert store.register(namespace, placed(10, (10,))).outcome is Outcome.UNCHANGED
    edited = store.register(namespace, placed(10, (10,), source="v2"))
    assert edited.outcome is Outcome.NEW_VERSION
    # Lines were added above it: line 10 no longer defines f, so this is the same one, moved.
    moved = store.register(namespace, placed(14, (14,), source="v3"))
    assert moved.outcome is Outcome.NEW_VERSION
    assert moved.record.source_line == 14
    [batched] = store.register_batch(namespace, [placed(14, (14,), source="v3")])
    assert isinstance(batched, Registration) and batched.outcome is Outcome.UNCHANGED


def test_an_unknown_place_is_not_taken_for_a_duplicate(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, draft("f"))  # a row written before places were recorded
    assert store.register(namespace, placed(30, (10, 30))).outcome is Outcome.UNCHANGED
