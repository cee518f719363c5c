"""PostgreSQL: registrations announced with their identifier reach a cache without a read.

Each registration's notification names the identifier it wrote, and a small batch's names all
of them. A ``CachedStore`` view that nobody subscribed to for change sets, and that does not
hold every record, forgets those identifiers (read again on demand) instead of reading what
changed; everything else (removals, clears, batches too large to name, gaps) is read as before. Another ``SqlStore`` object stands in for another
process: its writes reach the listener through PostgreSQL's notifications all the same.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from registry.store import cached
from registry.store.base import ChangeSet, EntryDraft, EntryRecord, Store
from registry.store.cached import CachedStore
from registry.store.sql import SqlStore
from registry.store.sql_statements import ANNOUNCED_BATCH_CHARS, announced_batch


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


class Gate(threading.Event):
    """Set: the watcher passes; clear: it waits (up to 10 s) before the cache hears anything.
    Each pass records what ``probe`` returns at that moment."""

    def __init__(self) -> None:
        super().__init__()
        self.set()
        self.probe: Callable[[], object] = lambda: None
        self.passed: list[object] = []

    def __call__(self, _changed: frozenset[str] | None) -> None:
        self.wait(10)
        self.passed.append(self.probe())


@pytest.fixture
def gated(pg_url: str) -> Iterator[tuple[SqlStore, Gate, CachedStore]]:
    """A server worker's cache (it keeps what it writes) whose watcher passes a gate before
    telling the cache what it heard."""
    inner = SqlStore(pg_url)
    gate = Gate()
    inner.watch(gate)  # called before the cache's own callback
    listener = CachedStore(inner, keep_written=True)
    yield inner, gate, listener
    gate.set()
    listener.close()


def ahead_of_b(
    writer: SqlStore, gated: tuple[SqlStore, Gate, CachedStore], namespace: str
) -> tuple[CachedStore, Gate, EntryRecord]:
    """Cache "a", then hold the watcher once it heard of "b": what the listener registers next
    lands ahead of "b" in its view. Returns the listener, the gate and the cached "a"."""
    inner, gate, listener = gated
    start = generation(writer, namespace)
    gate.probe = lambda: inner.announced_writes(namespace, start)
    writer.register(namespace, draft("a"))
    first = listener.get_entry(namespace, "a")
    assert first is not None
    # Close the gate only once the watcher passed it with "a": closed earlier, it would hold
    # "a" at the gate, and "b" would not be heard until it opened again.
    wait_for(lambda: (start + 1, ["a"]) in gate.passed)
    gate.clear()
    writer.register(namespace, draft("b"))
    wait_for(lambda: inner.announced_writes(namespace, start + 1) == (start + 2, ["b"]))
    return listener, gate, first


def test_a_cache_ahead_with_its_own_registrations_forgets_the_others(
    writer: SqlStore, gated: tuple[SqlStore, Gate, CachedStore], namespace: str
) -> None:
    """A server worker's view: it writes too, keeps what it wrote, and lists nothing. Its own
    registration lands while another process's is not applied yet; the catch-up forgets the
    other's registrations and keeps its own record."""
    listener, gate, first = ahead_of_b(writer, gated, namespace)
    own = listener.register(namespace, draft("own")).record
    writer.register(namespace, draft("a", source_hash="2"))
    gate.set()
    wait_for(lambda: listener.cached_entry(namespace, "a") != (True, first))

    # Forgotten, not read: each is read when asked for. The own record stays.
    assert listener.cached_entry(namespace, "a") == (False, None)
    assert listener.cached_entry(namespace, "b") == (False, None)
    assert listener.cached_entry(namespace, "own") == (True, own)
    for identifier in ("a", "b", "own"):
        assert listener.get_entry(namespace, identifier) == writer.get_entry(namespace, identifier)
    assert listener.list_identifiers(namespace) == ["a", "b", "own"]


def test_a_cache_too_far_ahead_with_its_own_registrations_reads(
    writer: SqlStore,
    gated: tuple[SqlStore, Gate, CachedStore],
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cached, "OWN_AHEAD_PER_VIEW", 2)
    listener, gate, first = ahead_of_b(writer, gated, namespace)
    listener.register_batch(namespace, [draft("own1"), draft("own2"), draft("own3")])
    writer.register(namespace, draft("a", source_hash="2"))
    gate.set()
    wait_for(lambda: listener.cached_entry(namespace, "a") != (True, first))
    for identifier in ("a", "b", "own3"):
        assert listener.cached_entry(namespace, identifier) == (
            True,
            writer.get_entry(namespace, identifier),
        )


def long_identifiers(count: int) -> list[str]:
    """``count`` identifiers of 250 characters: 30 of them are too many for a notification."""
    return [f"{index:03d}".ljust(250, "x") for index in range(count)]


def test_a_cache_forgets_the_registrations_of_a_small_batch(
    writer: SqlStore, listener: CachedStore, namespace: str
) -> None:
    writer.register(namespace, draft("a"))
    assert listener.list_identifiers(namespace) == ["a"]
    first = listener.get_entry(namespace, "a")
    # A new identifier, a new version of a cached one, and one written twice in the batch.
    batch = [draft("b"), draft("a", source_hash="2"), draft("c"), draft("c", source_hash="2")]
    writer.register_batch(namespace, batch)
    wait_for(lambda: "c" in listener.list_identifiers(namespace))

    for identifier in ("a", "b", "c"):
        assert listener.cached_entry(namespace, identifier) == (False, None)
    assert listener.list_identifiers(namespace) == ["a", "b", "c"]
    again = listener.get_entry(namespace, "a")
    assert first is not None and again is not None and again.version == first.version + 1
    c = listener.get_entry(namespace, "c")
    assert c is not None and (c.version, c.source_hash) == (2, "2")


def test_removals_clears_and_batches_too_large_to_name_are_read(
    writer: SqlStore, listener: CachedStore, namespace: str
) -> None:
    writer.register(namespace, draft("a"))
    assert listener.list_identifiers(namespace) == ["a"]
    large = long_identifiers(30)
    writer.register_batch(namespace, [draft(identifier) for identifier in large])
    wait_for(lambda: large[-1] in listener.list_identifiers(namespace))
    assert listener.cached_entry(namespace, large[0]) == (
        True,
        writer.get_entry(namespace, large[0]),
    )

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


def test_announced_writes_name_registrations_up_to_the_first_gap(
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

        # One notification naming each generation's identifier.
        writer.register_batch(namespace, [draft("y1"), draft("y2"), draft("y1", "2")])
        writer.register(namespace, draft("w"))
        wait_for(lambda: watching.announced_writes(namespace, start + 5) == (start + 6, ["w"]))
        assert watching.announced_writes(namespace, start) == (
            start + 6,
            ["x", "x", "y1", "y2", "y1", "w"],
        )
        assert watching.announced_writes(namespace, start + 3) == (start + 6, ["y2", "y1", "w"])

        writer.unregister(namespace, "w")
        wait_for(lambda: watching.announced_writes(namespace, start + 6) is None)
        writer.register(namespace, draft("v"))
        wait_for(lambda: watching.announced_writes(namespace, start + 7) == (start + 8, ["v"]))
        large = long_identifiers(30)  # one notification naming none of them
        writer.register_batch(namespace, [draft(identifier) for identifier in large])
        wait_for(lambda: watching.announced_writes(namespace, start + 7) is None)
        writer.register(namespace, draft("u"))
        after = start + 8 + len(large)
        wait_for(lambda: watching.announced_writes(namespace, after) == (after + 1, ["u"]))
        assert watching.announced_writes(namespace, start + 8) is None
        # Ahead of what the watcher heard (this process's own view may be): nothing to tell.
        assert watching.announced_writes(namespace, after + 99) is None
    finally:
        unwatch()
        watching.close()


@pytest.mark.parametrize("listing", [True, False], ids=["listing", "no-listing"])
@pytest.mark.parametrize("seed", range(6))
def test_random_writes_leave_the_listener_answering_as_the_database(
    writer: SqlStore, listener: CachedStore, namespace: str, seed: int, listing: bool
) -> None:
    chance = random.Random(seed)
    live: list[str] = []
    versions: dict[str, int] = {}
    if listing:  # a listing view, filled with records as they are read
        listener.list_identifiers(namespace)
    else:  # a view of records only, as a server worker's; listed only at the end
        listener.get_entry(namespace, "nothing")
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


def test_the_largest_batch_named_fits_a_notification_of_the_longest_namespace(
    pg_url: str, writer: SqlStore
) -> None:
    namespace = f"lab.{uuid.uuid4().hex}".ljust(255, "n")
    writer.ensure_namespace(namespace, "function")
    identifiers = [f"{index:02d}".ljust(246, "x") for index in range(28)]
    assert len(announced_batch(identifiers) or "") == ANNOUNCED_BATCH_CHARS
    watching = SqlStore(pg_url)
    unwatch = watching.watch(lambda _changed: None)
    try:
        start = generation(writer, namespace)
        writer.register_batch(namespace, [draft(identifier) for identifier in identifiers])
        wait_for(lambda: watching.announced_writes(namespace, start) is not None)
        assert watching.announced_writes(namespace, start) == (start + 28, identifiers)
    finally:
        unwatch()
        watching.close()
