"""PostgreSQL: a registration of a new identifier (or of one unchanged) costs one round trip,
one that makes a new version three, a small batch two and a listener's catch-up one (a single
statement), counted on the wire (libpq's trace of what the client sends), and the pipelined
transactions leave the pooled connection as they found it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from sqlalchemy import event, text

from registry.errors import RegistryError
from registry.store.base import EntryDraft, Outcome, Registration
from registry.store.engines import get_engine
from registry.store.sql import SqlStore
from registry.store.sql_direct import DirectReader, libpq_url

T = TypeVar("T")


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    store = SqlStore(pg_url)
    store.ensure_namespace("lab.trips", "function")
    yield store
    store.close()


def _round_trips(trace: Path) -> int:
    """Messages after which the client waits for the server: simple queries and Syncs."""
    sent = [line.split("\t") for line in trace.read_text().splitlines()]
    return sum(1 for f in sent if len(f) > 3 and f[1] == "F" and f[3].strip() in ("Query", "Sync"))


def _statements(trace: Path) -> int:
    """Statements the client sent: simple queries and extended-protocol executions."""
    sent = [line.split("\t") for line in trace.read_text().splitlines()]
    return sum(
        1 for f in sent if len(f) > 3 and f[1] == "F" and f[3].strip() in ("Query", "Execute")
    )


def _traced(store: SqlStore, trace: Path, action: Callable[[], T]) -> tuple[int, T]:
    """Run ``action`` with libpq tracing on; return its round trips and its result."""
    engine = get_engine(store.url)
    descriptor = os.open(trace, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)

    def on_checkout(dbapi_connection: object, _record: object, _proxy: object) -> None:
        dbapi_connection.pgconn.trace(descriptor)  # type: ignore[attr-defined]

    def on_checkin(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.pgconn.untrace()  # type: ignore[attr-defined]

    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)
    try:
        result = action()
    finally:
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "checkin", on_checkin)
        os.close(descriptor)
    return _round_trips(trace), result


def test_a_new_or_unchanged_registration_is_one_round_trip(
    pg_store: SqlStore, tmp_path: Path
) -> None:
    pg_store.register("lab.trips", EntryDraft("warm", "lab.mod:warm"))  # pool and statements
    trace = tmp_path / "trace.txt"
    before = pg_store.get_namespace("lab.trips")
    assert before is not None
    new = EntryDraft("loss", "lab.mod:loss", source_hash="a", doc="Loss.")
    trips, created = _traced(pg_store, trace, lambda: pg_store.register("lab.trips", new))
    assert trips == 1
    assert (created.outcome, created.generation) == (Outcome.CREATED, before.generation + 1)
    assert created.record == pg_store.get_entry("lab.trips", "loss")
    assert (created.record.version, created.record.doc) == (1, "Loss.")
    after = pg_store.get_namespace("lab.trips")
    assert after is not None and (after.generation, after.size) == (
        before.generation + 1,
        before.size + 1,
    )
    assert pg_store.list_identifiers("lab.trips")[-1] == "loss"

    trips, again = _traced(pg_store, trace, lambda: pg_store.register("lab.trips", new))
    assert trips == 1  # run again unchanged: the read settles it, nothing is written
    assert (again.outcome, again.record, again.generation) == (Outcome.UNCHANGED, created.record, 0)

    taken = EntryDraft("loss", "lab.other:loss", source_hash="z")
    with pytest.raises(RegistryError, match="loss"):
        pg_store.register("lab.trips", taken)

    version = EntryDraft("loss", "lab.mod:loss", source_hash="b")
    trips, registration = _traced(pg_store, trace, lambda: pg_store.register("lab.trips", version))
    assert trips == 3  # the one-trip write declines; the usual two round trips follow
    assert (registration.outcome, registration.record.version) == (Outcome.NEW_VERSION, 2)
    assert pg_store.get_entry("lab.trips", "loss").source_hash == "b"  # type: ignore[union-attr]
    assert pg_store.get_namespace("lab.trips").generation == before.generation + 2  # type: ignore[union-attr]


def test_a_one_trip_registration_of_an_unregistered_name_continues_its_versions(
    pg_store: SqlStore, tmp_path: Path
) -> None:
    pg_store.register("lab.trips", EntryDraft("metric", "lab.mod:metric", source_hash="a"))
    pg_store.register("lab.trips", EntryDraft("metric", "lab.mod:metric", source_hash="b"))
    assert pg_store.unregister("lab.trips", "metric")
    removed = pg_store.get_namespace("lab.trips")
    assert removed is not None
    back = EntryDraft("metric", "lab.mod:metric", source_hash="c")
    trips, registration = _traced(
        pg_store, tmp_path / "trace.txt", lambda: pg_store.register("lab.trips", back)
    )
    assert trips == 1
    assert (registration.outcome, registration.record.version) == (Outcome.CREATED, 3)
    assert [e.version for e in pg_store.history("lab.trips", "metric")] == [1, 2, 3]
    changes = pg_store.changes_since("lab.trips", removed.generation - 1)
    assert [r.identifier for r in changes.added] == ["metric"]
    assert "metric" not in changes.removed  # the tombstone went with the write
    assert pg_store.get_namespace("lab.trips").size == removed.size + 1  # type: ignore[union-attr]


def test_a_one_trip_registration_takes_the_namespace_lock_before_inserting(
    pg_store: SqlStore,
) -> None:
    # Another writer holds the namespace lock and is about to insert the same identifier, as
    # a batch does. Had the one-trip statement inserted its entry before waiting for the lock,
    # that writer would wait for it in turn: a deadlock PostgreSQL breaks only after a second.
    namespace = "lab.trips"
    with psycopg.connect(str(libpq_url(pg_store.url)), autocommit=True) as other:
        other.execute("BEGIN")
        other.execute("SET LOCAL lock_timeout = '500ms'")
        row = other.execute(
            "SELECT id FROM namespaces WHERE name = %s FOR UPDATE", (namespace,)
        ).fetchone()
        assert row is not None
        outcome: list[object] = []
        writer = threading.Thread(
            target=lambda: outcome.append(
                pg_store.register(namespace, EntryDraft("locked", "lab.mod:locked"))
            )
        )
        writer.start()
        deadline = time.monotonic() + 5
        while not _waits_for_a_lock(other, namespace) and time.monotonic() < deadline:
            time.sleep(0.01)
        other.execute(  # would time out after 500 ms behind an entry inserted before the lock
            "INSERT INTO entries (namespace_id, identifier, version, origin, signature, doc, "
            "python_version, created_by) VALUES (%s, 'locked', 1, 'lab.other:locked', '', '', "
            "'3', 'test')",
            (row[0],),
        )
        other.execute("COMMIT")
        writer.join(10)
    (registration,) = outcome
    assert isinstance(registration, Registration)  # replayed after the unique key refused it
    assert (registration.outcome, registration.record.version) == (Outcome.CREATED, 2)


def _waits_for_a_lock(conn: psycopg.Connection, namespace: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE 'WITH namespace AS%%'"
    ).fetchone()
    return row is not None and row[0] > 0


def test_a_small_batch_is_two_round_trips(pg_store: SqlStore, tmp_path: Path) -> None:
    # What a server worker's group commit writes: new identifiers, a new version, a repeat
    # within the batch, an unchanged draft and a conflict, decided as the bulk path decides.
    pg_store.register("lab.trips", EntryDraft("same", "lab.mod:same", source_hash="a"))
    pg_store.register("lab.trips", EntryDraft("taken", "lab.mod:taken", source_hash="a"))
    before = pg_store.get_namespace("lab.trips")
    assert before is not None
    drafts = [
        EntryDraft("fresh", "lab.mod:fresh", source_hash="a"),
        EntryDraft("same", "lab.mod:same", source_hash="b"),
        EntryDraft("taken", "lab.other:taken", source_hash="z"),  # another artifact
        EntryDraft("fresh", "lab.mod:fresh", source_hash="c"),
        EntryDraft("same", "lab.mod:same", source_hash="b"),  # repeated: unchanged
    ]
    trips, results = _traced(
        pg_store, tmp_path / "trace.txt", lambda: pg_store.register_batch("lab.trips", drafts)
    )
    assert trips == 2
    outcomes = [getattr(result, "outcome", type(result).__name__) for result in results]
    assert outcomes == [
        Outcome.CREATED,
        Outcome.NEW_VERSION,
        "RegistryError",
        Outcome.NEW_VERSION,
        Outcome.UNCHANGED,
    ]
    g = before.generation
    assert [getattr(result, "generation", None) for result in results] == [
        g + 1,
        g + 2,
        None,
        g + 3,
        0,
    ]
    after = pg_store.get_namespace("lab.trips")
    assert after is not None
    assert (after.generation, after.size) == (g + 3, before.size + 1)
    assert [e.version for e in pg_store.history("lab.trips", "fresh")] == [1, 2]
    assert pg_store.get_entry("lab.trips", "fresh").source_hash == "c"  # type: ignore[union-attr]
    assert pg_store.get_entry("lab.trips", "taken").origin == "lab.mod:taken"  # type: ignore[union-attr]
    assert pg_store.list_identifiers("lab.trips")[-1] == "fresh"  # placed at its creation
    changes = pg_store.changes_since("lab.trips", g)
    assert [r.identifier for r in changes.added] == ["fresh"]
    assert [r.identifier for r in changes.updated] == ["same"]


def test_a_catch_up_is_one_statement_in_one_round_trip(pg_store: SqlStore, tmp_path: Path) -> None:
    old = EntryDraft("old", "lab.mod:old", source_hash="a")
    start = pg_store.register("lab.trips", old).generation
    pg_store.register("lab.trips", EntryDraft("new", "lab.mod:new"))
    pg_store.register("lab.trips", EntryDraft("old", "lab.mod:old", source_hash="b"))
    pg_store.unregister("lab.trips", "new")
    trace = tmp_path / "trace.txt"
    trips, changes = _traced(pg_store, trace, lambda: pg_store.changes_since("lab.trips", start))
    # One statement (no BEGIN ... COMMIT around three reads): a third of the CPU on each side.
    assert (trips, _statements(trace)) == (1, 1)
    assert [record.identifier for record in changes.updated] == ["old"]
    assert changes.updated[0].source_hash == "b"
    assert changes.removed == ("new",)
    assert changes.generation == start + 3
    # The connection went back to the pool in the driver's usual mode, with nothing open.
    with get_engine(pg_store.url).connect() as conn:
        assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
        assert conn.execute(text("SHOW transaction_isolation")).scalar() == "read committed"
    nothing = pg_store.changes_since("lab.trips", start + 3)
    assert (nothing.updated, nothing.added, nothing.removed) == ((), (), ())


def test_a_direct_catch_up_is_one_statement_in_one_round_trip(
    pg_store: SqlStore, tmp_path: Path
) -> None:
    """The catch-up of a process that has only read (no SQLAlchemy: store.sql_direct)."""
    start = pg_store.register("lab.trips", EntryDraft("kept", "lab.mod:kept")).generation
    pg_store.register("lab.trips", EntryDraft("added", "lab.mod:added"))
    pg_store.unregister("lab.trips", "kept")
    trace = tmp_path / "trace.txt"
    descriptor = os.open(trace, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)

    def connect() -> psycopg.Connection[tuple[object, ...]]:
        conn = psycopg.connect(libpq_url(pg_store.url) or "", autocommit=True)
        conn.pgconn.trace(descriptor)
        return conn

    reader = DirectReader(connect, postgres=True)
    try:
        changes = reader.changes("lab.trips", start)
        assert (_round_trips(trace), _statements(trace)) == (1, 1)
        assert [record.identifier for record in changes.added] == ["added"]
        assert changes.removed == ("kept",)
        assert changes.generation == start + 2
        nothing = reader.changes("lab.trips", start + 2)  # the connection is usable again
        assert (nothing.added, nothing.removed, nothing.generation) == ((), (), start + 2)
    finally:
        reader.close()
        os.close(descriptor)


def test_a_failed_registration_rolls_back_and_the_connection_stays_usable(
    pg_store: SqlStore,
) -> None:
    pg_store.register("lab.trips", EntryDraft("kept", "lab.mod:kept", source_hash="a"))
    with pytest.raises(RegistryError):  # another artifact under the same identifier
        pg_store.register("lab.trips", EntryDraft("kept", "lab.other:kept", source_hash="z"))
    # A constraint failure inside the pipelined write comes back as SQLAlchemy's
    # IntegrityError, which the store replays once and then reports as a conflict.
    engine = get_engine(pg_store.url)
    with engine.begin() as conn:
        conn.execute(
            text("ALTER TABLE entries ADD CONSTRAINT short_origin CHECK (origin <> 'x:y')")
        )
    try:
        with pytest.raises(RegistryError, match="concurrent writer"):
            pg_store.register("lab.trips", EntryDraft("bad", "x:y"))
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE entries DROP CONSTRAINT short_origin"))
    assert pg_store.get_entry("lab.trips", "bad") is None
    generation = pg_store.get_namespace("lab.trips").generation  # type: ignore[union-attr]
    pg_store.register("lab.trips", EntryDraft("after", "lab.mod:after"))
    assert pg_store.get_namespace("lab.trips").generation == generation + 1  # type: ignore[union-attr]
    with engine.connect() as conn:  # back in the pool in the driver's usual mode
        assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]


@pytest.mark.parametrize("ping_after_idle_s", [0.0, 3600.0])
def test_a_pooled_connection_killed_while_idle_is_replaced(
    pg_store: SqlStore, monkeypatch: pytest.MonkeyPatch, ping_after_idle_s: float
) -> None:
    """Checked before use once idle (0 s here), or replayed after its first statement fails."""
    from registry.store import engines

    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", ping_after_idle_s)
    pg_store.register("lab.trips", EntryDraft("first", "lab.mod:first"))
    engine = get_engine(pg_store.url)
    with engine.connect() as one, engine.connect() as two:  # every connection of the pool
        pids = [c.connection.driver_connection.info.backend_pid for c in (one, two)]  # type: ignore[union-attr]
    with psycopg.connect(libpq_url(pg_store.url), autocommit=True) as killer:
        for pid in pids:
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
    name = f"after_kill_{ping_after_idle_s:g}"
    registration = pg_store.register("lab.trips", EntryDraft(name, f"lab.mod:{name}"))
    assert registration.outcome is Outcome.CREATED
    assert pg_store.get_entry("lab.trips", name) is not None
