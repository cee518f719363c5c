"""``CachedStore``: hits without I/O, own writes applied at once, invalidation by the watcher."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry.store.base import EntryDraft
from registry.store.cached import CachedStore
from registry.store.sql import SqlStore


def wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_hits_are_served_without_the_database(sqlite_url: str) -> None:
    inner = SqlStore(sqlite_url)
    cached = CachedStore(inner)
    cached.ensure_namespace("lab.a", "function")
    cached.register("lab.a", EntryDraft("f", "lab.mod:f"))
    assert cached.get_entry("lab.a", "f") is not None
    inner.close()
    from registry.store.engines import dispose_engine

    dispose_engine(sqlite_url)  # any query now would open a new connection
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    database.rename(database.with_name("moved.db"))  # ... and create an empty file here
    for _ in range(3):
        record = cached.get_entry("lab.a", "f")
        assert record is not None and record.origin == "lab.mod:f"
    assert not database.exists()


def test_own_writes_update_the_cache_at_once(sqlite_url: str) -> None:
    cached = CachedStore(SqlStore(sqlite_url))
    cached.ensure_namespace("lab.a", "function")
    assert cached.list_entries("lab.a") == []
    cached.register("lab.a", EntryDraft("f", "lab.mod:f"))
    cached.register_batch("lab.a", [EntryDraft("g", "lab.mod:g")])
    assert [e.identifier for e in cached.list_entries("lab.a")] == ["f", "g"]
    cached.unregister("lab.a", "f")
    assert [e.identifier for e in cached.list_entries("lab.a")] == ["g"]
    cached.clear("lab.a")
    assert cached.list_entries("lab.a") == []
    cached.close()


def test_other_writers_invalidate_and_subscribers_hear_it(sqlite_url: str) -> None:
    # Another store object stands in for another process (test_multiprocess does it for real):
    # its writes go through other pooled connections, which the watcher's connection sees.
    other = SqlStore(sqlite_url)
    other.ensure_namespace("lab.a", "function")
    other.ensure_namespace("lab.b", "function")
    cached = CachedStore(SqlStore(sqlite_url))
    assert cached.get_entry("lab.a", "f") is None
    assert cached.get_entry("lab.b", "f") is None
    heard: list[frozenset[str] | None] = []
    got = threading.Event()

    def subscriber(changed: frozenset[str] | None) -> None:
        heard.append(changed)
        got.set()

    unsubscribe = cached.watch(subscriber)
    other.register("lab.a", EntryDraft("f", "lab.mod:f"))
    wait_for(lambda: cached.get_entry("lab.a", "f") is not None)
    assert got.wait(5)
    assert any(changed is not None and "lab.a" in changed for changed in heard)
    assert all(changed is None or "lab.b" not in changed for changed in heard)
    unsubscribe()
    cached.close()


def _child_waits_for_entry(url: str, ready, go, result) -> None:  # type: ignore[no-untyped-def]
    from registry.store import open_store

    store = open_store(url)  # inherited from the parent through fork
    result.put(store.get_entry("lab.fork", "late") is None)
    ready.set()
    go.wait(10)
    deadline = time.monotonic() + 10
    while store.get_entry("lab.fork", "late") is None:
        if time.monotonic() > deadline:
            result.put(False)
            return
        time.sleep(0.01)
    result.put(True)


def test_a_forked_child_keeps_receiving_changes(sqlite_url: str) -> None:
    import multiprocessing

    from registry.store import open_store

    store = open_store(sqlite_url)
    store.ensure_namespace("lab.fork", "function")
    assert store.get_entry("lab.fork", "late") is None
    context = multiprocessing.get_context("fork")
    ready, go, result = context.Event(), context.Event(), context.Queue()
    child = context.Process(target=_child_waits_for_entry, args=(sqlite_url, ready, go, result))
    child.start()
    assert ready.wait(10)
    store.register("lab.fork", EntryDraft("late", "lab.mod:late"))
    go.set()
    child.join(20)
    assert child.exitcode == 0
    assert result.get(timeout=1) is True  # the child's cache was empty...
    assert result.get(timeout=1) is True  # ...and the parent's write reached it


class _CatchUpPausedInParent(SqlStore):
    """A real SQLite store whose catch-up of the entry ``late`` in the parent process waits
    for ``release``: a child forked meanwhile starts while the parent's watcher thread holds
    the view's lock, in the middle of a catch-up, with that change already counted as seen by
    the watcher the child inherits (what a fork can meet at any time)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.parent = os.getpid()
        self.paused, self.release = threading.Event(), threading.Event()

    def changes_since(self, namespace: str, generation: int):  # type: ignore[no-untyped-def]
        changes = super().changes_since(namespace, generation)
        late = any(record.identifier == "late" for record in changes.records)
        if late and os.getpid() == self.parent:
            self.paused.set()
            self.release.wait(10)
        return changes


def _child_reads_entry(store: CachedStore, result) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while store.get_entry("lab.fork", "late") is None:
        if time.monotonic() > deadline:
            result.put("stale")
            return
        time.sleep(0.01)
    store.register("lab.fork", EntryDraft("child", "lab.mod:child"))  # the view's lock is free
    result.put("caught up")


def test_a_child_forked_during_a_catch_up_catches_up(sqlite_url: str) -> None:
    import multiprocessing

    inner = _CatchUpPausedInParent(sqlite_url)
    cached = CachedStore(inner)
    cached.ensure_namespace("lab.fork", "function")
    assert cached.get_entry("lab.fork", "late") is None  # known absent: kept in the view
    SqlStore(sqlite_url).register("lab.fork", EntryDraft("late", "lab.mod:late"))
    assert inner.paused.wait(5)  # the watcher's catch-up holds the view's lock now
    context = multiprocessing.get_context("fork")
    result = context.Queue()
    child = context.Process(target=_child_reads_entry, args=(cached, result))
    child.start()
    inner.release.set()
    child.join(20)
    assert child.exitcode == 0
    assert result.get(timeout=1) == "caught up"
    wait_for(lambda: cached.get_entry("lab.fork", "child") is not None)
    cached.close()


def _child_registers(url: str, result) -> None:  # type: ignore[no-untyped-def]
    store = SqlStore(url)  # SQLite's own locks are free here: sqlite3.connect, then a write
    store.register("lab.gate", EntryDraft("child", "lab.mod:child"))
    result.put(store.get_entry("lab.gate", "child") is not None)


@contextlib.contextmanager
def _watcher_inside(url: str, subscriber: Callable[[], None]) -> Iterator[None]:
    """A SQLite store whose watcher thread, told of another store's write, runs ``subscriber``
    (inside its SQLite section) when the block starts."""
    store = SqlStore(url)
    store.ensure_namespace("lab.gate", "function")
    inside = threading.Event()

    def call(changed: frozenset[str] | None) -> None:
        inside.set()
        subscriber()

    unsubscribe = store.watch(call)
    SqlStore(url).register("lab.gate", EntryDraft("theirs", "lab.mod:theirs"))
    assert inside.wait(5)
    try:
        yield
    finally:
        unsubscribe()
        store.close()


def test_a_fork_waits_until_the_sqlite_watcher_thread_is_out_of_sqlite(sqlite_url: str) -> None:
    # A child forked while another thread held one of SQLite's library-wide mutexes blocks at
    # its first SQLite call. The watcher thread runs its subscribers inside its SQLite section,
    # so a subscriber that takes its time shows whether a fork waits for that section to end.
    import multiprocessing

    leave = threading.Event()
    left: list[float] = []

    def slow_subscriber() -> None:
        leave.wait(10)
        left.append(time.monotonic())

    with _watcher_inside(sqlite_url, slow_subscriber):
        threading.Timer(0.3, leave.set).start()
        context = multiprocessing.get_context("fork")
        result = context.Queue()
        child = context.Process(target=_child_registers, args=(sqlite_url, result))
        child.start()
        forked_at = time.monotonic()
        assert left and left[0] <= forked_at  # the fork waited for the subscriber to return
        child.join(20)
        assert child.exitcode == 0
        assert result.get(timeout=1) is True


def test_a_fork_waits_for_the_sqlite_watcher_a_bounded_time(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import multiprocessing

    from registry.store import watch

    monkeypatch.setattr(watch, "FORK_WAIT_S", 0.2)
    leave = threading.Event()
    with _watcher_inside(sqlite_url, lambda: leave.wait(10)):
        child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(0,))
        child.start()  # the subscriber still runs: the fork goes ahead after FORK_WAIT_S
        assert not leave.is_set()
        child.join(20)
        assert child.exitcode == 0
        assert "inside SQLite for 0.2 s" in caplog.text
        leave.set()


@pytest.fixture(params=["sqlite", "postgres"])
def any_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(request.getfixturevalue("sqlite_url"))


def test_own_writes_are_not_echoed_but_others_are(any_url: str) -> None:
    namespace = f"lab.echo_{uuid.uuid4().hex[:6]}"
    other = SqlStore(any_url)
    other.ensure_namespace(namespace, "function")
    cached = CachedStore(SqlStore(any_url))
    heard: list[frozenset[str] | None] = []
    cached.watch(heard.append)

    cached.register(namespace, EntryDraft("mine", "lab.mod:mine"))
    cached.register_batch(namespace, [EntryDraft("mine2", "lab.mod:mine2")])
    cached.unregister(namespace, "mine2")
    time.sleep(0.3)  # many poll intervals / notification round trips
    assert not [h for h in heard if h is None or namespace in h]
    assert cached.get_entry(namespace, "mine") is not None

    other.register(namespace, EntryDraft("theirs", "lab.mod:theirs"))
    wait_for(lambda: any(h is None or namespace in h for h in heard))
    wait_for(lambda: cached.get_entry(namespace, "theirs") is not None)
    cached.close()
    other.close()


def test_only_exactly_our_moves_are_skipped(sqlite_url: str) -> None:
    from registry.store.watch import SqliteWatcher

    SqlStore(sqlite_url)  # creates the file and schema
    watcher = SqliteWatcher(
        sqlite_url, Path(sqlite_url.removeprefix("sqlite:///"))
    )  # not started: exercise the bookkeeping only
    watcher.note_own_write("ns", 0, 1)
    assert not watcher._is_foreign("ns", 0, 1)  # ours
    assert watcher._is_foreign("ns", 0, 1)  # consumed: the same move again is someone else's
    watcher.note_own_write("ns", 1, 2)
    assert watcher._is_foreign("ns", 1, 3)  # ours was 1->2, someone else made 2->3
    watcher.note_own_write("ns", 5, 6, pid=111)
    assert watcher._is_foreign("ns", 5, 6, pid=222)  # same numbers, another backend
    assert not watcher._is_foreign("ns", 5, 6, pid=111)
    watcher.note_own_write("ns", 7, 8, pid=111)
    watcher.retract_own_write("ns", 7)  # rolled back
    assert watcher._is_foreign("ns", 7, 8, pid=111)
    assert watcher._is_foreign("other", None, 1)


class PausedLookups(SqlStore):
    """A real store whose ``get_entry`` reads, then waits before answering: a lookup in flight
    while the test writes, as a server thread's read is under concurrent registrations."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.paused: str | None = None  # the identifier whose lookups wait
        self.read = threading.Event()
        self.answer = threading.Event()

    def get_entry(self, namespace: str, identifier: str):  # type: ignore[no-untyped-def]
        found = super().get_entry(namespace, identifier)
        if identifier == self.paused:
            self.read.set()
            assert self.answer.wait(10)
        return found


def lookup_in_flight(cached: CachedStore, inner: PausedLookups, identifier: str, write) -> object:  # type: ignore[no-untyped-def]
    """Start ``cached.get_entry`` of ``identifier``, run ``write`` while it is in flight, and
    return what the lookup answered."""
    answers: list[object] = []
    inner.paused = identifier
    reader = threading.Thread(target=lambda: answers.append(cached.get_entry("lab.a", identifier)))
    reader.start()
    assert inner.read.wait(10)
    write()
    inner.answer.set()
    reader.join(10)
    inner.paused = None
    return answers[0]


def test_a_lookup_is_kept_when_other_identifiers_changed_meanwhile(sqlite_url: str) -> None:
    # Under load (a server answering gets while others register), a write of another
    # identifier lands during almost every lookup: the lookup must still fill the cache.
    inner = PausedLookups(sqlite_url)
    cached = CachedStore(inner)
    cached.ensure_namespace("lab.a", "function")
    cached.register("lab.a", EntryDraft("f", "lab.mod:f", source_hash="v1"))
    other = SqlStore(sqlite_url)  # another process's write, seen through the watcher
    cached.get_entry("lab.a", "nothing")  # the view exists before the lookup starts

    def writes() -> None:
        cached.register("lab.a", EntryDraft("g", "lab.mod:g"))
        cached.unregister("lab.a", "nothing")
        other.register("lab.a", EntryDraft("h", "lab.mod:h"))
        wait_for(lambda: cached.get_entry("lab.a", "h") is not None)

    found = lookup_in_flight(cached, inner, "f", writes)
    assert found is not None
    assert cached.cached_entry("lab.a", "f") == (True, found)
    cached.close()


@pytest.mark.parametrize("change", ["own write", "other process", "unregister", "clear"])
def test_a_lookup_overtaken_by_a_change_of_its_identifier_is_not_kept(
    sqlite_url: str, change: str
) -> None:
    inner = PausedLookups(sqlite_url)
    cached = CachedStore(inner)
    cached.ensure_namespace("lab.a", "function")
    cached.register("lab.a", EntryDraft("f", "lab.mod:f", source_hash="v1"))
    other = SqlStore(sqlite_url)
    cached.get_entry("lab.a", "nothing")

    def writes() -> None:
        if change == "own write":
            cached.register("lab.a", EntryDraft("f", "lab.mod:f", source_hash="v2"))
        elif change == "other process":
            other.register("lab.a", EntryDraft("f", "lab.mod:f", source_hash="v2"))
            wait_for(lambda: cached.generations().get("lab.a") == cached._views["lab.a"].generation)
            time.sleep(0.2)  # the watcher applied the change set (its callback runs after)
        elif change == "unregister":
            cached.unregister("lab.a", "f")
        else:
            cached.clear("lab.a")

    stale = lookup_in_flight(cached, inner, "f", writes)
    assert stale is not None and stale.version == 1  # read before the change
    known, record = cached.cached_entry("lab.a", "f")
    assert not known or record != stale  # never the stale record
    current = inner.get_entry("lab.a", "f") if change in {"own write", "other process"} else None
    assert cached.get_entry("lab.a", "f") == current
    cached.close()


def test_a_lookup_older_than_the_remembered_changes_is_not_kept(sqlite_url: str) -> None:
    from registry.store import cached as cached_module

    inner = PausedLookups(sqlite_url)
    cached = CachedStore(inner)
    cached.ensure_namespace("lab.a", "function")
    cached.register("lab.a", EntryDraft("f", "lab.mod:f", source_hash="v1"))
    cached.get_entry("lab.a", "nothing")
    many = cached_module.TOUCHED_PER_VIEW + 2

    def writes() -> None:
        # The change of f is followed by more changes than a view remembers.
        cached.register("lab.a", EntryDraft("f", "lab.mod:f", source_hash="v2"))
        drafts = [EntryDraft(f"g{index}", f"lab.mod:g{index}") for index in range(many)]
        cached.register_batch("lab.a", drafts)

    lookup_in_flight(cached, inner, "f", writes)
    assert cached.get_entry("lab.a", "f").version == 2  # type: ignore[union-attr]
    cached.close()


def test_a_server_keeps_what_it_writes_and_a_registry_process_does_not(sqlite_url: str) -> None:
    from registry.server.run import _open_backing_store

    served = _open_backing_store(sqlite_url)  # what `registry serve` opens
    assert isinstance(served, CachedStore) and served.keep_written
    served.ensure_namespace("lab.a", "function")
    registration = served.register("lab.a", EntryDraft("f", "lab.mod:f"))
    [batched] = served.register_batch("lab.a", [EntryDraft("g", "lab.mod:g")])
    # Every listening client reads a changed entry next: the server answers from memory.
    assert served.cached_entry("lab.a", "f") == (True, registration.record)
    assert served.cached_entry("lab.a", "g") == (True, batched.record)  # type: ignore[union-attr]
    process = CachedStore(SqlStore(sqlite_url))  # a registry process holds its artifacts
    process.register("lab.a", EntryDraft("h", "lab.mod:h"))
    assert process.cached_entry("lab.a", "h") == (False, None)
    served.close()
    process.close()


def test_a_full_view_keeps_the_records_read_again_before_the_newest(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server keeps every record it writes; the records its clients keep asking for must not
    # be the first to go when the view fills (they went first in).
    from registry.store import cached as cached_module

    monkeypatch.setattr(cached_module, "RECORDS_PER_VIEW", 8)
    served = CachedStore(SqlStore(sqlite_url), keep_written=True)
    served.ensure_namespace("lab.a", "function")
    for name in ("hot1", "hot2", "cold1", "cold2"):
        served.register("lab.a", EntryDraft(name, f"lab.mod:{name}"))
    for round_ in range(3):
        served.get_entry("lab.a", "hot1")
        served.get_entry("lab.a", "hot2")
        for index in range(6):
            served.register(
                "lab.a", EntryDraft(f"new{round_}_{index}", f"lab.mod:n{round_}{index}")
            )
    assert served.cached_entry("lab.a", "hot1")[0]
    assert served.cached_entry("lab.a", "hot2")[0]
    assert not served.cached_entry("lab.a", "cold1")[0]  # never read: went first
    assert served.cached_entry("lab.a", "new2_5")[0]  # the newest stays too
    assert len(served._views["lab.a"].records) <= 8
    served.close()
