"""``SqlStore``: the ``Store`` contract on SQLite or PostgreSQL through SQLAlchemy 2.

Every operation is one short transaction (``BEGIN IMMEDIATE`` for SQLite writes), replayed on
transient failures; registrations lock the namespace row, call :func:`decide` and bump the
namespace generation in that same transaction. On SQLite, a listener's catch-up
(:meth:`SqlStore.changes_since`) is read on a bare sqlite3 connection (``store.sql_direct``), and
through SQLAlchemy once that fails. Imports ``errors``, ``store.base``, ``store.engines``,
``store.migrate``, ``store.models``, ``store.sql_direct``, ``store.sql_driver``; ``store.watch``
lazily.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, delete, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from registry import gcpause
from registry.errors import RegistryError
from registry.store import limits
from registry.store.base import (
    NAMESPACE_KINDS,
    BlobRecord,
    ChangeCallback,
    ChangeSet,
    EntryDraft,
    EntryRecord,
    NamespaceKind,
    NamespaceRecord,
    Outcome,
    Registration,
    Store,
    WatchStatus,
    change_set,
    check_seal,
    decide,
    kind_mismatch_error,
    missing_namespace_error,
    resealed,
)
from registry.store.engines import (
    connect_sqlite,
    get_engine,
    run_transaction,
    safe_url,
    sqlite_path,
    store_error,
)
from registry.store.migrate import ensure_schema
from registry.store.models import blobs, entries, heads, namespaces, tombstones
from registry.store.sql_batch import register_few, register_many
from registry.store.sql_direct import (
    NOTIFY_CHANNEL,
    DirectReader,
    DirectReadFailed,
    pipeline_supported,
)
from registry.store.sql_driver import DriverStatement, OwnTransaction, execute, fetch_row
from registry.store.sql_statements import (
    BLOB_COLUMNS,
    ENTRY_COLUMNS,
    IN_CHUNK,
    Statements,
    blob_params,
    create_entry_params,
    entry_params,
    entry_record,
    write_entry_params,
)

if TYPE_CHECKING:
    from registry.store.watch import Watcher

__all__ = ["NOTIFY_CHANNEL", "SqlStore"]

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: Batches up to this many drafts take two round trips on PostgreSQL (one statement per new
#: row, sent together; what a server's group commit writes); larger ones take the bulk
#: statements, which cost fewer round trips than rows.
PIPELINED_BATCH = 32
#: Batches up to this many drafts are written draft by draft on SQLite, in one transaction:
#: with no round trips to save, the bulk statements' fixed cost (reads built for the batch's
#: identifiers, a multi-row insert) is more than small batches' own statements. Measured: 2
#: drafts 0.40 against 1.16 ms, 16 drafts 1.54 against 1.94 ms; bulk wins from about 24.
SQLITE_EACH_BATCH = 16
#: On PostgreSQL, a batch of at least this many drafts, or a registration that makes a
#: namespace this size or a larger power of two, refreshes stale planner statistics.
ANALYZE_AFTER = 1024


class SqlStore(Store):
    """Records in a SQLite file or a PostgreSQL database shared by several machines.

    Args:
        url: a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://user@host/db``).
        auto_upgrade: upgrade a database that is behind instead of raising (only for the
            default local SQLite file; it is backed up first).
        watcher: the running watcher of ``url`` to report changes with (a
            :class:`~registry.store.sql_lazy.LazySqlStore` hands over its own); by default
            the first :meth:`watch` starts one.
        reader: a direct reader of ``url``, handed over the same way; this store closes it.
            On SQLite it reads the catch-ups (by default this store opens one).

    Raises:
        SchemaVersionError: the database schema is behind or ahead of this package.
        StoreError: the database cannot be reached.
    """

    def __init__(
        self,
        url: str,
        *,
        auto_upgrade: bool = False,
        watcher: Watcher | None = None,
        reader: DirectReader | None = None,
    ) -> None:
        self.url = url
        self._engine = get_engine(url)
        self._dialect = self._engine.dialect.name
        self._sql = Statements(self._dialect)
        self._driver = _DriverStatements(self._sql, self._engine.dialect)
        # psycopg's pipeline mode needs libpq 14 (the psycopg-binary wheels bring 16 or later).
        self._pipelined = self._dialect == "postgresql" and pipeline_supported()
        ensure_schema(self._engine, url, auto_upgrade=auto_upgrade)
        self._watcher = watcher
        # Per thread: the (namespace, before, after) generation moves of the running write.
        self._bumps = threading.local()
        self._watcher_lock = threading.Lock()
        # SQLite catch-ups on a bare sqlite3 connection: a listening process (a server worker)
        # reads one for each burst of other processes' writes, and SQLAlchemy's execution
        # machinery costs several times the three reads (~210 against ~46 us). Dropped after
        # its first failure: SQLAlchemy then reads, with its retries and error messages.
        self._direct: DirectReader | None = None
        if self._dialect == "sqlite":
            self._direct = reader or DirectReader.open(url)
        elif reader is not None:
            reader.close()

    def __repr__(self) -> str:
        return f"SqlStore({safe_url(self.url)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Engines and threads do not cross processes; the URL does.
        return (SqlStore, (self.url,))

    # -- namespaces and reads ------------------------------------------------------------------

    def ensure_namespace(self, name: str, kind: NamespaceKind) -> NamespaceRecord:
        if kind not in NAMESPACE_KINDS:
            raise RegistryError(
                f"Unknown registry kind {kind!r} for namespace {name!r}",
                suggestions=[f"Use one of {', '.join(NAMESPACE_KINDS)}"],
                context={"registry_name": name, "kind": kind},
            )

        def create(conn: Connection) -> NamespaceRecord:
            conn.execute(
                self._sql.insert(namespaces)
                .values(name=name, kind=kind)
                .on_conflict_do_nothing(index_elements=[namespaces.c.name])
            )
            record = self._namespace(conn, name)
            assert record is not None  # inserted or already there, in this transaction
            return record

        # Nearly every call finds the namespace: read first, and write only to create it.
        record = self.get_namespace(name) or self._run(create, write=True)
        if record.kind != kind:
            raise kind_mismatch_error(name, record.kind, kind)
        return record

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        return self._run(lambda conn: self._namespace(conn, name), write=False)

    def list_namespaces(self) -> list[NamespaceRecord]:
        def work(conn: Connection) -> list[NamespaceRecord]:
            rows = conn.execute(
                select(
                    namespaces.c.name,
                    namespaces.c.kind,
                    namespaces.c.generation,
                    namespaces.c.size,
                ).order_by(namespaces.c.name)
            )
            return [NamespaceRecord(n, k, g, s) for n, k, g, s in rows]

        return self._run(work, write=False)

    def list_entries(self, namespace: str) -> list[EntryRecord]:
        def work(conn: Connection) -> list[EntryRecord]:
            rows = conn.execute(
                select(*ENTRY_COLUMNS)
                .join(heads, heads.c.entry_id == entries.c.id)
                .join(namespaces, namespaces.c.id == heads.c.namespace_id)
                .where(namespaces.c.name == namespace)
                .order_by(heads.c.position)
            )
            return [entry_record(namespace, row) for row in rows]

        return self._run(work, write=False)

    def list_identifiers(self, namespace: str) -> list[str]:
        def work(conn: Connection) -> list[str]:
            return list(conn.execute(self._sql.identifiers, {"name": namespace}).scalars())

        return self._run(work, write=False)

    def get_entry(self, namespace: str, identifier: str) -> EntryRecord | None:
        def work(conn: Connection) -> EntryRecord | None:
            row = conn.execute(
                self._sql.entry, {"name": namespace, "identifier": identifier}
            ).first()
            return None if row is None else entry_record(namespace, row)

        return self._run(work, write=False)

    def history(self, namespace: str, identifier: str) -> list[EntryRecord]:
        def work(conn: Connection) -> list[EntryRecord]:
            rows = conn.execute(
                select(*ENTRY_COLUMNS)
                .join(namespaces, namespaces.c.id == entries.c.namespace_id)
                .where(namespaces.c.name == namespace, entries.c.identifier == identifier)
                .order_by(entries.c.version)
            )
            return [entry_record(namespace, row) for row in rows]

        return self._run(work, write=False)

    def get_blob(self, sha256: str) -> BlobRecord | None:
        return self.get_blobs([sha256]).get(sha256)

    def get_blobs(self, hashes: Sequence[str]) -> dict[str, BlobRecord]:
        """Return the blobs among ``hashes`` that exist, keyed by hash (chunked ``IN`` lists)."""
        unique = sorted(set(hashes))

        def work(conn: Connection) -> dict[str, BlobRecord]:
            found: dict[str, BlobRecord] = {}
            for start in range(0, len(unique), IN_CHUNK):
                chunk = unique[start : start + IN_CHUNK]
                rows = conn.execute(
                    select(*BLOB_COLUMNS).where(blobs.c.sha256.in_(chunk))
                ).mappings()
                for row in rows:
                    found[row["sha256"]] = BlobRecord(**{**row, "data": bytes(row["data"])})
            return found

        return self._run(work, write=False)

    def generations(self) -> dict[str, int]:
        def work(conn: Connection) -> dict[str, int]:
            rows = conn.execute(select(namespaces.c.name, namespaces.c.generation))
            return {str(name): int(generation) for name, generation in rows.all()}

        return self._run(work, write=False)

    def changes_since(self, namespace: str, generation: int) -> ChangeSet:
        """Read the heads and tombstones whose change counter is above ``generation`` (both
        indexed), so the cost follows the number of changes, not the size of the namespace."""
        direct = self._direct
        if direct is not None and -1 <= generation <= limits.GENERATION:
            try:
                return direct.changes(namespace, generation)
            except DirectReadFailed:
                self._direct = None
                direct.close()
        return self._changes_since(namespace, generation)

    def _changes_since(self, namespace: str, generation: int) -> ChangeSet:
        """:meth:`changes_since` through SQLAlchemy."""
        # No change counter lies outside 0..GENERATION; the database takes no number beyond.
        params = {"name": namespace, "since": min(max(generation, -1), limits.GENERATION)}

        def work(conn: Connection) -> ChangeSet:
            if self._dialect == "postgresql":
                # One statement, so one snapshot, in one round trip (Statements.changes).
                with OwnTransaction(conn) as own:
                    found = own.fetch_all_alone(self._driver.changes, params)
                rows = [row for row in found if row["generation"] is None]
                state = next((row for row in found if row["generation"] is not None), None)
                removed = (state and state["removed"]) or []
            else:
                namespace_row = conn.execute(self._sql.namespace_state, params).first()
                state = None if namespace_row is None else dict(namespace_row._mapping)
                if state is None or state["generation"] == generation:
                    return ChangeSet(namespace, generation, generation)
                rows = [dict(row._mapping) for row in conn.execute(self._sql.changed_heads, params)]
                removed = list(conn.execute(self._sql.removed, params).scalars())
            if state is None or state["generation"] == generation:
                return ChangeSet(namespace, generation, generation)
            changed = ((row["position"], entry_record(namespace, row)) for row in rows)
            return change_set(
                namespace,
                generation,
                state["generation"],
                state["cleared_at"],
                changed=changed,
                removed=removed,
            )

        return self._run(work, write=False)

    # -- writes --------------------------------------------------------------------------------

    def register(self, namespace: str, draft: EntryDraft) -> Registration:
        limits.check_draft(namespace, draft)

        def work(conn: Connection) -> Registration:
            if not self._pipelined:
                return self._register_one(conn, namespace, draft)
            if draft.blob is None and draft.seal is None:
                with OwnTransaction(conn) as own:
                    settled = self._register_in_one_trip(conn, namespace, draft, own)
                if settled is not None:
                    return settled
            with OwnTransaction(conn) as pipeline:
                return self._register_one(conn, namespace, draft, pipeline)

        self._bumps.doubled = False
        registration = self._run_register(work, namespace, [draft])
        if self._bumps.doubled:
            self._refresh_statistics(namespace)
        return registration

    def register_batch(
        self, namespace: str, drafts: Sequence[EntryDraft]
    ) -> list[Registration | RegistryError]:
        limits.check_drafts(namespace, drafts)

        def work(conn: Connection) -> list[Registration | RegistryError]:
            if few:
                with OwnTransaction(conn) as own:
                    return register_few(
                        own,
                        lock=self._driver.lock_namespace,
                        read=self._driver.lock_and_read,
                        write_row=self._driver.write_row,
                        bump=self._driver.bump,
                        namespace=namespace,
                        drafts=drafts,
                        moved=lambda before, after: self._moved(conn, namespace, before, after),
                    )
            locked = self._lock_namespace(conn, namespace)
            if locked is None:
                raise missing_namespace_error(namespace)
            if not bulk:
                return self._register_each(conn, namespace, drafts)
            namespace_id, generation = locked
            results, writes, created = register_many(
                conn,
                self._sql,
                namespace=namespace,
                namespace_id=namespace_id,
                generation=generation,
                drafts=drafts,
            )
            if writes:
                self._bump(conn, namespace, namespace_id, writes, created)
            return results

        # Rows of one bulk statement must share their columns: drafts that bring their own
        # created_at (imports) or a seal (signed pickles) take the one-by-one path.
        smallest_bulk = SQLITE_EACH_BATCH + 1 if self._dialect == "sqlite" else 2
        bulk = len(drafts) >= smallest_bulk and all(
            d.created_at is None and d.seal is None for d in drafts
        )
        few = (
            bulk
            and self._pipelined
            and len(drafts) <= PIPELINED_BATCH
            and all(draft.blob is None for draft in drafts)
        )
        with gcpause.paused():  # thousands of acyclic rows and records: see registry.gcpause
            results = self._run_register(work, namespace, drafts)
        if self._dialect == "postgresql" and len(drafts) >= ANALYZE_AFTER:
            self._refresh_statistics(namespace)
        return results

    def _refresh_statistics(self, namespace: str) -> None:
        """PostgreSQL, after a large batch or a doubling of ``namespace``: ``ANALYZE`` heads and
        entries if their statistics know less than half of its identifiers.

        Sessions keep a generic plan of each statement they have run five times (psycopg
        prepares it). Planned on a near-empty ``heads``, the lookup of one identifier filters
        every head of the namespace through the ``(namespace_id, change)`` index instead of
        using the key; ``ANALYZE`` makes every session plan again, where autovacuum would wait
        for its next pass (docs/storage.md has the figures). Best effort: the batch has
        committed, and PostgreSQL skips tables the role does not own with a warning.
        """
        try:
            with self._engine.connect() as conn:
                known, size = conn.execute(self._sql.statistics_known, {"name": namespace}).one()
                if known < size / 2:  # -1: never analyzed
                    conn.execute(text("ANALYZE heads, entries"))
                conn.commit()
        except SQLAlchemyError as exc:
            logger.debug("ANALYZE after a batch into %r failed: %s", namespace, exc)

    def _register_each(
        self, conn: Connection, namespace: str, drafts: Sequence[EntryDraft]
    ) -> list[Registration | RegistryError]:
        results: list[Registration | RegistryError] = []
        for draft in drafts:
            # decide() runs before anything is written for this draft, so a conflict
            # leaves no partial rows and the other drafts go on.
            try:
                results.append(self._register_one(conn, namespace, draft))
            except RegistryError as error:
                results.append(error)
        return results

    def unregister(self, namespace: str, identifier: str) -> bool:
        def work(conn: Connection) -> bool:
            locked = self._lock_namespace(conn, namespace)
            if locked is None:
                return False
            namespace_id, generation = locked
            removed = conn.execute(
                delete(heads).where(
                    heads.c.namespace_id == namespace_id, heads.c.identifier == identifier
                )
            ).rowcount
            if not removed:
                return False
            conn.execute(
                self._sql.tombstone,
                {"namespace_id": namespace_id, "identifier": identifier, "change": generation + 1},
            )
            self._bump(conn, namespace, namespace_id, 1, -1)
            return True

        return self._run(work, write=True)

    def clear(self, namespace: str) -> int:
        def work(conn: Connection) -> int:
            locked = self._lock_namespace(conn, namespace)
            if locked is None:
                return 0
            namespace_id, generation = locked
            removed = conn.execute(delete(heads).where(heads.c.namespace_id == namespace_id))
            if not removed.rowcount:
                return 0
            # The clear itself tells listeners that everything before it is gone.
            conn.execute(delete(tombstones).where(tombstones.c.namespace_id == namespace_id))
            conn.execute(self._sql.clear_mark, {"namespace_id": namespace_id})
            self._moved(conn, namespace, generation, generation + 1)
            return int(removed.rowcount)

        return self._run(work, write=True)

    # -- change signals ------------------------------------------------------------------------

    def watch(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback`` from a background thread when namespaces change in the database.

        Writes made through this store object are not reported back (the watcher skips a
        generation move that was exactly ours); writes by other store objects of this process
        are.
        """
        if self._dialect == "sqlite" and sqlite_path(self.url) is None:
            return lambda: None  # an in-memory database has no other writers
        with self._watcher_lock:
            if self._watcher is None:
                from registry.store.watch import start_watcher

                path = sqlite_path(self.url)
                self._watcher = start_watcher(self.url, self._dialect, path, connect_sqlite)
            watcher = self._watcher
        return watcher.subscribe(callback)

    def watch_status(self) -> WatchStatus:
        watcher = self._watcher
        return WatchStatus(watching=False) if watcher is None else watcher.status()

    def announced_writes(self, namespace: str, since: int) -> tuple[int, list[str]] | None:
        watcher = self._watcher
        return None if watcher is None else watcher.announced_writes(namespace, since)

    def close(self) -> None:
        with self._watcher_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        direct, self._direct = self._direct, None
        if direct is not None:
            direct.close()

    # -- helpers -------------------------------------------------------------------------------

    def _run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        try:
            return self._transaction(work, write=write)
        except IntegrityError as exc:  # a constraint we did not expect to hit: report it
            raise store_error(exc, self.url) from exc

    def _transaction(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """Run ``work`` with retries, telling the watcher which generation moves were ours."""

        def attempt(conn: Connection) -> T:
            self._retract_own_moves()  # a previous attempt rolled back: its moves never happened
            try:
                return work(conn)
            except BaseException:
                self._retract_own_moves()  # before the rollback releases the namespace lock
                raise

        try:
            result = run_transaction(self._engine, attempt, write=write, url=self.url)
        except BaseException:
            self._retract_own_moves()  # the commit itself failed
            raise
        self._bumps.moves = None  # committed: the watcher skips them when it sees them
        return result

    def _retract_own_move(self, namespace: str, before: int) -> None:
        moves = getattr(self._bumps, "moves", None) or []
        moves[:] = [move for move in moves if move[:2] != (namespace, before)]
        if self._watcher is not None:
            self._watcher.retract_own_write(namespace, before)

    def _retract_own_moves(self) -> None:
        moves, self._bumps.moves = getattr(self._bumps, "moves", None), None
        watcher = self._watcher
        if moves and watcher is not None:
            for namespace, before, _after in moves:
                watcher.retract_own_write(namespace, before)

    def _run_register(
        self, work: Callable[[Connection], T], namespace: str, drafts: Sequence[EntryDraft]
    ) -> T:
        try:
            return self._transaction(work, write=True)
        except IntegrityError:
            # A one-trip registration that lost a race for a new identifier (its snapshot
            # predates the winner's commit), or a writer that ignores the namespace lock: re-run
            # once, so that decide() sees the winner's row and reports it.
            pass
        try:
            return self._transaction(work, write=True)
        except IntegrityError as exc:
            existing = [self.get_entry(namespace, d.identifier) for d in drafts]
            taken = ", ".join(f"{e.identifier} -> {e.origin}" for e in existing if e is not None)
            raise RegistryError(
                f"A concurrent writer registered the same identifiers in {namespace!r} "
                f"({taken or 'unknown'}); cannot register " + ", ".join(d.origin for d in drafts),
                suggestions=["Retry: the database now holds the other writer's version"],
                context={
                    "registry_name": namespace,
                    "existing": taken,
                    "new_origins": [d.origin for d in drafts],
                },
            ) from exc

    def _namespace(self, conn: Connection, name: str) -> NamespaceRecord | None:
        row = conn.execute(
            select(namespaces.c.kind, namespaces.c.generation, namespaces.c.size).where(
                namespaces.c.name == name
            )
        ).first()
        return None if row is None else NamespaceRecord(name, row[0], row[1], row[2])

    def _lock_namespace(self, conn: Connection, name: str) -> tuple[int, int] | None:
        """Lock the namespace row for this transaction; return its id and generation."""
        row = conn.execute(self._sql.lock_namespace, {"name": name}).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def _register_one(
        self,
        conn: Connection,
        namespace: str,
        draft: EntryDraft,
        pipeline: OwnTransaction | None = None,
    ) -> Registration:
        """Lock the namespace and read the identifier's state (one statement), decide, then
        write (one statement on PostgreSQL). With ``pipeline`` (PostgreSQL, a transaction of
        its own), the BEGIN travels with the read and the COMMIT with the write: two round
        trips."""
        key = {"name": namespace, "identifier": draft.identifier}
        state: dict[str, Any] | None
        if pipeline is not None:
            state = pipeline.begin_and_fetch(self._driver.lock_and_read, key)
        else:
            state = fetch_row(conn, self._driver.lock_and_read, key)
        if state is None:
            raise missing_namespace_error(namespace)
        current = None if state["version"] is None else entry_record(namespace, state)
        outcome = decide(namespace, current, draft)
        namespace_id, generation = int(state["id"]), int(state["generation"]) + 1
        if outcome is Outcome.UNCHANGED:
            assert current is not None
            return self._reseal(conn, namespace, namespace_id, current, draft)
        version = (state["last_version"] or 0) + 1
        # Refuse a seal made for another version before anything is written.
        check_seal(namespace, draft, version)
        if draft.blob is not None:
            conn.execute(self._sql.insert_blob, blob_params(draft.blob))
        params = {**entry_params(draft), "namespace_id": namespace_id, "version": version}
        # A new version keeps its head's position; a new head is placed at this generation.
        head = {"change": generation, "added": 1 if current is None else 0}
        if pipeline is not None:
            # Noted before the COMMIT leaves: the notification can beat its answer back.
            self._moved(conn, namespace, generation - 1, generation)
            written = write_entry_params(params, **head)
            entry_id, created_at, _ = pipeline.execute_and_commit(self._driver.write_entry, written)
        elif self._dialect == "postgresql":
            written = write_entry_params(params, **head)
            entry_id, created_at, _ = conn.execute(self._sql.write_entry, written).one()
            self._moved(conn, namespace, generation - 1, generation)
        else:
            if draft.created_at is None:  # the statement compiled for the usual columns
                inserted = fetch_row(conn, self._driver.insert_entry, params)
                assert inserted is not None  # RETURNING of an INSERT
                entry_id, created_at = inserted["id"], inserted["created_at"]
            else:
                entry_id, created_at = conn.execute(self._sql.insert_entry, params).one()
            execute(
                conn,
                self._driver.upsert_head,
                {
                    "namespace_id": namespace_id,
                    "identifier": draft.identifier,
                    "entry_id": entry_id,
                    "position": generation,
                    "change": generation,
                },
            )
            if state["tombstoned"]:
                conn.execute(
                    self._sql.untombstone,
                    {"namespace_id": namespace_id, "identifier": draft.identifier},
                )
            self._bump(conn, namespace, namespace_id, 1, head["added"])
        record = entry_record(namespace, {**params, "created_at": created_at})
        return Registration(record, outcome, generation)

    def _register_in_one_trip(
        self, conn: Connection, namespace: str, draft: EntryDraft, own: OwnTransaction
    ) -> Registration | None:
        """PostgreSQL, a draft without blob or seal: one statement in autocommit creates the
        identifier if it has no head, else writes nothing and returns its current entry.

        That settles the two common registrations in one round trip: a new identifier, and a
        definition run again unchanged. Return None when a new version is due: the caller
        then runs the usual two round trips, which read the state again under the lock. A
        conflict raises as on the usual path.
        """
        params = entry_params(draft)
        # The generation is known only once the statement has committed, and the watcher may
        # see the notification before the answer arrives: note the likely move now (the usual
        # path notes the exact one, read under the lock, before its COMMIT), correct it after.
        watcher = self._watcher
        guess = None if watcher is None else watcher.expected_generation(namespace)
        if guess is not None:
            self._moved(conn, namespace, guess, guess + 1)
        row = own.fetch_alone(self._driver.create_entry, create_entry_params(namespace, params))
        if row is None:
            raise missing_namespace_error(namespace)
        generation = row["generation"]
        guessed = guess is not None and generation == guess + 1
        if guess is not None and not guessed:
            self._retract_own_move(namespace, guess)
        if generation is not None:
            if not guessed:
                # No guess, or another process wrote in between: noted late, so the watcher
                # may read this entry back once.
                self._moved(conn, namespace, generation - 1, generation)
            created = {
                **params,
                "version": row["created_version"],
                "created_at": row["created_at_new"],
            }
            size = row["size"]
            # Grown one by one to a power of two: checked once this connection is back.
            self._bumps.doubled = size >= ANALYZE_AFTER and size & (size - 1) == 0
            return Registration(entry_record(namespace, created), Outcome.CREATED, generation)
        if row["version"] is None:
            return None  # not reachable: an identifier without head is created
        current = entry_record(namespace, row)
        if decide(namespace, current, draft) is Outcome.UNCHANGED:
            return Registration(current, Outcome.UNCHANGED)
        return None

    def _reseal(
        self,
        conn: Connection,
        namespace: str,
        namespace_id: int,
        current: EntryRecord,
        draft: EntryDraft,
    ) -> Registration:
        """An unchanged registration: nothing to write, unless it brings a new seal."""
        check_seal(namespace, draft, current.version)
        updated = resealed(current, draft)
        if updated is None or draft.seal is None:
            return Registration(current, Outcome.UNCHANGED)
        where = {"where_namespace_id": namespace_id, "where_identifier": draft.identifier}
        seal = {"new_key_id": draft.seal.key_id, "new_seal": draft.seal.signature}
        conn.execute(self._sql.reseal, {**where, **seal, "where_version": current.version})
        generation = self._bump(conn, namespace, namespace_id, 1, 0)
        conn.execute(self._sql.touch_head, {**where, "new_change": generation})
        return Registration(updated, Outcome.UNCHANGED, generation)

    def _bump(
        self, conn: Connection, namespace: str, namespace_id: int, writes: int, added: int
    ) -> int:
        """Atomically add ``writes`` to the generation and ``added`` to the size, and announce
        it (PostgreSQL)."""
        values = {"namespace_id": namespace_id, "writes": writes, "added": added}
        if self._dialect == "sqlite":
            bumped = fetch_row(conn, self._driver.bump, values)
            assert bumped is not None  # the namespace row is locked by this transaction
            generation = int(bumped["generation"])
        else:
            generation = int(conn.execute(self._sql.bump, values).one()[0])
        self._moved(conn, namespace, generation - writes, generation)
        return generation

    def _moved(self, conn: Connection, namespace: str, before: int, after: int) -> None:
        """Record a generation move of the running transaction, so the watcher skips it."""
        moves = getattr(self._bumps, "moves", None)
        if moves is None:
            moves = self._bumps.moves = []
        moves.append((namespace, before, after))
        watcher = self._watcher
        if watcher is None:
            return
        # Recorded before committing, and retracted if the transaction does not commit: the
        # watcher can see the commit (a notification, SQLite's data_version) before commit()
        # returns, and would then read our own write back as another process's. No other
        # writer can make this same move meanwhile: we hold the namespace row lock
        # (PostgreSQL, where the move is also tied to this backend) or the write lock (SQLite).
        pid = None
        if self._dialect == "postgresql":
            pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        watcher.note_own_write(namespace, before, after, pid)


class _DriverStatements:
    """The statements of a registration as the driver runs them (``store.sql_driver``)."""

    def __init__(self, statements: Statements, dialect: Dialect) -> None:
        self.lock_and_read = DriverStatement(statements.lock_and_read, dialect)
        self.bump = DriverStatement(statements.bump, dialect)
        if dialect.name == "postgresql":
            self.lock_namespace = DriverStatement(statements.lock_namespace, dialect)
            self.write_row = DriverStatement(statements.write_row, dialect)
            self.write_entry = DriverStatement(statements.write_entry, dialect)
            self.create_entry = DriverStatement(statements.create_entry, dialect)
            self.changes = DriverStatement(statements.changes, dialect)
            return
        written = [*entry_params(EntryDraft("x", "m:x")), "namespace_id", "version"]
        self.insert_entry = DriverStatement(statements.insert_entry, dialect, written)
        self.upsert_head = DriverStatement(statements.upsert_head, dialect, list(_HEAD_KEYS))


_HEAD_KEYS = ("namespace_id", "identifier", "entry_id", "position", "change")
