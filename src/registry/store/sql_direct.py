"""Reads on the bare DB-API driver (sqlite3, psycopg), for a process without SQLAlchemy.

A process that declares a persistent registry and looks a few artifacts up (a training job, a
notebook, a script) needs a handful of reads: the schema revision, the namespace row, an entry
row, perhaps the identifiers, and the catch-up read after another process's write. Importing SQLAlchemy Core costs more than everything else of
such a cold start together; the reads themselves cost well under a millisecond on the driver.
:class:`~registry.store.sql_lazy.LazySqlStore` serves them from here until it is asked for
anything else, then hands every call to ``SqlStore``, which reads its own SQLite catch-ups here
too (SQLAlchemy's execution machinery costs several times those three reads).

The statements here are the plain text of statements ``sql_statements.py`` builds with
SQLAlchemy; ``tests/store/test_direct_reads.py`` checks that both return the same records.
Whatever is unusual (a URL form not handled here, a database not at this package's revision,
any driver error) is not handled here: the caller falls back to ``SqlStore``, which has the
retries and the error messages. Also holds what the watcher and a cold start need without
SQLAlchemy: the store URL as the drivers take it, PostgreSQL's connection options, and the
head revision read from the migration files. Imports ``errors``, ``version``, ``store.base``,
``store.sql_rows``; psycopg only for PostgreSQL.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from registry.errors import StoreError
from registry.store.base import (
    NAMESPACE_KINDS,
    ChangeSet,
    EntryRecord,
    NamespaceKind,
    NamespaceRecord,
    change_set,
)
from registry.store.sql_rows import ENTRY_FIELDS, entry_record
from registry.version import install_hint

__all__ = [
    "NOTIFY_CHANNEL",
    "RETRY_BUDGET_S",
    "SQLITE_BUSY_TIMEOUT_S",
    "VERSION_TABLE",
    "DirectReadFailed",
    "DirectReader",
    "canonical_url",
    "head_from_files",
    "libpq_url",
    "masked_url",
    "pipeline_supported",
    "postgres_connect_args",
    "script_location",
    "sqlite_file",
]

#: Our own alembic version table: other alembic users may share the database (mlflow#2923).
VERSION_TABLE = "registry_alembic_version"

#: PostgreSQL channel on which every write announces ``{"ns": name, "g": generation}`` (sent
#: by ``sql_statements.py``, heard by ``watch.py``).
NOTIFY_CHANNEL = "registry_changes"

#: How long a SQLite statement waits for another process's lock (the driver's ``timeout``,
#: which is SQLite's busy timeout) before it fails with "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30.0

#: How long a transaction is replayed after transient failures (a lock, a deadlock, a dropped
#: connection, a database server restarting) before the caller gets a StoreError; a watcher
#: cut off this long warns that caches may be stale.
RETRY_BUDGET_S = 10.0

#: How PostgreSQL URLs may be spelled; all of them mean psycopg 3, the driver we depend on.
_POSTGRES_SCHEMES = ("postgresql+psycopg", "postgresql", "postgres")


# -- store URLs as the drivers take them -------------------------------------------------------


def canonical_url(url: str) -> str:
    """Return ``url`` with PostgreSQL spelled ``postgresql+psycopg://`` (the psycopg 3 driver).

    ``postgres://`` and ``postgresql://`` are accepted as PostgreSQL with psycopg 3.

    Raises:
        StoreError: the URL names another PostgreSQL driver (psycopg2, asyncpg, pg8000, ...).
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    if scheme in _POSTGRES_SCHEMES:
        return f"postgresql+psycopg://{rest}"
    backend, plus, driver = scheme.partition("+")
    if plus and backend in _POSTGRES_SCHEMES:
        fixed = f"postgresql+psycopg://{rest}"
        raise StoreError(
            f"registry talks to PostgreSQL through the psycopg 3 driver, not {driver!r} "
            f"({masked_url(url)})",
            suggestions=[f"Spell the URL {masked_url(fixed)} (postgresql:// means the same)"],
            context={"url": masked_url(url), "driver": driver},
        )
    return url


def sqlite_file(url: str) -> Path | None:
    """Return the file of a plain ``sqlite:///path`` URL; ``None`` for anything else (other
    backends, in-memory databases, URLs with options or escapes that SQLAlchemy interprets)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or any(mark in url for mark in "?%#"):
        return None
    database = url[len(prefix) :]
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def libpq_url(url: str) -> str | None:
    """Return a PostgreSQL store URL as libpq (psycopg) takes it; ``None`` for other URLs."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in _POSTGRES_SCHEMES:
        return None
    return f"postgresql://{rest}"


# Split user and password where SQLAlchemy's URL parser does (a password runs to the first
# "@"), so what SqlStore connects with is what gets masked, "/", "?" or "#" in it included.
_PASSWORD = re.compile(r"^([^:/?#]+://[^:/]*):[^@]*@")


def masked_url(url: str) -> str:
    """Return ``url`` with its password masked, for thread names and log lines."""
    return _PASSWORD.sub(r"\1:***@", url)


def postgres_connect_args() -> dict[str, Any]:
    """libpq options: timeouts, keepalives and an application name that finds us in pg_stat."""
    return {
        "application_name": f"registry@{socket.gethostname()}:{os.getpid()}"[:63],
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        # jit=off: every statement here is an index lookup of a few rows, but the planner
        # cannot see which namespace a name-keyed statement reads, so in a database with one
        # large namespace it estimated thousands of rows for a small one, passed
        # jit_above_cost, and spent 8-45 ms compiling a 0.1 ms catch-up.
        "options": "-c lock_timeout=10s -c statement_timeout=60s "
        "-c idle_in_transaction_session_timeout=60s -c jit=off",
    }


# -- the head revision, without alembic --------------------------------------------------------


def script_location() -> Path:
    """Return the directory holding ``env.py`` and ``versions/``.

    Raises:
        StoreError: neither the packaged copy nor a checkout's ``migrations/`` exists.
    """
    package_root = Path(__file__).resolve().parent.parent
    for candidate in (package_root / "_migrations", package_root.parent.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise StoreError(
        "The registry migration scripts are missing from this installation",
        suggestions=[f"Reinstall the package: {install_hint()} --force-reinstall"],
        context={"searched": str(package_root / "_migrations")},
    )


_REVISION_LINE = re.compile(
    r"^(revision|down_revision)\s*(?::[^=]+)?=\s*(?:\"([^\"]*)\"|'([^']*)'|(None))\s*$",
    re.MULTILINE,
)


def head_from_files(scripts: Path) -> str | None:
    """Read the head revision from the files under ``scripts`` (``None``: not sure).

    Understands only the plain ``revision = "..."`` / ``down_revision = "..." | None`` lines
    our template writes; anything else (merge revisions, several heads) returns ``None`` and
    the caller asks alembic.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (scripts / "versions").glob("*.py"):
        found = {m[0]: m[1] or m[2] or None for m in _REVISION_LINE.findall(path.read_text())}
        if "revision" not in found or "down_revision" not in found or not found["revision"]:
            if path.name != "__init__.py":
                return None
            continue
        revisions.add(found["revision"])
        if found["down_revision"]:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


# -- the reads ---------------------------------------------------------------------------------

_REVISION = f"SELECT version_num FROM {VERSION_TABLE}"
_NAMESPACE = "SELECT kind, generation, size FROM namespaces WHERE name = :name"
_ENTRY = (
    "SELECT "
    + ", ".join(f"entries.{field}" for field in ENTRY_FIELDS)
    + " FROM entries JOIN heads ON heads.entry_id = entries.id"
    " JOIN namespaces ON namespaces.id = heads.namespace_id"
    " WHERE namespaces.name = :name AND heads.identifier = :identifier"
)
_IDENTIFIERS = (
    "SELECT identifier FROM heads"
    " WHERE namespace_id = (SELECT id FROM namespaces WHERE name = :name)"
    " ORDER BY position"
)
# A listener's catch-up: the heads and tombstones whose change counter is above ``since``,
# unordered (see Statements.changed_heads for why; change_set sorts them by position).
_STATE = "SELECT id, generation, cleared_at FROM namespaces WHERE name = :name"
_CHANGED_HEADS = (
    "SELECT heads.position, "
    + ", ".join(f"entries.{field}" for field in ENTRY_FIELDS)
    + " FROM heads JOIN entries ON entries.id = heads.entry_id"
    " WHERE heads.namespace_id = :namespace_id AND heads.change > :since"
)
_REMOVED = (
    "SELECT identifier FROM tombstones WHERE namespace_id = :namespace_id AND change > :since"
)
# PostgreSQL: the three reads as one statement, so one snapshot in autocommit, and one index
# lookup per changed head (see Statements.changes and Statements.changed_heads for why). The
# namespace's row comes with NULL head columns, each changed head with NULL namespace columns.
_CHANGES_PG = (
    "SELECT NULL AS position, "
    + ", ".join(f"NULL AS {field}" for field in ENTRY_FIELDS)
    + ", namespaces.generation, namespaces.cleared_at, gone.removed FROM namespaces"
    " CROSS JOIN LATERAL (SELECT array_agg(tombstones.identifier) AS removed FROM tombstones"
    " WHERE tombstones.namespace_id = namespaces.id AND tombstones.change > :since) AS gone"
    " WHERE namespaces.name = :name"
    " UNION ALL SELECT heads.position, "
    + ", ".join(f"found.{field}" for field in ENTRY_FIELDS)
    + ", NULL, NULL, NULL FROM heads CROSS JOIN LATERAL (SELECT "
    + ", ".join(f"entries.{field}" for field in ENTRY_FIELDS)
    + " FROM entries WHERE entries.id = heads.entry_id LIMIT 1) AS found"
    " WHERE heads.namespace_id = (SELECT id FROM namespaces WHERE name = :name)"
    " AND heads.change > :since"
)


class DirectReadFailed(Exception):
    """A read on the bare driver failed; the caller reads through ``SqlStore`` instead."""


class DirectReader:
    """One connection on the bare driver and the reads a cold process needs.

    Thread-safe (one lock around the connection). A forked child opens its own connection
    rather than use its parent's. Once closed it stays closed: a read that another thread began
    before the close fails instead of opening a connection nobody will close.
    """

    def __init__(self, connect: Callable[[], Any], *, postgres: bool) -> None:
        self._connect = connect
        self._postgres = postgres
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = os.getpid()
        self._closed = False

    @classmethod
    def open(cls, url: str) -> DirectReader | None:
        """Return a reader for ``url``, or ``None`` when the URL is not one read here."""
        path = sqlite_file(url)
        if path is not None:
            return cls(lambda: _connect_sqlite(path), postgres=False)
        conninfo = libpq_url(url)
        if conninfo is not None:
            return cls(lambda: _connect_postgres(conninfo), postgres=True)
        return None

    def revision(self) -> str | None:
        """The schema revision the database records (``None``: none, or several)."""
        with self._session() as fetch:
            rows = fetch(_REVISION, {})
        return str(rows[0][0]) if len(rows) == 1 else None

    def namespace(self, name: str) -> NamespaceRecord | None:
        with self._session() as fetch:
            rows = fetch(_NAMESPACE, {"name": name})
        if not rows:
            return None
        kind, generation, size = rows[0]
        return NamespaceRecord(name, _kind(kind), int(generation), int(size))

    def entry(self, namespace: str, identifier: str) -> EntryRecord | None:
        with self._session() as fetch:
            rows = fetch(_ENTRY, {"name": namespace, "identifier": identifier})
        return _record(namespace, rows[0]) if rows else None

    def identifiers(self, namespace: str) -> list[str]:
        with self._session() as fetch:
            return [str(row[0]) for row in fetch(_IDENTIFIERS, {"name": namespace})]

    def changes(self, namespace: str, since: int) -> ChangeSet:
        """What changed after generation ``since``, read in one snapshot (``changes_since``):
        on PostgreSQL one statement, one round trip, as ``SqlStore.changes_since`` takes (a
        listening process makes one for each burst of other processes' writes)."""
        if self._postgres:
            with self._session() as fetch:
                found = fetch(_CHANGES_PG, {"name": namespace, "since": since})
            width = 1 + len(ENTRY_FIELDS)  # a head's columns, then the namespace's
            state = [row[width:] for row in found if row[width] is not None]
            heads = [row[:width] for row in found if row[width] is None]
            if not state:
                return ChangeSet(namespace, since, since)
            generation, cleared_at, removed = state[0]
            removed = removed or []
        else:
            with self._session(snapshot=True) as fetch:
                rows = fetch(_STATE, {"name": namespace})
                if not rows or rows[0][1] == since:  # nothing more to read
                    return ChangeSet(namespace, since, since)
                namespace_id, generation, cleared_at = rows[0]
                params = {"namespace_id": namespace_id, "since": since}
                heads = fetch(_CHANGED_HEADS, params)
                removed = [row[0] for row in fetch(_REMOVED, params)]
        if generation == since:
            return ChangeSet(namespace, since, since)
        changed = ((row[0], _record(namespace, row[1:])) for row in heads)
        return change_set(
            namespace,
            since,
            generation,
            cleared_at,
            changed=changed,
            removed=[str(identifier) for identifier in removed],
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None and self._pid == os.getpid():
                conn.close()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        """Hold the connection (opened on first use); any failure drops it and raises
        :class:`DirectReadFailed`."""
        with self._lock:
            if self._closed:
                raise DirectReadFailed("the reader is closed")
            try:
                if self._pid != os.getpid():  # forked: the connection is the parent's
                    self._conn, self._pid = None, os.getpid()
                if self._conn is None:
                    self._conn = self._connect()
                yield self._conn
            except Exception as exc:  # whatever it was, SqlStore reads it (and reports it)
                broken, self._conn = self._conn, None
                if broken is not None:
                    with contextlib.suppress(Exception):  # already broken: nothing to release
                        broken.close()
                raise DirectReadFailed(str(exc)) from exc

    @contextlib.contextmanager
    def _session(self, *, snapshot: bool = False) -> Iterator[_Fetch]:
        """Hold the connection; ``snapshot`` (SQLite): every read in one transaction."""
        with self._connection() as conn:

            def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
                text = _pyformat(sql) if self._postgres else sql
                return list(conn.execute(text, params).fetchall())

            if not snapshot:
                yield fetch
                return
            conn.execute("BEGIN")
            try:
                yield fetch
            finally:
                conn.execute("COMMIT")  # it only read: nothing to roll back


#: Runs one statement and returns its rows.
_Fetch = Callable[[str, dict[str, Any]], list[Any]]


def _record(namespace: str, row: Sequence[Any]) -> EntryRecord:
    values = dict(zip(ENTRY_FIELDS, row, strict=True))
    if isinstance(values["created_at"], str):  # sqlite3 returns the stored text
        values["created_at"] = datetime.fromisoformat(values["created_at"])
    return entry_record(namespace, values)


def _kind(kind: str) -> NamespaceKind:
    if kind not in NAMESPACE_KINDS:
        raise DirectReadFailed(f"unknown namespace kind {kind!r}")
    return kind


@functools.cache
def pipeline_supported() -> bool:
    """Whether psycopg's libpq has pipeline mode (14 and later; psycopg's binary wheels do)."""
    from psycopg import Pipeline

    return bool(Pipeline.is_supported())


@functools.cache
def _pyformat(sql: str) -> str:
    """``:name`` placeholders as psycopg spells them (``%(name)s``)."""
    return re.sub(r":(\w+)", r"%(\1)s", sql)


def _connect_sqlite(path: Path) -> sqlite3.Connection:
    # mode=rw: never create a file (opening a new store is SqlStore's job, with its schema).
    # Autocommit: each read is one statement, and no transaction stays open between reads.
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=rw",
        uri=True,
        timeout=SQLITE_BUSY_TIMEOUT_S,
        isolation_level=None,
        check_same_thread=False,
    )


def _connect_postgres(conninfo: str) -> Any:
    import psycopg

    return psycopg.connect(conninfo, autocommit=True, **postgres_connect_args())
