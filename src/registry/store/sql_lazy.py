"""``LazySqlStore``: a SQL store that loads SQLAlchemy only when a call needs it.

What :func:`~registry.store.open_store` returns (inside a ``CachedStore``) for SQLite and
PostgreSQL URLs. A process that only looks artifacts up (the common cold start: declare a
registry, restore one artifact, hear of other processes' writes) never imports SQLAlchemy: the
schema revision, namespace rows, entry rows, identifier listings and catch-up reads are read on
the bare driver (``sql_direct.py``), and the change watcher needs no SQLAlchemy either. The
first call of anything else (a write, a full listing, history, blobs), or any failure of a
direct read, creates the ``SqlStore`` once; from then on it serves every call, and the direct
connection is closed.
Imports ``store.base``, ``store.sql_direct``; ``store.sql`` and ``store.watch`` when needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from registry.errors import RegistryError
from registry.store.base import (
    BlobRecord,
    ChangeCallback,
    ChangeSet,
    EntryDraft,
    EntryRecord,
    NamespaceKind,
    NamespaceRecord,
    Registration,
    Store,
    kind_mismatch_error,
)
from registry.store.sql_direct import (
    DirectReader,
    DirectReadFailed,
    head_from_files,
    libpq_url,
    masked_url,
    script_location,
    sqlite_file,
)

if TYPE_CHECKING:
    from registry.store.sql import SqlStore
    from registry.store.watch import Watcher

__all__ = ["LazySqlStore"]

T = TypeVar("T")


class LazySqlStore(Store):
    """The ``Store`` contract of ``SqlStore``, opened without loading SQLAlchemy.

    Args:
        url: a SQLite or PostgreSQL store URL.
        auto_upgrade: as for ``SqlStore`` (only for the default local SQLite file).

    Raises:
        SchemaVersionError: the database schema is behind or ahead of this package.
        StoreError: the database cannot be reached.
    """

    def __init__(self, url: str, *, auto_upgrade: bool = False) -> None:
        self.url = url
        self._auto_upgrade = auto_upgrade
        self._lock = threading.Lock()
        self._full: SqlStore | None = None
        self._watcher: Watcher | None = None
        self._reader = DirectReader.open(url)
        if not self._at_head():
            self._sql()  # create, upgrade or refuse the schema: SqlStore's job, with its errors

    def __repr__(self) -> str:
        return f"LazySqlStore({masked_url(self.url)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (LazySqlStore, (self.url,))

    def _at_head(self) -> bool:
        """Whether the direct reader works and the database is at this package's revision."""
        if self._reader is None:
            return False
        head = head_from_files(script_location())
        try:
            return head is not None and self._reader.revision() == head
        except DirectReadFailed:
            return False

    # -- reads the bare driver serves ----------------------------------------------------------

    def ensure_namespace(self, name: str, kind: NamespaceKind) -> NamespaceRecord:
        record = self.get_namespace(name)
        if record is None:
            return self._sql().ensure_namespace(name, kind)  # created (or kind refused) there
        if record.kind != kind:
            raise kind_mismatch_error(name, record.kind, kind)
        return record

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        return self._read(
            lambda reader: reader.namespace(name), lambda store: store.get_namespace(name)
        )

    def get_entry(self, namespace: str, identifier: str) -> EntryRecord | None:
        return self._read(
            lambda reader: reader.entry(namespace, identifier),
            lambda store: store.get_entry(namespace, identifier),
        )

    def list_identifiers(self, namespace: str) -> list[str]:
        return self._read(
            lambda reader: reader.identifiers(namespace),
            lambda store: store.list_identifiers(namespace),
        )

    def changes_since(self, namespace: str, generation: int) -> ChangeSet:
        return self._read(
            lambda reader: reader.changes(namespace, generation),
            lambda store: store.changes_since(namespace, generation),
        )

    def watch(self, callback: ChangeCallback) -> Callable[[], None]:
        with self._lock:
            if self._full is None:
                watcher = self._watcher or _start_watcher(self.url)
                if watcher is not None:
                    self._watcher = watcher  # SqlStore adopts it if it is created later
                    return watcher.subscribe(callback)
        return self._sql().watch(callback)

    def announced_writes(self, namespace: str, since: int) -> tuple[int, list[str]] | None:
        full = self._full
        if full is not None:
            return full.announced_writes(namespace, since)
        watcher = self._watcher
        return None if watcher is None else watcher.announced_writes(namespace, since)

    # -- everything else: SqlStore ---------------------------------------------------------------

    def list_namespaces(self) -> list[NamespaceRecord]:
        return self._sql().list_namespaces()

    def list_entries(self, namespace: str) -> list[EntryRecord]:
        return self._sql().list_entries(namespace)

    def history(self, namespace: str, identifier: str) -> list[EntryRecord]:
        return self._sql().history(namespace, identifier)

    def get_blob(self, sha256: str) -> BlobRecord | None:
        return self._sql().get_blob(sha256)

    def generations(self) -> dict[str, int]:
        return self._sql().generations()

    def register(self, namespace: str, draft: EntryDraft) -> Registration:
        return self._sql().register(namespace, draft)

    def register_batch(
        self, namespace: str, drafts: Sequence[EntryDraft]
    ) -> list[Registration | RegistryError]:
        return self._sql().register_batch(namespace, drafts)

    def unregister(self, namespace: str, identifier: str) -> bool:
        return self._sql().unregister(namespace, identifier)

    def clear(self, namespace: str) -> int:
        return self._sql().clear(namespace)

    def close(self) -> None:
        with self._lock:
            full, self._full = self._full, None
            watcher, self._watcher = self._watcher, None
            reader, self._reader = self._reader, None
        # The watcher first: a change it is delivering may still read through the reader.
        if full is not None:
            full.close()  # stops the watcher it adopted
        elif watcher is not None:
            watcher.stop()
        if reader is not None:
            reader.close()

    # -- helpers -------------------------------------------------------------------------------

    def _read(self, direct: Callable[[DirectReader], T], full: Callable[[SqlStore], T]) -> T:
        reader = self._reader
        if reader is not None:
            try:
                return direct(reader)
            except DirectReadFailed:
                pass  # SqlStore reads it, with its retries and error messages
        return full(self._sql())

    def _sql(self) -> SqlStore:
        """The ``SqlStore`` behind this store, created on first need."""
        full = self._full
        if full is not None:
            return full
        with self._lock:
            if self._full is None:
                from registry.store.sql import SqlStore

                self._full = SqlStore(
                    self.url,
                    auto_upgrade=self._auto_upgrade,
                    watcher=self._watcher,
                    reader=self._reader,
                )
                self._reader = None  # the SqlStore's now
            return self._full


def _start_watcher(url: str) -> Watcher | None:
    """Start the watcher of a URL the direct reads serve (``None``: leave it to SqlStore)."""
    from registry.store.watch import start_watcher

    path = sqlite_file(url)
    if path is not None:
        return start_watcher(url, "sqlite", path)
    if libpq_url(url) is not None:
        return start_watcher(url, "postgresql")
    return None
