"""Real processes against one database: first open, registration races, propagation, kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from registry.store import migrate
from registry.store.base import EntryDraft
from registry.store.cached import CachedStore
from registry.store.engines import get_engine
from registry.store.sql import SqlStore
from tests.conftest import subprocess_env

pytestmark = pytest.mark.slow

WORKERS = Path(__file__).with_name("workers.py")
#: Time given to every worker to start Python and import everything before the common instant.
STARTUP_S = 2.5


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), *args],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def results(processes: list[subprocess.Popen[str]], timeout: float = 60) -> list[dict]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("empty_pg_url"))
    return str(request.getfixturevalue("sqlite_url"))


def test_four_processes_open_one_empty_database_at_once(empty_url: str) -> None:
    start = time.time() + STARTUP_S
    outcomes = results([spawn("first_open", empty_url, str(start)) for _ in range(4)])
    assert outcomes == [{"ok": True}] * 4
    assert migrate.check(empty_url).status is migrate.SchemaStatus.CURRENT
    with get_engine(empty_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM registry_alembic_version")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM entries")).scalar() == 1


def test_eight_processes_race_for_one_identifier(empty_url: str) -> None:
    namespace, rounds = "lab.race", 3
    SqlStore(empty_url).ensure_namespace(namespace, "function")
    start = time.time() + STARTUP_S
    outcomes = results(
        [
            spawn("race", empty_url, namespace, f"lab.worker{i}:fn", str(start), str(rounds))
            for i in range(8)
        ]
    )
    store = SqlStore(empty_url)
    for round_number in range(rounds):
        winners = [o for o in outcomes if o["won"][round_number]]
        assert len(winners) == 1, (round_number, outcomes)
        stored = store.get_entry(namespace, f"name{round_number}")
        assert stored is not None and len(store.history(namespace, f"name{round_number}")) == 1
    losers_errors = [e for o in outcomes for e in o["errors"]]
    assert len(losers_errors) == 7 * rounds
    assert all("already taken by lab.worker" in e for e in losers_errors)


class _Seen:
    """Collects change callbacks with the wall-clock time they arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, frozenset[str] | None]] = []
        self.arrived = threading.Event()

    def __call__(self, changed: frozenset[str] | None) -> None:
        self.events.append((time.time(), changed))
        self.arrived.set()

    def first_time_for(self, namespace: str, after: float, timeout: float = 10.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for moment, changed in list(self.events):
                if moment >= after and (changed is None or namespace in changed):
                    return moment
            self.arrived.wait(0.01)
            self.arrived.clear()
        raise AssertionError(f"no change of {namespace!r} seen within {timeout} s")


def test_another_processes_writes_reach_the_cache(
    empty_url: str, record_property: pytest.RecordProperty
) -> None:
    namespace = "lab.propagation"
    cached = CachedStore(SqlStore(empty_url))
    cached.ensure_namespace(namespace, "function")
    assert cached.get_entry(namespace, "f") is None  # cached: the namespace is empty
    seen = _Seen()
    cached.watch(seen)

    start = time.time() + STARTUP_S
    (written,) = results([spawn("write_at", empty_url, namespace, "f", str(start))])
    latency = seen.first_time_for(namespace, after=start) - written["committed_at"]
    entry = cached.get_entry(namespace, "f")
    assert entry is not None and entry.origin == "lab.mod:f"

    seen.events.clear()
    start = time.time() + STARTUP_S
    (removed,) = results([spawn("unregister_at", empty_url, namespace, "f", str(start))])
    unregister_latency = seen.first_time_for(namespace, after=start) - removed["committed_at"]
    assert cached.get_entry(namespace, "f") is None
    cached.close()
    # Timing is recorded, not asserted tightly (the bounds: 100 ms SQLite, 50 ms PG).
    record_property("register_latency_ms", round(latency * 1000, 2))
    record_property("unregister_latency_ms", round(unregister_latency * 1000, 2))
    print(
        f"propagation {empty_url.split(':', maxsplit=1)[0]}: register {latency * 1000:.1f} ms, "
        f"unregister {unregister_latency * 1000:.1f} ms"
    )
    assert latency < 2.0 and unregister_latency < 2.0


def test_kill_9_mid_batch_leaves_the_database_consistent(empty_url: str) -> None:
    namespace, size = "lab.killed", 200
    store = SqlStore(empty_url)
    store.ensure_namespace(namespace, "function")
    writer = spawn("batches_forever", empty_url, namespace, str(size))
    assert writer.stdout is not None
    first = writer.stdout.readline()
    assert "batch" in first, writer.stderr.read() if writer.stderr else ""
    time.sleep(0.05)  # well inside a later batch (one batch takes 0.1-0.5 s)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)

    with get_engine(empty_url).connect() as conn:
        heads = conn.execute(text("SELECT count(*) FROM heads")).scalar_one()
        entries = conn.execute(text("SELECT count(*) FROM entries")).scalar_one()
        generation = conn.execute(
            text("SELECT generation FROM namespaces WHERE name = :n"), {"n": namespace}
        ).scalar_one()
    assert heads >= size and heads % size == 0, "a batch was written only in part"
    assert entries == heads and generation == heads
    listed = store.list_entries(namespace)
    assert len(listed) == heads
    if empty_url.startswith("sqlite"):
        path = empty_url.removeprefix("sqlite:///")
        raw = sqlite3.connect(path)
        try:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            raw.close()
    # And the database still takes writes.
    store.register(namespace, EntryDraft("after", "lab.mod:after"))


def test_a_burst_of_notifications_is_reported_together(pg_url: str) -> None:
    # Each report makes every listening view read the database once (a server worker hears
    # every write of the other workers): a burst that arrived meanwhile is one report, not one
    # per write, and loses nothing.
    import psycopg

    from registry.store.sql_direct import NOTIFY_CHANNEL, libpq_url
    from registry.store.watch import PostgresWatcher

    SqlStore(pg_url).close()  # the schema
    watcher = PostgresWatcher(pg_url)
    watcher.start()
    reports: list[frozenset[str] | None] = []
    busy = threading.Event()

    def slow_subscriber(changed: frozenset[str] | None) -> None:
        reports.append(changed)
        if len(reports) == 1:
            busy.set()
            time.sleep(0.3)  # a catch-up under load; the burst arrives meanwhile

    watcher.subscribe(slow_subscriber)
    conninfo = libpq_url(pg_url)
    assert conninfo is not None
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            notify = f"SELECT pg_notify('{NOTIFY_CHANNEL}', %s)"
            conn.execute(notify, (json.dumps({"ns": "lab.burst", "g": 1}),))
            assert busy.wait(10)
            for generation in range(2, 22):
                conn.execute(notify, (json.dumps({"ns": "lab.burst", "g": generation}),))
        deadline = time.monotonic() + 10
        while watcher._generations.get("lab.burst") != 21 or len(reports) < 2:
            assert time.monotonic() < deadline, (watcher._generations, reports)
            time.sleep(0.01)
        time.sleep(0.2)  # any further report would come now
        assert all(report == frozenset({"lab.burst"}) for report in reports)
        assert len(reports) <= 3, len(reports)  # one per write: 21
    finally:
        watcher.stop()
