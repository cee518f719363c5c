"""PostgreSQL: registrations announced with their identifier reach a cache without a read.

Each single registration's notification names the identifier it wrote. A ``CachedStore`` view
that nobody subscribed to for change sets, and that does not hold every record, forgets those
identifiers (read again on demand) instead of reading what changed; everything else (batches,
removals, clears, gaps) is read as before. Another ``SqlStore`` object stands in for another
process: its writes reach the listener through PostgreSQL's notifications all the same.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from registry.store.base import ChangeSet, EntryDraft, Store
from registry.store.cached import CachedStore
from registry.store.sql import SqlStore


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


@pytest.fixture
def namespace() -> str:
    return f"lab.announced_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def writer(pg_url: str, namespace: str) -> Iterator[SqlStore]:
    store = SqlStore(pg_url)
    store.ensure_namespace(namespace, "function")
    yield store
    store.close()


@pytest.fixture
def listener(pg_url: str, writer: SqlStore) -> Iterator[CachedStore]:
    del writer  # the namespace exists before the listener looks
    store = CachedStore(SqlStore(pg_url))
    yield store
    store.close()


def draft(identifier: str, source_hash: str = "1") -> EntryDraft:
    return EntryDraft(identifier, f"lab.mod:{identifier}", source_hash=source_hash)


def generation(store: Store, namespace: str) -> int:
    record = store.get_namespace(namespace)
    assert record is not None
    return record.generation


def test_a_cache_forgets_announced_registrations_instead_of_reading_them(
    writer: SqlStore, listener: CachedStore, namespace: str
) -> None:
    writer.register(namespace, draft("a"))
    assert listener.list_identifiers(namespace) == ["a"]
    first = listener.get_entry(namespace, "a")
    assert first is not None and first.version == 1
    assert listener.cached_entry(namespace, "a") == (True, first)

    writer.register(namespace, draft("b"))  # a new identifier
    writer.register(namespace, draft("a", source_hash="2"))  # a new version of a cached one
    writer.register(namespace, draft("z"))
    wait_for(lambda: "z" in listener.list_identifiers(namespace))

    # Known to have changed, not read: each is read when asked for.
    assert listener.cached_entry(namespace, "a") == (False, None)
    assert listener.cached_entry(namespace, "b") == (False, None)
    assert listener.list_identifiers(namespace) == ["a", "b", "z"]
    again = listener.get_entry(namespace, "a")
    assert again is not None and (again.version, again.source_hash) == (2, "2")
    assert listener.get_entry(namespace, "b") == writer.get_entry(namespace, "b")
    assert listener.cached_entry(namespace, "a") == (True, again)


def test_batches_removals_and_clears_are_read(
    writer: SqlStore, listener: CachedStore, namespace: str
) -> None:
    writer.register(namespace, draft("a"))
    assert listener.list_identifiers(namespace) == ["a"]
    writer.register_batch(namespace, [draft("b"), draft("c")])
    wait_for(lambda: "c" in listener.list_identifiers(namespace))
    assert listener.cached_entry(namespace, "b") == (True, writer.get_entry(namespace, "b"))

    writer.unregister(namespace, "a")
    wait_for(lambda: "a" not in listener.list_identifiers(namespace))
    assert listener.cached_entry(namespace, "a") == (True, None)

    writer.clear(namespace)
    wait_for(lambda: listener.list_identifiers(namespace) == [])
    assert listener.get_entry(namespace, "b") is None


def test_change_set_subscribers_still_get_the_records(
    writer: SqlStore, listener: CachedStore, namespace: str
) -> None:
    assert listener.list_identifiers(namespace) == []  # a view, which change sets are of
    heard: list[ChangeSet | None] = []
    unsubscribe = listener.watch_changes(namespace, heard.append)
    try:
        writer.register(namespace, draft("a"))
        wait_for(lambda: any(changes is not None and changes.records for changes in heard))
    finally:
        unsubscribe()
    records = [record for changes in heard if changes is not None for record in changes.records]
    assert [record.identifier for record in records] == ["a"]
    assert records[0] == writer.get_entry(namespace, "a")


def test_a_view_holding_every_record_reads_them(
    writer: SqlStore, listener: CachedStore, namespace: str
) -> None:
    writer.register(namespace, draft("a"))
    assert [record.identifier for record in listener.list_entries(namespace)] == ["a"]
    writer.register(namespace, draft("b"))
    wait_for(lambda: "b" in listener.list_identifiers(namespace))
    assert listener.cached_entry(namespace, "b") == (True, writer.get_entry(namespace, "b"))


def test_announced_writes_name_single_registrations_up_to_the_first_gap(
    pg_url: str, writer: SqlStore, namespace: str
) -> None:
    watching = SqlStore(pg_url)
    unwatch = watching.watch(lambda _changed: None)
    try:
        start = generation(writer, namespace)
        writer.register(namespace, draft("x"))
        writer.register(namespace, draft("x", source_hash="2"))
        wait_for(lambda: watching.announced_writes(namespace, start) == (start + 2, ["x", "x"]))
        assert watching.announced_writes(namespace, start + 1) == (start + 2, ["x"])
        assert watching.announced_writes(namespace, start + 2) == (start + 2, [])

        writer.register_batch(namespace, [draft("y1"), draft("y2")])  # one notification, no id
        writer.register(namespace, draft("w"))
        wait_for(lambda: watching.announced_writes(namespace, start + 4) == (start + 5, ["w"]))
        assert watching.announced_writes(namespace, start) is None
        assert watching.announced_writes(namespace, start + 3) is None

        writer.unregister(namespace, "w")
        wait_for(lambda: watching.announced_writes(namespace, start + 5) is None)
        # Ahead of what the watcher heard (this process's own view may be): nothing to tell.
        assert watching.announced_writes(namespace, start + 99) is None
    finally:
        unwatch()
        watching.close()


@pytest.mark.parametrize("seed", range(6))
def test_random_writes_leave_the_listener_answering_as_the_database(
    writer: SqlStore, listener: CachedStore, namespace: str, seed: int
) -> None:
    chance = random.Random(seed)
    live: list[str] = []
    versions: dict[str, int] = {}
    listener.list_identifiers(namespace)  # a listing view, filled with records as they are read
    for step in range(40):
        action = chance.random()
        # The listener writes too: its own writes are applied at once, possibly ahead of
        # others' writes it has not heard of yet, which must not disorder its listing.
        actor: Store = listener if chance.random() < 0.3 else writer
        if action < 0.45 or not live:
            identifier = f"n{step}"
            actor.register(namespace, draft(identifier))
            live.append(identifier)
        elif action < 0.7:
            identifier = chance.choice(live)
            versions[identifier] = versions.get(identifier, 1) + 1
            writer.register(namespace, draft(identifier, source_hash=str(versions[identifier])))
        elif action < 0.8:
            identifier = live.pop(chance.randrange(len(live)))
            actor.unregister(namespace, identifier)
        elif action < 0.97:
            batch = [f"b{step}_{index}" for index in range(chance.randint(2, 3))]
            writer.register_batch(namespace, [draft(identifier) for identifier in batch])
            live += batch
        else:
            writer.clear(namespace)
            live.clear()
        if live and chance.random() < 0.5:  # some records cached while changes arrive
            listener.get_entry(namespace, chance.choice(live))
    writer.register(namespace, draft("last"))
    live.append("last")
    wait_for(lambda: "last" in listener.list_identifiers(namespace))

    assert listener.list_identifiers(namespace) == writer.list_identifiers(namespace)
    for identifier in {*live, *versions}:
        assert listener.get_entry(namespace, identifier) == writer.get_entry(namespace, identifier)
