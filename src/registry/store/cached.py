"""``CachedStore``: serves hot reads from memory in front of any other store.

Caches each namespace's current entries, namespace records and (immutable) blobs. A namespace's
cache is dropped when the wrapped store's watcher reports that it moved, and updated at once by
this process's own writes. No database I/O happens under its lock. Imports only ``store.base``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from registry.errors import RegistryError
from registry.store.base import (
    BlobRecord,
    ChangeCallback,
    EntryDraft,
    EntryRecord,
    NamespaceKind,
    NamespaceRecord,
    Registration,
    Store,
    WatchStatus,
)

__all__ = ["CachedStore"]

logger = logging.getLogger(__name__)


class CachedStore(Store):
    """Wraps ``inner`` and keeps what it read in dicts until a change signal says otherwise.

    Subscribers of :meth:`watch` are called after the cache of the changed namespaces was
    dropped, so a subscriber that reads again sees fresh data.
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.url = inner.url
        self._lock = threading.Lock()
        # Copy-on-write: readers get a dict that no one mutates afterwards.
        self._entries: dict[str, dict[str, EntryRecord]] = {}
        self._namespaces: dict[str, NamespaceRecord] = {}
        self._blobs: dict[str, BlobRecord] = {}
        # A fill that started before an invalidation must not store what it read.
        self._epochs: dict[str, int] = {}
        self._epoch_all = 0
        self._subscribers: list[ChangeCallback] = []
        self._unwatch = inner.watch(self._on_change)

    def __repr__(self) -> str:
        return f"CachedStore({self.inner!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # Locks and watcher threads stay behind; the other process gets a cold cache.
        return (CachedStore, (self.inner,))

    # -- reads ---------------------------------------------------------------------------------

    def get_entry(self, namespace: str, identifier: str) -> EntryRecord | None:
        entries = self._entries.get(namespace)
        if entries is None:
            entries = self._fill(namespace)
        return entries.get(identifier)

    def list_entries(self, namespace: str) -> list[EntryRecord]:
        entries = self._entries.get(namespace)
        if entries is None:
            entries = self._fill(namespace)
        return list(entries.values())

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        record = self._namespaces.get(name)
        if record is not None:
            return record
        stamp = self._stamp(name)
        record = self.inner.get_namespace(name)
        if record is not None:
            with self._lock:
                if self._stamp(name) == stamp:
                    self._namespaces[name] = record
        return record

    def list_namespaces(self) -> list[NamespaceRecord]:
        return self.inner.list_namespaces()

    def history(self, namespace: str, identifier: str) -> list[EntryRecord]:
        return self.inner.history(namespace, identifier)

    def get_blob(self, sha256: str) -> BlobRecord | None:
        blob = self._blobs.get(sha256)
        if blob is None:
            blob = self.inner.get_blob(sha256)
            if blob is not None:
                with self._lock:
                    self._blobs[sha256] = blob  # content-addressed: never stale
        return blob

    def generations(self) -> dict[str, int]:
        return self.inner.generations()

    # -- writes --------------------------------------------------------------------------------

    def ensure_namespace(self, name: str, kind: NamespaceKind) -> NamespaceRecord:
        return self.inner.ensure_namespace(name, kind)

    def register(self, namespace: str, draft: EntryDraft) -> Registration:
        registration = self.inner.register(namespace, draft)
        self._remember(namespace, [registration.record], [])
        return registration

    def register_batch(
        self, namespace: str, drafts: Sequence[EntryDraft]
    ) -> list[Registration | RegistryError]:
        results = self.inner.register_batch(namespace, drafts)
        records = [r.record for r in results if isinstance(r, Registration)]
        self._remember(namespace, records, [])
        return results

    def unregister(self, namespace: str, identifier: str) -> bool:
        removed = self.inner.unregister(namespace, identifier)
        self._remember(namespace, [], [identifier])
        return removed

    def clear(self, namespace: str) -> int:
        removed = self.inner.clear(namespace)
        with self._lock:
            self._bump(namespace)
            self._entries[namespace] = {}
            self._namespaces.pop(namespace, None)
        return removed

    # -- change signals ------------------------------------------------------------------------

    def watch(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback`` (from the watcher thread) after namespaces changed elsewhere."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def invalidate(self, namespaces: frozenset[str] | None = None) -> None:
        """Drop the cache of ``namespaces`` (``None``: everything)."""
        with self._lock:
            if namespaces is None:
                self._epoch_all += 1
                self._entries = {}
                self._namespaces = {}
                return
            for name in namespaces:
                self._bump(name)
                self._entries.pop(name, None)
                self._namespaces.pop(name, None)

    def watch_status(self) -> WatchStatus:
        return self.inner.watch_status()

    def close(self) -> None:
        self._unwatch()
        self.inner.close()

    # -- helpers -------------------------------------------------------------------------------

    def _on_change(self, namespaces: frozenset[str] | None) -> None:
        self.invalidate(namespaces)
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(namespaces)
            except Exception:  # one subscriber's bug must not starve the others
                logger.exception("registry change subscriber %r failed", callback)

    def _stamp(self, namespace: str) -> tuple[int, int]:
        return self._epoch_all, self._epochs.get(namespace, 0)

    def _bump(self, namespace: str) -> None:
        self._epochs[namespace] = self._epochs.get(namespace, 0) + 1

    def _fill(self, namespace: str) -> dict[str, EntryRecord]:
        stamp = self._stamp(namespace)
        entries = {record.identifier: record for record in self.inner.list_entries(namespace)}
        with self._lock:
            if self._stamp(namespace) == stamp:
                self._entries[namespace] = entries
        return entries

    def _remember(
        self, namespace: str, records: Sequence[EntryRecord], removed: Sequence[str]
    ) -> None:
        """Apply this process's own write to the cache at once."""
        with self._lock:
            self._bump(namespace)  # a fill in flight may have read before our write: discard it
            self._namespaces.pop(namespace, None)  # its generation and size moved
            cached = self._entries.get(namespace)
            if cached is None:
                return
            updated = dict(cached)
            for record in records:
                updated[record.identifier] = record
            for identifier in removed:
                updated.pop(identifier, None)
            self._entries[namespace] = updated
