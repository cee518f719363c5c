"""Change signals from other processes: which namespaces moved, as soon as they move.

SQLite: a daemon thread polls ``PRAGMA data_version`` (a few microseconds) on its own raw
connection and reads the generations when it changes. PostgreSQL: a daemon thread holds an
autocommit psycopg connection that ``LISTEN``s on ``registry_changes``, resyncs the generations
after every (re)connect and every few seconds (the polling fallback for lost notifications).
Imports only ``store.base``, ``store.sql_direct`` and the database drivers (not SQLAlchemy: a
process that only reads starts a watcher without loading it).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from registry.store.base import ChangeCallback, WatchStatus, moved_namespaces
from registry.store.sql_direct import (
    NOTIFY_CHANNEL,
    RETRY_BUDGET_S,
    libpq_url,
    masked_url,
    postgres_connect_args,
)

__all__ = ["PostgresWatcher", "SqliteWatcher", "Watcher", "start_watcher"]

#: Opens a SQLite file: ``connect(path, isolation_level=..., check_same_thread=...)``.
SqliteConnect = Callable[..., sqlite3.Connection]

logger = logging.getLogger(__name__)

SQLITE_POLL_S = 0.01
PG_WAIT_S = 0.25
PG_RESYNC_S = 2.0
#: How many identifier-carrying notifications a watcher remembers per namespace (the oldest
#: half goes when it fills); a listener further behind reads what changed.
ANNOUNCED_PER_NAMESPACE = 1_024
#: Longest pause between reconnection attempts: after an outage, caches are resynced at most
#: about this long after the database is back.
RECONNECT_CAP_S = 1.0
#: A watcher disconnected this long logs a warning that caches may be stale (the same budget
#: the store's own retries have).
STALE_WARNING_S = RETRY_BUDGET_S
#: Longest time a fork waits for the SQLite watcher threads to leave SQLite (see ``_in_sqlite``).
FORK_WAIT_S = 5.0

# SQLite's library-wide mutexes (memory accounting, the table of open files) are plain pthread
# mutexes: a child forked while a thread of the parent held one waits for it forever at its
# first SQLite call (seen as children stuck in sqlite3.connect). The SQLite watcher threads do
# all their work, subscribers' catch-ups included, inside this lock, and a fork takes it first,
# so no watcher thread is inside SQLite when the process forks. Reentrant: a subscriber may
# fork. Threads of the application that are inside SQLite at a fork are the application's to
# join, as for any library that uses SQLite.
_in_sqlite = threading.RLock()


class Watcher(ABC):
    """A daemon thread that calls subscribers with the namespaces that changed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._callbacks: list[ChangeCallback] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ready = threading.Event()
        self._generations: dict[str, int] = {}
        self._connected = False
        self._disconnected_at: float | None = None
        self._last_error: str | None = None
        self._warned = False
        # namespace -> {generation before: (generation after, sender backend pid or None)} of
        # this process's own writes, so the watcher does not echo them back.
        self._own_moves: dict[str, dict[int, tuple[int, int | None]]] = {}
        # namespace -> {generation: the identifier whose registration moved it there} of the
        # moves announced with their identifiers (PostgreSQL): see announced_writes.
        self._announced: dict[str, dict[int, str]] = {}
        self._resync_all = False
        self._thread = threading.Thread(
            target=self._run_forever, name=f"registry-watch {masked_url(url)}", daemon=True
        )

    def start(self, wait_s: float = 5.0) -> None:
        """Start the thread and wait until it holds its baseline (so no change is missed)."""
        _live_watchers.add(self)
        self._thread.start()
        self._ready.wait(wait_s)

    def _respawn_in_child(self) -> None:
        """Give a forked child its own thread (threads do not survive ``fork``)."""
        if self._stopped.is_set():
            return
        # The parent's lock may have been held by a thread that does not exist here.
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_forever, args=(False,), name=self._thread.name, daemon=True
        )
        # The parent's connection is left alone (closing it would end the parent's session).
        # The new thread's first report is "anything may have changed": a catch-up the parent
        # had begun for a change already counted in the inherited generations never finished
        # here. Reported from the new thread, after it connected: the fork handlers that reset
        # the connection pools have run by then.
        self._resync_all = True
        self._thread.start()

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Add ``callback``; return a function that removes it."""
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def status(self) -> WatchStatus:
        """Whether changes from other processes reach this one right now."""
        since = self._disconnected_at
        return WatchStatus(
            watching=self._thread.is_alive(),
            connected=self._connected,
            disconnected_for=None if since is None else time.monotonic() - since,
            last_error=self._last_error,
        )

    def stop(self) -> None:
        """Stop the thread (it exits within one poll interval)."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def note_own_write(
        self, namespace: str, before: int, after: int, pid: int | None = None
    ) -> None:
        """Record that this process moves ``namespace`` from ``before`` to ``after``.

        ``pid`` is the PostgreSQL backend that runs the (not yet committed) transaction: its
        notification must come from that backend to count as ours.
        """
        with self._lock:
            if self._generations.get(namespace, -1) >= after:
                return  # already seen (and reported): nothing left to skip
            moves = self._own_moves.setdefault(namespace, {})
            if len(moves) > 256:  # moves the watcher never saw; keep memory bounded
                moves.clear()
            moves[before] = (after, pid)

    def expected_generation(self, namespace: str) -> int | None:
        """The generation ``namespace`` is at as far as this process knows: the last one
        announced, moved along this process's own writes not announced yet (None: unknown)."""
        with self._lock:
            generation = self._generations.get(namespace)
            moves = self._own_moves.get(namespace, {})
            while generation is not None and generation in moves:
                generation = moves[generation][0]
            return generation

    def retract_own_write(self, namespace: str, before: int) -> None:
        """Forget a recorded move whose transaction did not commit."""
        with self._lock:
            self._own_moves.get(namespace, {}).pop(before, None)

    def announced_writes(self, namespace: str, since: int) -> tuple[int, list[str]] | None:
        """Return the last generation announced for ``namespace`` and the identifiers
        registered after generation ``since`` up to it, in order, when each of those moves was
        a registration announced with its identifier (alone, or in a batch whose notification
        names them all); ``None`` when any was not (a removal, a clear, a batch too large to
        name, a notification lost in a reconnect), or nothing is known.

        A process that only caches records (a server worker) can then forget those identifiers
        instead of reading what changed: a foreign write costs it no database read.
        """
        with self._lock:
            latest = self._generations.get(namespace)
            announced = self._announced.get(namespace)
            if latest is None or latest < since or announced is None:
                return None
            identifiers: list[str] = []
            for generation in range(since + 1, latest + 1):
                identifier = announced.get(generation)
                if identifier is None:
                    return None
                identifiers.append(identifier)
            return latest, identifiers

    def _announce(self, namespace: str, first: int, identifiers: list[str]) -> None:
        """Record that generations ``first``, ``first + 1``... registered ``identifiers``."""
        with self._lock:
            announced = self._announced.setdefault(namespace, {})
            for generation, identifier in enumerate(identifiers, start=first):
                announced[generation] = identifier
            if len(announced) > ANNOUNCED_PER_NAMESPACE:  # keep the newest half
                kept = sorted(announced.items())[-(ANNOUNCED_PER_NAMESPACE // 2) :]
                self._announced[namespace] = dict(kept)

    def _is_foreign(
        self, namespace: str, before: int | None, after: int | None, pid: int | None = None
    ) -> bool:
        """Whether the move ``before -> after`` includes a write that was not ours."""
        if before is None or after is None:
            return True
        with self._lock:
            moves = self._own_moves.get(namespace, {})
            generation = before
            while generation != after and generation in moves:
                target, sender = moves[generation]
                if pid is not None and sender is not None and sender != pid:
                    break
                del moves[generation]
                generation = target
        return generation != after

    def _emit(self, changed: frozenset[str] | None) -> None:
        if changed is not None and not changed:
            return
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(changed)
            except Exception:  # a subscriber's bug must not kill the watcher
                logger.exception("registry change callback %r failed", callback)

    def _apply(self, generations: dict[str, int]) -> None:
        before = self._generations
        changed = frozenset(
            name
            for name in moved_namespaces(before, generations)
            if self._is_foreign(name, before.get(name), generations.get(name))
        )
        self._generations = generations
        if self._resync_all:
            self._resync_all = False
            self._emit(None)
        else:
            self._emit(changed)

    def _run_forever(self, first: bool = True) -> None:
        delay = 0.1
        while not self._stopped.is_set():
            try:
                self._watch(first)
                return
            except Exception as exc:
                if self._connected or self._disconnected_at is None:
                    delay = 0.1  # it had been connected: start backing off afresh
                    self._disconnected_at = time.monotonic()
                    logger.warning(
                        "registry watcher for %s lost its connection: %s", masked_url(self.url), exc
                    )
                self._connected = False
                self._last_error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
                self._warn_if_stale()
                self._ready.set()
            first = False
            self._stopped.wait(delay)
            delay = min(delay * 2, RECONNECT_CAP_S)

    def _warn_if_stale(self) -> None:
        since = self._disconnected_at
        if since is None or self._warned or time.monotonic() - since < STALE_WARNING_S:
            return
        self._warned = True
        logger.warning(
            "registry caches for %s may be stale: changes from other processes have not "
            "arrived for %.0f s (%s); reconnecting every %g s",
            masked_url(self.url),
            time.monotonic() - since,
            self._last_error,
            RECONNECT_CAP_S,
        )

    def _connected_again(self) -> None:
        """Called once the baseline is read after a (re)connect and changes were resynced."""
        since, self._disconnected_at = self._disconnected_at, None
        self._connected, self._last_error, self._warned = True, None, False
        if since is not None:
            logger.info(
                "registry watcher for %s reconnected after %.1f s; caches resynced",
                masked_url(self.url),
                time.monotonic() - since,
            )

    @abstractmethod
    def _watch(self, first: bool) -> None:
        """Connect, take a baseline (set ``_ready``), then report changes until stopped."""


class SqliteWatcher(Watcher):
    """Polls ``PRAGMA data_version`` on a dedicated connection (changes on others' commits).

    ``connect`` opens the file with sqlite3's keyword options (``SqlStore`` passes the one
    its engine uses, which opens a store this user may only read read-only).
    """

    def __init__(
        self,
        url: str,
        path: Path,
        connect: SqliteConnect = sqlite3.connect,
        interval_s: float = SQLITE_POLL_S,
    ) -> None:
        super().__init__(url)
        self._path = path
        self._connect = connect
        self._interval_s = interval_s

    def _watch(self, first: bool) -> None:
        with _in_sqlite:
            # Autocommit, so no read transaction freezes data_version.
            conn = self._connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            with _in_sqlite:
                conn.execute("PRAGMA busy_timeout=5000")
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                generations = self._read(conn)
                if first:
                    self._generations = generations
                else:
                    self._apply(generations)
            self._connected_again()
            self._ready.set()
            while not self._stopped.wait(self._interval_s):
                with _in_sqlite:
                    now = conn.execute("PRAGMA data_version").fetchone()[0]
                    if now != version:
                        version = now
                        self._apply(self._read(conn))
        finally:
            with _in_sqlite:
                conn.close()

    @staticmethod
    def _read(conn: sqlite3.Connection) -> dict[str, int]:
        return dict(conn.execute("SELECT name, generation FROM namespaces").fetchall())


class PostgresWatcher(Watcher):
    """``LISTEN registry_changes`` on a dedicated autocommit psycopg connection."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        conninfo = libpq_url(url)
        if conninfo is None:
            raise ValueError(f"not a PostgreSQL URL: {masked_url(url)}")
        self._conninfo = conninfo

    def _watch(self, first: bool) -> None:
        import psycopg

        args = postgres_connect_args()
        args["application_name"] = ("watch-" + args["application_name"])[:63]
        with psycopg.connect(self._conninfo, autocommit=True, **args) as conn:
            # LISTEN first, then read: a change between the two shows up twice, never zero times.
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            generations = self._read(conn)
            if first:
                self._generations = generations
            else:
                self._apply(generations)  # notifications sent while we were away are lost
            self._connected_again()
            self._ready.set()
            last_resync = time.monotonic()
            while not self._stopped.is_set():
                moved = self._moved_by(conn.notifies(timeout=PG_WAIT_S, stop_after=1))
                if moved:
                    # With what else has arrived by now: subscribers catch up (a read of the
                    # database each) once for a burst of writes, not once for every write.
                    # (This process's own writes move nothing: no second look for those.)
                    self._emit(moved | self._moved_by(conn.notifies(timeout=0)))
                if time.monotonic() - last_resync > PG_RESYNC_S:
                    self._apply(self._read(conn))
                    last_resync = time.monotonic()

    def _moved_by(self, notices: Iterable[Any]) -> frozenset[str]:
        """The namespaces that other processes' writes moved, by psycopg ``Notify`` objects
        (recording the generations they announce)."""
        moved: set[str] = set()
        for notice in notices:
            try:
                message: dict[str, Any] = json.loads(notice.payload)
                name, generation = str(message["ns"]), int(message["g"])
            except (ValueError, KeyError, TypeError):
                self._emit(None)  # unknown payload: let subscribers resync everything
                continue
            identifier, batch = message.get("id"), message.get("ids")
            if isinstance(identifier, str):
                self._announce(name, generation, [identifier])
            elif isinstance(batch, list) and batch and all(isinstance(i, str) for i in batch):
                # One per generation the batch moved, in order, ending at the one announced.
                self._announce(name, generation - len(batch) + 1, batch)
            known = self._generations.get(name)
            if known is None or known < generation:
                self._generations = {**self._generations, name: generation}
                if self._is_foreign(name, known, generation, notice.pid):
                    moved.add(name)
        return frozenset(moved)

    @staticmethod
    def _read(conn: Any) -> dict[str, int]:
        rows = conn.execute("SELECT name, generation FROM namespaces").fetchall()
        return {str(name): int(generation) for name, generation in rows}


_live_watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()


_fork_holds_sqlite = False


def _before_fork() -> None:
    global _fork_holds_sqlite
    _fork_holds_sqlite = _in_sqlite.acquire(timeout=FORK_WAIT_S)
    if not _fork_holds_sqlite:  # a subscriber blocks: fork anyway, as without the wait
        logger.warning(
            "forking while a registry watcher thread has been inside SQLite for %g s: "
            "the child may block at its first SQLite call",
            FORK_WAIT_S,
        )


def _after_fork_in_parent() -> None:
    global _fork_holds_sqlite
    if _fork_holds_sqlite:
        _fork_holds_sqlite = False
        _in_sqlite.release()


def _after_fork_in_child() -> None:
    global _in_sqlite, _fork_holds_sqlite
    _in_sqlite, _fork_holds_sqlite = threading.RLock(), False
    for watcher in list(_live_watchers):
        watcher._respawn_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows, where processes are spawned
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def start_watcher(
    url: str, dialect: str, path: Path | None = None, connect: SqliteConnect = sqlite3.connect
) -> Watcher:
    """Start the watcher of ``url`` (``path``: its SQLite file, opened with ``connect``) and
    return it once it has a baseline."""
    watcher: Watcher
    if dialect == "postgresql":
        watcher = PostgresWatcher(url)
    elif path is not None:
        watcher = SqliteWatcher(url, path, connect)
    else:
        raise ValueError(f"not a SQLite file URL: {masked_url(url)}")
    watcher.start()
    return watcher
