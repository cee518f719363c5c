"""``SqlStore``: the ``Store`` contract on SQLite or PostgreSQL through SQLAlchemy 2.

Every operation is one short transaction (``BEGIN IMMEDIATE`` for SQLite writes), replayed on
transient failures; registrations lock the namespace row, call :func:`decide` and bump the
namespace generation in that same transaction. Imports ``errors``, ``store.base``,
``store.engines``, ``store.migrate``, ``store.models``; ``store.watch`` lazily.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from registry.errors import RegistryError
from registry.store import limits
from registry.store.base import (
    BlobRecord,
    ChangeCallback,
    EntryDraft,
    EntryRecord,
    NamespaceKind,
    NamespaceRecord,
    Outcome,
    Registration,
    Store,
    WatchStatus,
    check_seal,
    decide,
    kind_mismatch_error,
    resealed,
)
from registry.store.engines import (
    get_engine,
    opened_mode,
    run_transaction,
    safe_url,
    sqlite_path,
    store_error,
)
from registry.store.migrate import ensure_schema
from registry.store.models import NAMESPACE_KINDS, BlobRow, EntryRow, HeadRow, NamespaceRow
from registry.store.sql_batch import register_many
from registry.store.sql_statements import (
    BLOB_COLUMNS,
    ENTRY_COLUMNS,
    IN_CHUNK,
    NOTIFY_CHANNEL,
    Statements,
    blob_params,
    entry_params,
    entry_record,
)

if TYPE_CHECKING:
    from registry.store.watch import Watcher

__all__ = ["NOTIFY_CHANNEL", "SqlStore"]

T = TypeVar("T")


class SqlStore(Store):
    """Records in a SQLite file or a PostgreSQL database shared by several machines.

    Args:
        url: a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://user@host/db``).
        auto_upgrade: upgrade a database that is behind instead of raising (only for the
            default local SQLite file; it is backed up first).

    Raises:
        SchemaVersionError: the database schema is behind or ahead of this package.
        StoreError: the database cannot be reached.
    """

    def __init__(self, url: str, *, auto_upgrade: bool = False) -> None:
        self.url = url
        self._engine = get_engine(url)
        self._dialect = self._engine.dialect.name
        self._sql = Statements(self._dialect)
        ensure_schema(self._engine, url, auto_upgrade=auto_upgrade)
        self._watcher: Watcher | None = None
        # Per thread: (namespace, before, after) of the running write transaction's bump.
        self._bumps = threading.local()
        self._watcher_lock = threading.Lock()

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

        def work(conn: Connection) -> NamespaceRecord:
            conn.execute(
                self._insert(NamespaceRow)
                .values(name=name, kind=kind)
                .on_conflict_do_nothing(index_elements=[NamespaceRow.name])
            )
            record = self._namespace(conn, name)
            assert record is not None  # inserted or already there, in this transaction
            if record.kind != kind:
                raise kind_mismatch_error(name, record.kind, kind)
            return record

        return self._run(work, write=True)

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        return self._run(lambda conn: self._namespace(conn, name), write=False)

    def list_namespaces(self) -> list[NamespaceRecord]:
        def work(conn: Connection) -> list[NamespaceRecord]:
            sizes = (
                select(HeadRow.namespace_id, func.count().label("size"))
                .group_by(HeadRow.namespace_id)
                .subquery()
            )
            rows = conn.execute(
                select(NamespaceRow.name, NamespaceRow.kind, NamespaceRow.generation, sizes.c.size)
                .outerjoin(sizes, sizes.c.namespace_id == NamespaceRow.id)
                .order_by(NamespaceRow.name)
            )
            return [NamespaceRecord(n, k, g, s or 0) for n, k, g, s in rows]

        return self._run(work, write=False)

    def list_entries(self, namespace: str) -> list[EntryRecord]:
        def work(conn: Connection) -> list[EntryRecord]:
            rows = conn.execute(
                select(*ENTRY_COLUMNS)
                .join(HeadRow, HeadRow.entry_id == EntryRow.id)
                .join(NamespaceRow, NamespaceRow.id == HeadRow.namespace_id)
                .where(NamespaceRow.name == namespace)
                .order_by(HeadRow.position)
            )
            return [entry_record(namespace, row) for row in rows]

        return self._run(work, write=False)

    def get_entry(self, namespace: str, identifier: str) -> EntryRecord | None:
        def work(conn: Connection) -> EntryRecord | None:
            namespace_id = self._namespace_id(conn, namespace)
            if namespace_id is None:
                return None
            return self._head(conn, namespace, namespace_id, identifier)

        return self._run(work, write=False)

    def history(self, namespace: str, identifier: str) -> list[EntryRecord]:
        def work(conn: Connection) -> list[EntryRecord]:
            rows = conn.execute(
                select(*ENTRY_COLUMNS)
                .join(NamespaceRow, NamespaceRow.id == EntryRow.namespace_id)
                .where(NamespaceRow.name == namespace, EntryRow.identifier == identifier)
                .order_by(EntryRow.version)
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
                    select(*BLOB_COLUMNS).where(BlobRow.sha256.in_(chunk))
                ).mappings()
                for row in rows:
                    found[row["sha256"]] = BlobRecord(**{**row, "data": bytes(row["data"])})
            return found

        return self._run(work, write=False)

    def generations(self) -> dict[str, int]:
        def work(conn: Connection) -> dict[str, int]:
            rows = conn.execute(select(NamespaceRow.name, NamespaceRow.generation))
            return {str(name): int(generation) for name, generation in rows.all()}

        return self._run(work, write=False)

    # -- writes --------------------------------------------------------------------------------

    def register(self, namespace: str, draft: EntryDraft) -> Registration:
        limits.check_draft(namespace, draft)

        def work(conn: Connection) -> Registration:
            namespace_id, generation = self._lock_namespace(conn, namespace)
            registration, wrote = self._register_one(
                conn, namespace, namespace_id, generation, draft
            )
            if wrote:
                self._bump(conn, namespace, namespace_id, 1)
            return registration

        return self._run_register(work, namespace, [draft])

    def register_batch(
        self, namespace: str, drafts: Sequence[EntryDraft]
    ) -> list[Registration | RegistryError]:
        limits.check_drafts(namespace, drafts)

        def work(conn: Connection) -> list[Registration | RegistryError]:
            namespace_id, generation = self._lock_namespace(conn, namespace)
            if bulk:
                results, writes = register_many(
                    conn,
                    self._sql,
                    namespace=namespace,
                    namespace_id=namespace_id,
                    generation=generation,
                    drafts=drafts,
                )
            else:
                results, writes = self._register_each(
                    conn, namespace, namespace_id, generation, drafts
                )
            if writes:
                self._bump(conn, namespace, namespace_id, writes)
            return results

        # Rows of one bulk statement must share their columns: drafts that bring their own
        # created_at (imports) or a seal (signed pickles) take the one-by-one path.
        bulk = len(drafts) > 1 and all(d.created_at is None and d.seal is None for d in drafts)
        return self._run_register(work, namespace, drafts)

    def _register_each(
        self,
        conn: Connection,
        namespace: str,
        namespace_id: int,
        generation: int,
        drafts: Sequence[EntryDraft],
    ) -> tuple[list[Registration | RegistryError], int]:
        results: list[Registration | RegistryError] = []
        writes = 0
        for draft in drafts:
            # decide() runs before anything is written for this draft, so a conflict
            # leaves no partial rows and the other drafts go on.
            try:
                registration, wrote = self._register_one(
                    conn, namespace, namespace_id, generation + writes, draft
                )
            except RegistryError as error:
                results.append(error)
                continue
            writes += wrote
            results.append(registration)
        return results, writes

    def unregister(self, namespace: str, identifier: str) -> bool:
        def work(conn: Connection) -> bool:
            namespace_id = self._namespace_id(conn, namespace, for_update=True)
            if namespace_id is None:
                return False
            removed = conn.execute(
                delete(HeadRow).where(
                    HeadRow.namespace_id == namespace_id, HeadRow.identifier == identifier
                )
            ).rowcount
            if removed:
                self._bump(conn, namespace, namespace_id, 1)
            return bool(removed)

        return self._run(work, write=True)

    def clear(self, namespace: str) -> int:
        def work(conn: Connection) -> int:
            namespace_id = self._namespace_id(conn, namespace, for_update=True)
            if namespace_id is None:
                return 0
            removed = conn.execute(
                delete(HeadRow).where(HeadRow.namespace_id == namespace_id)
            ).rowcount
            if removed:
                self._bump(conn, namespace, namespace_id, 1)
            return int(removed)

        return self._run(work, write=True)

    # -- change signals ------------------------------------------------------------------------

    def watch(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback`` from a background thread when namespaces change in the database.

        Writes made through this store object are not reported back (the watcher skips a
        generation move that was exactly ours); writes by other store objects of this process
        are.
        """
        if self._dialect == "sqlite" and (
            sqlite_path(self.url) is None or opened_mode(self._engine) == "immutable"
        ):
            return lambda: None  # no other writers (in memory), or none we could see (a snapshot)
        with self._watcher_lock:
            if self._watcher is None:
                from registry.store.watch import start_watcher

                self._watcher = start_watcher(self.url, self._engine)
            watcher = self._watcher
        return watcher.subscribe(callback)

    def watch_status(self) -> WatchStatus:
        watcher = self._watcher
        return WatchStatus(watching=False) if watcher is None else watcher.status()

    def close(self) -> None:
        with self._watcher_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    # -- helpers -------------------------------------------------------------------------------

    def _run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        try:
            return self._transaction(work, write=write)
        except IntegrityError as exc:  # a constraint we did not expect to hit: report it
            raise store_error(exc, self.url) from exc

    def _transaction(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """Run ``work`` with retries, telling the watcher which generation moves were ours."""

        def attempt(conn: Connection) -> T:
            self._retract_own_write()  # a previous attempt rolled back: its move never happened
            try:
                return work(conn)
            except BaseException:
                self._retract_own_write()  # before the rollback releases the namespace lock
                raise

        try:
            result = run_transaction(self._engine, attempt, write=write, url=self.url)
        except BaseException:
            self._retract_own_write()  # the commit itself failed
            raise
        move, self._bumps.move = getattr(self._bumps, "move", None), None
        watcher = self._watcher
        if move is not None and watcher is not None and self._dialect == "sqlite":
            watcher.note_own_write(*move)  # committed: data_version will show it shortly
        return result

    def _retract_own_write(self) -> None:
        move, self._bumps.move = getattr(self._bumps, "move", None), None
        watcher = self._watcher
        if move is not None and watcher is not None and self._dialect == "postgresql":
            watcher.retract_own_write(move[0], move[1])

    def _run_register(
        self, work: Callable[[Connection], T], namespace: str, drafts: Sequence[EntryDraft]
    ) -> T:
        try:
            return self._transaction(work, write=True)
        except IntegrityError:
            # The namespace lock makes this unreachable in practice; if a writer that ignores
            # the lock got in first, re-run once so decide() sees its row and reports it.
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

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    def _namespace(self, conn: Connection, name: str) -> NamespaceRecord | None:
        size = (
            select(func.count())
            .where(HeadRow.namespace_id == NamespaceRow.id)
            .correlate(NamespaceRow)
            .scalar_subquery()
        )
        row = conn.execute(
            select(NamespaceRow.kind, NamespaceRow.generation, size).where(
                NamespaceRow.name == name
            )
        ).first()
        return None if row is None else NamespaceRecord(name, row[0], row[1], row[2])

    def _namespace_id(self, conn: Connection, name: str, *, for_update: bool = False) -> int | None:
        query = select(NamespaceRow.id).where(NamespaceRow.name == name)
        if for_update:
            query = query.with_for_update()  # a no-op on SQLite, serialised by BEGIN IMMEDIATE
        return conn.execute(query).scalar()

    def _lock_namespace(self, conn: Connection, name: str) -> tuple[int, int]:
        """Lock the namespace row for this transaction; return its id and generation."""
        row = conn.execute(self._sql.lock_namespace, {"name": name}).first()
        if row is None:
            raise RegistryError(
                f"Namespace {name!r} does not exist",
                suggestions=["Declare a registry class with this logic_namespace first"],
                context={"registry_name": name},
            )
        return int(row[0]), int(row[1])

    def _head(
        self, conn: Connection, namespace: str, namespace_id: int, identifier: str
    ) -> EntryRecord | None:
        row = conn.execute(self._sql.head, {"ns_id": namespace_id, "ident": identifier}).first()
        return None if row is None else entry_record(namespace, row)

    def _register_one(
        self,
        conn: Connection,
        namespace: str,
        namespace_id: int,
        generation: int,
        draft: EntryDraft,
    ) -> tuple[Registration, bool]:
        current = self._head(conn, namespace, namespace_id, draft.identifier)
        outcome = decide(namespace, current, draft)
        if outcome is Outcome.UNCHANGED:
            assert current is not None
            check_seal(namespace, draft, current.version)
            updated = resealed(current, draft)
            if updated is None:
                return Registration(current, outcome), False
            assert draft.seal is not None
            conn.execute(
                self._sql.reseal,
                {
                    "ns_id": namespace_id,
                    "ident": draft.identifier,
                    "entry_version": current.version,
                    "new_key_id": draft.seal.key_id,
                    "new_seal": draft.seal.signature,
                },
            )
            return Registration(updated, outcome), True
        if draft.seal is not None:  # refuse a seal made for another version before writing
            ident = {"ns_id": namespace_id, "ident": draft.identifier}
            check_seal(namespace, draft, conn.execute(self._sql.next_version, ident).scalar_one())
        if draft.blob is not None:
            conn.execute(self._sql.insert_blob, blob_params(draft.blob))
        params = entry_params(draft)
        entry_id, version, created_at = conn.execute(
            self._sql.insert_entry,
            {
                **params,
                "namespace_id": namespace_id,
                "ns_id": namespace_id,
                "ident": draft.identifier,
            },
        ).one()
        # The head's primary key is the arbiter; a new version keeps the original position.
        conn.execute(
            self._sql.upsert_head,
            {
                "namespace_id": namespace_id,
                "identifier": draft.identifier,
                "entry_id": entry_id,
                "position": generation + 1,
            },
        )
        record = entry_record(namespace, {**params, "version": version, "created_at": created_at})
        return Registration(record, outcome), True

    def _bump(self, conn: Connection, namespace: str, namespace_id: int, writes: int) -> int:
        """Atomically add ``writes`` to the generation and announce it (PostgreSQL)."""
        row = conn.execute(self._sql.bump, {"ns_id": namespace_id, "writes": writes}).one()
        generation = int(row[0])
        self._bumps.move = (namespace, generation - writes, generation)
        watcher = self._watcher
        if watcher is not None and self._dialect == "postgresql":
            # The notification can beat our commit() back: record the move before committing,
            # tied to this backend; it is retracted if the transaction does not commit.
            pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
            watcher.note_own_write(namespace, generation - writes, generation, pid)
        return generation
