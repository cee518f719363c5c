"""Engine settings, transient-failure retries and the translation of driver errors."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError, OperationalError

from registry.errors import RegistryError, StoreError
from registry.store.base import EntryDraft
from registry.store.engines import (
    begin_write,
    dispose_engine,
    get_engine,
    is_transient,
    run_transaction,
    safe_url,
)
from registry.store.sql import SqlStore
from registry.store.sql_direct import libpq_url
from tests.conftest import run_python


def test_sqlite_connections_use_wal_and_enforce_foreign_keys(sqlite_url: str) -> None:
    SqlStore(sqlite_url)
    with get_engine(sqlite_url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        # Checkpoints (a few ms each, mostly syncing the file) four times rarer than SQLite's.
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 4000


def _two_connections(tmp_path: Path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    path = tmp_path / "locks.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x INTEGER)")
    return holder, sqlite3.connect(path, isolation_level=None, timeout=30)


def test_a_writer_tries_for_the_lock_every_millisecond_and_keeps_its_busy_timeout(
    tmp_path: Path,
) -> None:
    holder, writer = _two_connections(tmp_path)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.2, lambda: holder.execute("COMMIT")).start()
    attempts: list[str] = []
    writer.set_trace_callback(attempts.append)
    begin_write(writer, "BEGIN IMMEDIATE")  # waits for the other writer, then holds the lock
    writer.set_trace_callback(None)
    writer.execute("INSERT INTO t VALUES (1)")
    writer.execute("COMMIT")
    # SQLite's busy handler would have made one attempt, sleeping up to 25 ms at a time after
    # the first 8 ms; this one is retried after ~1 ms each.
    assert attempts.count("BEGIN IMMEDIATE") >= 5
    assert writer.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000  # readers: unchanged


def test_a_writer_gives_up_after_its_timeout_with_sqlites_error(tmp_path: Path) -> None:
    holder, writer = _two_connections(tmp_path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            begin_write(writer, "BEGIN IMMEDIATE", timeout_s=0.1)
        assert writer.execute("PRAGMA busy_timeout").fetchone()[0] == 100
        assert not writer.in_transaction
    finally:
        holder.execute("COMMIT")


def test_transient_failures_are_replayed_after_a_rollback(sqlite_url: str) -> None:
    store = SqlStore(sqlite_url)
    store.ensure_namespace("lab.retry", "function")
    engine = get_engine(sqlite_url)
    attempts = []

    def work(conn):  # type: ignore[no-untyped-def]
        conn.execute(text("UPDATE namespaces SET generation = generation + 1"))
        attempts.append(1)
        if len(attempts) < 3:  # what SQLite raises when the busy timeout runs out
            raise OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
        return "done"

    assert run_transaction(engine, work, write=True, url=sqlite_url) == "done"
    assert len(attempts) == 3
    assert store.generations() == {"lab.retry": 1}  # the two failed attempts left nothing


def test_integrity_errors_are_never_swallowed(sqlite_url: str) -> None:
    SqlStore(sqlite_url).ensure_namespace("lab.dup", "function")
    engine = get_engine(sqlite_url)

    def duplicate(conn):  # type: ignore[no-untyped-def]
        conn.execute(text("INSERT INTO namespaces (name, kind) VALUES ('lab.dup', 'function')"))

    with pytest.raises(IntegrityError):
        run_transaction(engine, duplicate, write=True, url=sqlite_url)


def test_unreachable_server_names_the_url_without_password() -> None:
    url = "postgresql+psycopg://lab:hunter2@127.0.0.1:1/registry"
    with pytest.raises(StoreError) as caught:
        SqlStore(url)
    assert "Cannot reach the store at postgresql+psycopg://lab:***@127.0.0.1:1/registry" in str(
        caught.value
    )
    assert "hunter2" not in str(caught.value) and "hunter2" not in str(caught.value.context)
    assert caught.value.suggestions


@pytest.mark.parametrize(
    ("url", "message"),
    [("nonsense", "Cannot parse"), ("mysql://u@h/db", "Unsupported store backend")],
)
def test_bad_urls_raise_store_errors(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        SqlStore(url)


def test_transient_classification() -> None:
    def wrapped(original: BaseException) -> OperationalError:
        return OperationalError("SELECT 1", {}, original)

    assert is_transient(wrapped(sqlite3.OperationalError("database is locked")))
    assert is_transient(wrapped(sqlite3.OperationalError("database table is busy")))
    assert not is_transient(wrapped(sqlite3.OperationalError("no such table: x")))

    import psycopg.errors

    assert is_transient(wrapped(psycopg.errors.SerializationFailure("40001")))
    assert is_transient(wrapped(psycopg.errors.DeadlockDetected("40P01")))
    assert not is_transient(wrapped(psycopg.errors.UndefinedTable("42P01")))
    assert safe_url("postgresql://a:b@h/d") == "postgresql://a:***@h/d"


def test_postgres_write_waits_for_a_locked_namespace(pg_url: str) -> None:
    """A writer holding the namespace row delays, and does not break, another writer."""
    store = SqlStore(pg_url)
    store.ensure_namespace("lab.locked", "function")
    engine = get_engine(pg_url)
    with engine.connect() as holder:
        holder.execute(text("SELECT id FROM namespaces WHERE name = 'lab.locked' FOR UPDATE"))
        release_at = time.monotonic() + 0.3

        def release() -> None:
            time.sleep(max(0.0, release_at - time.monotonic()))
            holder.rollback()

        import threading

        thread = threading.Thread(target=release)
        thread.start()
        store.register("lab.locked", EntryDraft("f", "lab.mod:f"))
        assert time.monotonic() >= release_at - 0.01
        thread.join()
    with pytest.raises(RegistryError):
        store.register("lab.locked", EntryDraft("f", "lab.other:f"))


def test_a_postgres_pool_keeps_its_connections_across_bursts(pg_url: str) -> None:
    """Five concurrent users of a process's pool reuse five connections burst after burst, and
    a sixth waits for one of them rather than opening another.

    A server worker answering a burst of catch-ups is such a user: with 2 kept and 3 overflow
    connections, every burst opened and closed 3 connections (a PostgreSQL backend each).
    """
    from sqlalchemy import event

    dispose_engine(pg_url)
    engine = get_engine(pg_url)
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, record: opened.append(connection))
    for _ in range(3):
        held = [engine.connect() for _ in range(5)]
        for conn in held:
            conn.execute(text("SELECT 1"))
        for conn in held:
            conn.close()
    assert len(opened) == 5

    held = [engine.connect() for _ in range(5)]
    sixth: list[Connection] = []
    waiter = threading.Thread(target=lambda: sixth.append(engine.connect()))
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive() and not sixth  # waiting for a connection, not opening one
    held.pop().close()
    waiter.join(10)
    assert len(sixth) == 1 and len(opened) == 5
    for conn in [*held, *sixth]:
        conn.close()


def test_postgres_catch_ups_are_never_jit_compiled(pg_url: str) -> None:
    """A catch-up reads a few rows; compiling it cost 8-45 ms where the planner overestimated
    its rows (a small namespace beside a large one). Here the session asks for JIT at any
    cost, and the statement still runs uncompiled on the store's connections."""
    import json

    from sqlalchemy.dialects import postgresql

    from registry.store.sql_statements import Statements

    store = SqlStore(pg_url)
    store.ensure_namespace("lab.jit", "function")
    store.register("lab.jit", EntryDraft("f", "lab.mod:f"))
    catch_up = Statements("postgresql").changed_heads.compile(dialect=postgresql.dialect())
    with psycopg.connect(libpq_url(pg_url) or "") as plain:  # the server's defaults
        available = plain.execute("SELECT pg_jit_available()").fetchone()
        assert available == (True,), "this PostgreSQL has no JIT: the test would show nothing"
    with get_engine(pg_url).connect() as conn:
        conn.execute(text("SET jit_above_cost = 0"))
        plan = conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {catch_up}",
            {"name": "lab.jit", "since": 0, "param_1": 1},
        ).scalar()
    found = plan if isinstance(plan, list) else json.loads(plan)
    assert "JIT" not in found[0], found[0].get("JIT")
    assert found[0]["Plan"]["Actual Rows"] == 1


def test_importing_registry_loads_no_heavy_dependencies() -> None:
    code = (
        "import sys, registry, registry.store, registry.settings, registry.errors\n"
        "from registry.store import open_store, MemoryStore\n"
        "open_store('memory://x')\n"
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'psycopg', 'cloudpickle', 'yaml', 'click')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_pg_watcher_resyncs_after_its_connection_is_killed(pg_url: str) -> None:
    from registry.store.cached import CachedStore

    writer = SqlStore(pg_url)
    writer.ensure_namespace("lab.resync", "function")
    cached = CachedStore(SqlStore(pg_url))
    assert cached.get_entry("lab.resync", "f") is None
    with get_engine(pg_url).begin() as conn:
        killed = (
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'watch-registry@%' AND datname = current_database()"
                )
            )
            .scalars()
            .all()
        )
    assert killed and all(killed)
    writer.register("lab.resync", EntryDraft("f", "lab.mod:f"))  # may be sent while away
    deadline = time.monotonic() + 10
    while cached.get_entry("lab.resync", "f") is None:
        assert time.monotonic() < deadline, "the watcher never resynced"
        time.sleep(0.02)
    cached.close()


def test_unknown_kind_is_refused_before_the_database(sqlite_url: str) -> None:
    with pytest.raises(RegistryError, match="Unknown registry kind 'class'"):
        SqlStore(sqlite_url).ensure_namespace("lab.bad", "class")  # type: ignore[arg-type]


def test_network_file_systems_are_recognised(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from registry.store.engines import NETWORK_FILESYSTEMS, filesystem_type

    mounts = (
        "/dev/vda1 / ext4 rw 0 0\n"
        "server:/export /mnt/lab nfs4 rw 0 0\n"
        "//nas/share /mnt/lab/smb cifs rw 0 0\n"
    )
    assert filesystem_type(Path("/home/me/registry.db"), mounts) == "ext4"
    assert filesystem_type(Path("/mnt/lab/registry.db"), mounts) == "nfs4"
    assert filesystem_type(Path("/mnt/lab/smb/x/registry.db"), mounts) == "cifs"
    assert filesystem_type(Path("/mnt/labx/registry.db"), mounts) == "ext4"
    assert {"nfs4", "cifs"} <= NETWORK_FILESYSTEMS
    assert filesystem_type(tmp_path) is not None  # this machine's /proc/mounts is readable


def test_postgres_store_survives_its_connections_being_killed(pg_url: str) -> None:
    store = SqlStore(pg_url)
    store.ensure_namespace("lab.dropped", "function")
    store.register("lab.dropped", EntryDraft("before", "lab.mod:before"))
    with get_engine(pg_url).connect() as conn:
        own = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'registry@%' AND datname = current_database() "
                "AND pid <> :own"
            ),
            {"own": own},
        )
        conn.commit()
    # The connection used above returns to the pool alive; kill it from outside as well.
    import psycopg
    from sqlalchemy.engine import make_url

    outside = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(outside, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (own,))
    store.register("lab.dropped", EntryDraft("after", "lab.mod:after"))
    assert [e.identifier for e in store.list_entries("lab.dropped")] == ["before", "after"]


def test_a_persistent_registry_works_where_processes_cannot_fork(tmp_path: Path) -> None:
    # Windows has no os.register_at_fork; the fork handlers are registered only where it exists.
    code = f"""
import os, random, logging, asyncio, concurrent.futures, multiprocessing.util  # the standard library's own
del os.register_at_fork  # handlers are in place; those imported after this point are ours
from registry import FunctionalRegistry

class Losses(FunctionalRegistry, logic_namespace="lab.losses", url={f"sqlite:///{tmp_path / 'r.db'}"!r}):
    pass

Losses.register_artifact(os.path.join)
print(Losses.get_artifact("join") is os.path.join)
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
