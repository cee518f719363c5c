"""One SQLAlchemy engine per URL per process, with the SQLite pragmas and PostgreSQL settings.

Also the one boundary where SQLAlchemy and driver exceptions become :class:`StoreError`, and the
transaction helper (``BEGIN IMMEDIATE`` for SQLite writes). Used by ``sql.py`` and
``migrate.py``; imports only ``errors``, ``store.sql_direct``, ``store.sql_driver`` and
SQLAlchemy.
"""

from __future__ import annotations

import atexit
import os
import random
import sqlite3
import stat
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    SQLAlchemyError,
)
from sqlalchemy.pool import StaticPool

from registry.errors import PermissionDeniedError, StoreError
from registry.store.sql_direct import (
    RETRY_BUDGET_S,
    SQLITE_BUSY_TIMEOUT_S,
    canonical_url,
    postgres_connect_args,
)
from registry.store.sql_driver import DriverErrors

__all__ = [
    "BeginMode",
    "begin_write",
    "connect_sqlite",
    "get_engine",
    "is_transient",
    "parse_url",
    "run_transaction",
    "safe_url",
    "sqlite_file_exists",
    "sqlite_path",
    "store_error",
    "transaction",
]

T = TypeVar("T")

#: How the SQLite begin event opens a transaction: reads take no lock, writes take the write
#: lock up front (a deferred transaction that upgrades to a write gets SQLITE_BUSY at once),
#: schema changes take it exclusively.
BeginMode = Literal["DEFERRED", "IMMEDIATE", "EXCLUSIVE"]
_BEGIN_OPTION = "registry_begin"

#: Pages of write-ahead log after which a commit checkpoints it (SQLite's default: 1,000).
WAL_AUTOCHECKPOINT_PAGES = 4_000
#: How long SQLite waits for another writer before a writer tries again (see begin_write).
WRITE_RETRY_MS = 1
BACKOFF_START_S = 0.05
BACKOFF_CAP_S = 1.0
#: A pooled PostgreSQL connection idle this long is checked (one round trip) before use.
PING_AFTER_IDLE_S = 1.0
#: PostgreSQL SQLSTATEs worth replaying the whole transaction for.
_TRANSIENT_SQLSTATES = {
    "40001",  # serialization failure
    "40P01",  # deadlock detected
    "55P03",  # lock not available
    "57P01",  # admin shutdown (the server is restarting)
    "57P02",  # crash shutdown
    "57P03",  # cannot connect now (starting up)
    "08000",  # connection exception
    "08001",  # could not establish the connection
    "08003",  # connection does not exist
    "08006",  # connection failure
}

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def safe_url(url: str | URL) -> str:
    """Return ``url`` with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable store URL>"


def parse_url(url: str | URL) -> URL:
    """Parse a store URL (PostgreSQL spelled for psycopg 3).

    Raises:
        StoreError: the URL cannot be parsed, or names another PostgreSQL driver.
    """
    if isinstance(url, URL):
        return url
    try:
        return make_url(canonical_url(url))
    except ArgumentError as exc:
        raise StoreError(
            f"Cannot parse the store URL {url!r}",
            suggestions=["Use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"],
            context={"url": safe_url(url)},
        ) from exc


def sqlite_path(url: str | URL) -> Path | None:
    """Return the file of a SQLite URL, or ``None`` for other backends and in-memory databases.

    Raises:
        StoreError: the URL cannot be parsed.
    """
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def get_engine(url: str) -> Engine:
    """Return this process's engine for ``url``, creating it on first use.

    Raises:
        StoreError: the URL is malformed or names an unsupported backend.
    """
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
        return engine


def dispose_engine(url: str) -> None:
    """Close and forget the engine of ``url`` (tests, ``SqlStore.close``)."""
    with _engines_lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def _create_engine(url: str) -> Engine:
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return _postgres_engine(parsed)
    raise StoreError(
        f"Unsupported store backend {backend!r} in {safe_url(parsed)}",
        suggestions=["Use a sqlite:/// or postgresql+psycopg:// URL, or memory://"],
        context={"url": safe_url(parsed)},
    )


def _sqlite_engine(url: URL) -> Engine:
    path = sqlite_path(url)
    # The driver's ``timeout`` sets SQLite's busy timeout on every connection.
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    options: dict[str, Any] = {"connect_args": connect_args}
    read_only = False
    if path is None:
        # An in-memory database lives in one connection: share it.
        options["poolclass"] = StaticPool
    else:
        read_only = not _sqlite_file_writable(path)
        _warn_if_network_filesystem(path)
        file = path
        options["creator"] = lambda: connect_sqlite(file, **connect_args)
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Autocommit at the driver level; the "begin" listener below emits BEGIN itself, so
        # reads, writes and DDL get exactly the transaction we ask for.
        dbapi_connection.isolation_level = None
        if path is not None and not read_only:
            _enable_wal(dbapi_connection)
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        # A checkpoint costs a commit a few milliseconds whatever its size (syncing the file is
        # most of it): checkpoint every ~16 MiB of log rather than SQLite's ~4 MiB.
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        # On the driver: SQLAlchemy's execution machinery costs more than the BEGIN itself.
        begin = f"BEGIN {mode}"
        driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        with DriverErrors(conn, begin):  # "database is locked" stays a transient failure
            if mode == "DEFERRED":
                driver.execute(begin)
            else:
                begin_write(driver, begin)

    return engine


def begin_write(
    connection: sqlite3.Connection, begin: str, timeout_s: float = SQLITE_BUSY_TIMEOUT_S
) -> None:
    """Run ``begin`` (``BEGIN IMMEDIATE`` or ``EXCLUSIVE``) on ``connection``, trying again
    every millisecond while another connection writes, for up to ``timeout_s``.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries, so a writer
    queued behind other processes' transactions (each well under a millisecond) slept up to
    25 ms after the lock was free: that was the p99 of a registration with 4 server workers on
    one file. The connection's busy timeout is 1 ms for the ``BEGIN`` and ``timeout_s`` again
    after it (readers keep SQLite's handler).
    """
    connection.execute(f"PRAGMA busy_timeout = {WRITE_RETRY_MS}")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                connection.execute(begin)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
    finally:
        connection.execute(f"PRAGMA busy_timeout = {round(timeout_s * 1000)}")


def _enable_wal(connection: sqlite3.Connection) -> None:
    """Put the file in WAL mode (once: it persists in the file).

    Switching needs an exclusive lock, and SQLite answers "database is locked" at once, without
    its busy handler, when another process holds any lock, as when several processes open a new
    file together; the switch is idempotent, so it is simply tried again.
    """
    for attempt in range(40):
        try:
            if str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if attempt == 39:
                raise
            time.sleep(min(0.01 * (attempt + 1), 0.25))


def sqlite_file_exists(path: Path) -> bool:
    """Return whether the SQLite file exists (never creates it).

    Raises:
        StoreError: a directory on the way cannot be searched by this user.
    """
    try:
        if path.is_dir():
            raise _directory_error(path)
        return path.is_file()
    except PermissionError as exc:
        raise _path_error(path, "cannot be reached", exc.strerror, path.parent) from exc


def _sqlite_file_writable(path: Path) -> bool:
    """Check that this user may use the SQLite file at ``path``; return whether it may write.

    A missing file is created later by SQLite, so its directory is created here. A file this
    user can read but not write (a lab's shared, read-only store) is opened read-only.

    Raises:
        StoreError: the path cannot be reached, read or created, naming the path and the cause.
    """
    if sqlite_file_exists(path):
        if not os.access(path, os.R_OK):
            raise _path_error(path, "cannot be read", "Permission denied", path)
        # SQLite writes journal files beside the database, so writing needs the directory too.
        return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _path_error(path, "cannot be created", exc.strerror, _nearest_existing(path)) from exc
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise _path_error(path, "cannot be created", "Permission denied", path.parent)
    return True


def _nearest_existing(path: Path) -> Path:
    for parent in path.parents:
        try:
            if parent.exists():
                return parent
        except OSError:
            continue
    return Path("/")


def _directory_error(path: Path) -> StoreError:
    return StoreError(
        f"The SQLite store {path} is a directory, not a SQLite file",
        suggestions=[f"Name a file in it, e.g. sqlite:///{path / 'registry.db'}"],
        context={"path": str(path)},
    )


def _path_error(path: Path, what: str, cause: str | None, check: Path) -> StoreError:
    context: dict[str, Any] = {"path": str(path), "checked": str(check)}
    try:
        info = check.stat()
        context.update(mode=stat.filemode(info.st_mode), owner_uid=info.st_uid)
        mode = f" (mode {stat.filemode(info.st_mode)}, owner uid {info.st_uid})"
    except OSError:
        mode = ""
    return StoreError(
        f"The SQLite store {path} {what}" + (f": {cause}" if cause else ""),
        suggestions=[
            f"Check the permissions of {check}{mode} for this user (uid {os.getuid()})",
            "Or use a store this user may write: REGISTRY_URL=sqlite:////path/you/own/registry.db",
        ],
        context=context,
    )


def connect_sqlite(path: Path, **options: Any) -> sqlite3.Connection:
    """Open the SQLite file at ``path``; read-only when this user may not write it.

    A read-only WAL database whose directory this user cannot write either (no ``-shm`` file to
    share) is opened as an immutable snapshot: reads work, and changes its owner makes are seen
    by the next connection (a read that meets a write in progress may fail; it is not retried).
    """
    conn: sqlite3.Connection
    if _sqlite_file_writable(path):
        conn = sqlite3.connect(path, **options)
        return conn
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, **options)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, **options)
    return conn


#: File systems on which SQLite's locking is unreliable (SQLite FAQ q5).
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "afs",
        "glusterfs",
        "ceph",
    }
)


def filesystem_type(path: Path, mounts: str | None = None) -> str | None:
    """Return the file system type of ``path`` from ``/proc/mounts`` (``None``: unknown)."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return None
    resolved = str(path.resolve())
    best, kind = "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, fields[2]
    return kind


def _warn_if_network_filesystem(path: Path) -> None:
    kind = filesystem_type(path.parent)
    if kind in NETWORK_FILESYSTEMS:
        warnings.warn(
            f"The SQLite store {path} is on a {kind} file system, where SQLite's locking is "
            "unreliable; share a store between machines with PostgreSQL instead",
            RuntimeWarning,
            stacklevel=4,
        )


def _postgres_engine(url: URL) -> Engine:
    # parse_url spelled the driver postgresql+psycopg already (canonical_url).
    engine = create_engine(
        url,
        # Five kept connections and no overflow: a burst of concurrent reads (a server
        # worker's catch-ups) reuses them, where overflow connections were opened and closed
        # again for every burst. A sixth concurrent user waits for one (pool_timeout).
        pool_size=5,
        max_overflow=0,
        pool_recycle=1800,
        # Rows per multi-row INSERT of a batch: a statement of 1,000 rows (the default) is a
        # few hundred KiB of SQL and parameters, and the heap it leaves behind stayed in the
        # process (~6 MiB more after a 10,000-entry batch); 100 rows cost no throughput.
        insertmanyvalues_page_size=100,
        pool_timeout=30,
        connect_args=postgres_connect_args(),
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use if it sat idle for :data:`PING_AFTER_IDLE_S`.

    A connection that has been idle is the one a server restart or a dropped network may have
    killed. SQLAlchemy's ``pool_pre_ping`` checks every checkout: one more round trip for each
    registration, which needs two otherwise. A connection that dies while in steady use fails
    its first statement instead, and ``run_transaction`` replays the transaction on a new one.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool replaces the connection and checks out again
            raise DisconnectionError(f"pooled connection lost while idle: {exc}") from exc


@contextmanager
def transaction(engine: Engine, mode: BeginMode = "DEFERRED") -> Iterator[Connection]:
    """Open one connection and one transaction (``mode`` picks the SQLite BEGIN flavour)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(**{_BEGIN_OPTION: mode})
        with conn.begin():
            yield conn


def run_transaction(engine: Engine, work: Callable[[Connection], T], *, write: bool, url: str) -> T:
    """Run ``work`` in one transaction, replaying it after transient failures.

    Each attempt rolls back completely before the next, with exponential back-off (50 ms,
    doubling, at most 1 s) and jitter, for up to :data:`RETRY_BUDGET_S` seconds: long enough to
    ride out a PostgreSQL restart. Errors raised by ``work`` itself (e.g. ``RegistryError``)
    pass through untouched.

    Raises:
        StoreError: a non-transient database failure, or transient ones that outlasted the budget.
    """
    mode: BeginMode = "IMMEDIATE" if write else "DEFERRED"
    delay = BACKOFF_START_S
    deadline = time.monotonic() + RETRY_BUDGET_S
    while True:
        try:
            with transaction(engine, mode) as conn:
                return work(conn)
        except IntegrityError:
            raise  # callers turn these into domain errors; never retried blindly
        except SQLAlchemyError as exc:
            pause = delay * (0.5 + random.random())
            if not is_transient(exc) or time.monotonic() + pause > deadline:
                raise store_error(exc, url, retried=True) from exc
        time.sleep(pause)
        delay = min(delay * 2, BACKOFF_CAP_S)


#: What a PostgreSQL connection failure says when the server is restarting, failing over or
#: briefly unreachable (psycopg gives connection failures no SQLSTATE). Wrong credentials or a
#: missing database are not among them: replaying cannot fix those.
_TRANSIENT_CONNECT_MARKERS = (
    "connection refused",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "server closed the connection unexpectedly",
    "terminating connection",
    "connection reset",
    "could not receive data",
    "could not send data",
    "consuming input failed",
    "timeout expired",
)


def is_transient(exc: BaseException) -> bool:
    """Return whether replaying the transaction may succeed: a lock or deadlock, a dropped
    connection, or a database server that refuses connections while it restarts."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        original = exc.orig
        text = str(original).lower()
        if isinstance(original, sqlite3.OperationalError):
            return "locked" in text or "busy" in text
        sqlstate = getattr(original, "sqlstate", None)
        if sqlstate is not None:
            return str(sqlstate) in _TRANSIENT_SQLSTATES
        return any(marker in text for marker in _TRANSIENT_CONNECT_MARKERS)
    return False


def store_error(exc: BaseException, url: str, *, retried: bool = False) -> StoreError:
    """Translate a SQLAlchemy/driver exception into a :class:`StoreError` naming the URL
    (``retried``: after :func:`run_transaction` replayed it for its whole budget).

    A refused write (a read-only database role or file) becomes a
    :class:`~registry.errors.PermissionDeniedError`.
    """
    shown = safe_url(url)
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = detail[0] if detail else type(exc).__name__
    context = {"url": shown, "cause": type(exc).__name__}
    path = _sqlite_file(url)
    if path is not None and isinstance(exc, DBAPIError):
        text = str(exc.orig).lower()
        if "readonly" in text or "read-only" in text:
            return PermissionDeniedError(
                f"The SQLite store {path} is read-only for this user: {reason}",
                suggestions=[
                    f"Ask the owner of {path} for write access to it and its directory",
                    "Or register into a store of your own: REGISTRY_URL=sqlite:////path/you/own.db",
                ],
                context={**context, "path": str(path)},
            )
        if "unable to open" in text:
            return _path_error(path, "cannot be opened", reason, path.parent)
        if "not a database" in text:
            return StoreError(
                f"The file {path} is not a SQLite database: {reason}",
                suggestions=["Check that the URL (--url, REGISTRY_URL) names a registry store"],
                context={**context, "path": str(path)},
            )
    problem = _problem(exc) if isinstance(exc, DBAPIError) else None
    if problem == "read-only":
        return PermissionDeniedError(
            f"The store at {shown} refused a write: {reason}",
            suggestions=[
                "This database role may only read: registering, unregistering and creating "
                "namespaces need INSERT, UPDATE and DELETE on the registry tables",
            ],
            context=context,
        )
    if problem == "unreachable":
        return StoreError(
            f"Cannot reach the store at {shown}: {reason}",
            suggestions=[
                "Check that the database server is running and reachable from this machine",
                "Check the URL (REGISTRY_URL, registry.configure(url=...)) and the credentials",
            ],
            context=context,
        )
    if problem == "full":
        return StoreError(
            f"The store at {shown} ran out of space: {reason}",
            suggestions=[
                "Free space on the disk (or raise the quota) that holds the database; the "
                "write that failed was rolled back, nothing of it was kept",
            ],
            context=context,
        )
    if problem == "schema":
        return StoreError(
            f"The store at {shown} does not have the schema this package expects: {reason}",
            suggestions=[
                "Run `registry db check` to list how the database differs from the models",
                "If someone changed the tables by hand, restore them from a backup",
            ],
            context=context,
        )
    if isinstance(exc, DBAPIError) and is_transient(exc):
        retries = f" for {RETRY_BUDGET_S:g} s of retries" if retried else ""
        return StoreError(
            f"The store at {shown} stayed busy or unreachable{retries}: {reason}",
            suggestions=[
                "Retry later: another process holds a long write transaction, or the database "
                "server is restarting or unreachable"
            ],
            context=context,
        )
    return StoreError(
        f"The store at {shown} failed: {reason}",
        suggestions=["Run `registry db check` to verify the schema and integrity of this database"],
        context=context,
    )


def _sqlite_file(url: str) -> Path | None:
    try:
        return sqlite_path(url)
    except StoreError:
        return None


#: SQLSTATEs by what they say about the store: 42501 insufficient privilege; 08 connection
#: exceptions, 28 invalid authorization, 3D000 no such database, 57P03 cannot connect now;
#: 42703 undefined column, 42P01 undefined table.
_READ_ONLY_SQLSTATES = frozenset({"42501", "25006"})
_UNREACHABLE_SQLSTATES = frozenset({"28000", "28P01", "3D000", "57P03"})
_SCHEMA_SQLSTATES = frozenset({"42703", "42P01"})
#: 53100 disk full, 53200 out of memory, 53400 configuration limit exceeded.
_FULL_SQLSTATES = frozenset({"53100", "53200", "53400"})
_SQLITE_SCHEMA_MARKERS = ("no such table", "no such column", "has no column named")
#: psycopg raises connection failures without a SQLSTATE; these phrases mark them.
_CONNECT_MARKERS = (
    "connection failed",
    "connection refused",
    "connection to server",
    "could not connect",
    "could not translate host name",
    "name or service not known",
    "timeout expired",
)


def _problem(exc: DBAPIError) -> str | None:
    """Classify a driver error: ``read-only``, ``unreachable``, ``full``, ``schema`` or ``None``."""
    original = exc.orig
    text = str(original).lower()
    if isinstance(original, sqlite3.Error):
        if "readonly database" in text or "read-only" in text:
            return "read-only"
        if "disk is full" in text:
            return "full"
        if "unable to open database file" in text:
            return "unreachable"
        if any(marker in text for marker in _SQLITE_SCHEMA_MARKERS):
            return "schema"
        return None
    sqlstate = str(getattr(original, "sqlstate", None) or "")
    if sqlstate in _READ_ONLY_SQLSTATES:
        return "read-only"
    if sqlstate.startswith("08") or sqlstate in _UNREACHABLE_SQLSTATES:
        return "unreachable"
    if sqlstate in _SCHEMA_SQLSTATES:
        return "schema"
    if sqlstate in _FULL_SQLSTATES:
        return "full"
    if not sqlstate and any(marker in text for marker in _CONNECT_MARKERS):
        return "unreachable"
    return None


def _dispose_all(close: bool) -> None:
    with _engines_lock:
        engines = list(_engines.values())
    for engine in engines:
        engine.dispose(close=close)


# A forked child must not reuse the parent's sockets: drop the pooled connections without
# closing them (they still belong to the parent).
if hasattr(os, "register_at_fork"):  # not on Windows, where processes are spawned
    os.register_at_fork(after_in_child=lambda: _dispose_all(close=False))
atexit.register(_dispose_all, True)
