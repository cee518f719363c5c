"""``CachedStore``: serves hot reads from memory in front of any other store.

Per namespace it keeps a *view*: the records it has read (a lookup reads one row, never the
namespace), the identifiers in registration order once someone listed them, and the generation
the view is in step with. When the wrapped store's watcher reports that a namespace moved, the
view reads only what changed since its generation (:meth:`Store.changes_since`), applies it,
and hands the change set to subscribers. When nobody needs the records now (no change-set
subscriber, not every record held), registrations the change signals name are forgotten
instead (:meth:`Store.announced_writes`): read again when asked for. This process's own writes
update the view at once.
No database I/O happens under the cache lock. A forked child gets fresh locks, and every view
catches up once when the restarted watcher reports. Imports only ``store.base``.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence

from registry.errors import RegistryError
from registry.store.base import (
    BlobRecord,
    ChangeCallback,
    ChangeSet,
    ChangeSetCallback,
    EntryDraft,
    EntryRecord,
    NamespaceKind,
    NamespaceRecord,
    Outcome,
    Registration,
    Store,
    WatchStatus,
)

__all__ = ["CachedStore"]

logger = logging.getLogger(__name__)

_UNKNOWN = object()

#: How many records a view keeps of the identifiers it looked up one by one (when it fills, it
#: keeps half: those read since the last trim first, then the newest): a process that restores
#: many artifacts holds them in its registries already, and a record is one indexed row away.
#: A full listing is kept whole.
RECORDS_PER_VIEW = 4_096

#: How many identifiers a view remembers the last change of (the oldest half goes when it
#: fills; a lookup that started before a forgotten change is then not kept, to be safe).
TOUCHED_PER_VIEW = 1_024

#: How many of its own registrations a view remembers while it is ahead of the others' writes
#: (a watcher that does not report them, for one); beyond that its catch-up reads.
OWN_AHEAD_PER_VIEW = 1_024


class _View:
    """What this process knows about one namespace.

    ``records`` maps an identifier to its current record, or to ``None`` when it is known to
    be absent; identifiers missing from it are unknown (read on demand), unless ``order`` holds
    the full listing, in which case they are absent. ``complete`` means ``records`` holds a
    record for every identifier of ``order``.
    """

    __slots__ = (
        "ahead",
        "complete",
        "epoch",
        "forgotten",
        "generation",
        "order",
        "read",
        "records",
        "sync",
        "touched",
    )

    def __init__(self, generation: int) -> None:
        self.generation = generation
        """Every change up to this generation is applied."""
        self.records: dict[str, EntryRecord | None] = {}
        self.read: set[str] = set()
        """Identifiers answered from ``records`` since it was last trimmed (marked without the
        lock: a mark lost to a trim only lets that record go sooner)."""
        self.order: dict[str, None] | None = None
        self.complete = False
        self.ahead: dict[int, str] | None = {}
        """The writes this process applied beyond ``generation`` (the others' writes in between
        are not applied yet): empty when there are none; the generation and identifier of each,
        when all are registrations; ``None`` when a removal or a clear is among them (or too
        many to keep). Only a read of what changed puts ``order`` in order then."""
        self.epoch = 0
        """Moves with every change applied: a listing that started before must not be stored."""
        self.touched: dict[str, int] = {}
        """The epoch of the last change of each recently changed identifier, oldest first."""
        self.forgotten = 0
        """Changes up to this epoch may have touched any identifier (a clear, a trimmed
        ``touched``)."""
        self.sync = threading.Lock()
        """Held across a write or a catch-up of this namespace, so changes apply in order."""

    def keep(self, identifier: str, record: EntryRecord | None) -> None:
        """Under the cache lock: remember ``record`` (``None``: absent) for ``identifier``."""
        records = self.records
        records[identifier] = record
        if not self.complete and len(records) > RECORDS_PER_VIEW:
            # Read ones survive before the newest unread (a server keeps every record it writes:
            # going first in, the records its clients keep asking for went first out). Readers
            # may hold the old dict: build a new one rather than deleting in place.
            read = self.read
            kept = sorted(records.items(), key=lambda item: item[0] in read)  # stable: unread first
            self.records = dict(kept[-(RECORDS_PER_VIEW // 2) :])
            self.read = set()

    def changed(self, identifiers: Iterable[str] | None) -> None:
        """Under the cache lock: a change of ``identifiers`` (``None``: of any) is applied."""
        self.epoch += 1
        if identifiers is None:
            self.forgotten, self.touched = self.epoch, {}
            return
        touched = self.touched
        for identifier in identifiers:
            touched.pop(identifier, None)  # keeps ``touched`` in epoch order
            touched[identifier] = self.epoch
        if len(touched) > TOUCHED_PER_VIEW:
            kept = list(touched.items())
            half = len(kept) // 2
            self.forgotten = kept[half - 1][1]
            self.touched = dict(kept[half:])

    def unchanged_since(self, identifier: str, epoch: int) -> bool:
        """Whether no change applied after ``epoch`` can have touched ``identifier``.

        A lookup of one identifier may be kept when this holds: a write of another identifier
        (hundreds a second under load) must not make every lookup in flight start over.
        """
        return self.forgotten <= epoch and self.touched.get(identifier, 0) <= epoch


class CachedStore(Store):
    """Wraps ``inner`` and keeps what it read in memory, in step with ``inner``'s changes.

    Subscribers of :meth:`watch` and :meth:`watch_changes` are called after the view of the
    changed namespace was brought up to date, so a subscriber that reads sees the new data.
    """

    def __init__(self, inner: Store, *, keep_written: bool = False) -> None:
        self.inner = inner
        self.url = inner.url
        self.keep_written = keep_written
        """Keep the records this process writes, read or not. A registry process holds the
        artifacts it registers and does not; a server does, since it is asked for what it just
        wrote (every listening client reads the changed entries)."""
        self._lock = threading.Lock()
        self._views: dict[str, _View] = {}
        self._namespaces: dict[str, NamespaceRecord] = {}
        self._blobs: dict[str, BlobRecord] = {}
        self._subscribers: list[ChangeCallback] = []
        self._change_subscribers: dict[str, list[ChangeSetCallback]] = {}
        self._unwatch = inner.watch(self._on_change)
        _live_stores.add(self)

    def __repr__(self) -> str:
        return f"CachedStore({self.inner!r})"

    def __reduce__(self) -> tuple[object, ...]:
        # Locks and watcher threads stay behind; the other process gets a cold cache.
        return (CachedStore, (self.inner,))

    # -- reads ---------------------------------------------------------------------------------

    def get_entry(self, namespace: str, identifier: str) -> EntryRecord | None:
        known, record = self.cached_entry(namespace, identifier)
        if known:
            return record
        view = self._view(namespace)
        epoch = view.epoch
        found = self.inner.get_entry(namespace, identifier)
        with self._lock:
            if view.unchanged_since(identifier, epoch):
                view.keep(identifier, found)
        return found

    def cached_entry(self, namespace: str, identifier: str) -> tuple[bool, EntryRecord | None]:
        view = self._views.get(namespace)
        if view is not None:
            record = view.records.get(identifier, _UNKNOWN)
            if record is not _UNKNOWN:
                view.read.add(identifier)
                return True, record  # type: ignore[return-value]
            if view.order is not None and identifier not in view.order:
                return True, None
        return False, None

    def list_identifiers(self, namespace: str) -> list[str]:
        view = self._view(namespace)
        with self._lock:
            if view.order is not None:
                return list(view.order)
            epoch = view.epoch
        identifiers = self.inner.list_identifiers(namespace)
        with self._lock:
            if view.epoch == epoch:
                view.order = dict.fromkeys(identifiers)
        return identifiers

    def list_entries(self, namespace: str) -> list[EntryRecord]:
        view = self._view(namespace)
        with self._lock:
            if view.complete and view.order is not None:
                return [view.records[identifier] for identifier in view.order]  # type: ignore[misc]
            epoch = view.epoch
        records = self.inner.list_entries(namespace)
        with self._lock:
            if view.epoch == epoch:
                view.records.update((record.identifier, record) for record in records)
                view.order = dict.fromkeys(record.identifier for record in records)
                view.complete = True
        return records

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        record = self._namespaces.get(name)
        if record is not None:
            return record
        view = self._view(name)
        epoch = view.epoch
        record = self.inner.get_namespace(name)
        if record is not None:
            with self._lock:
                if view.epoch == epoch:
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

    def changes_since(self, namespace: str, generation: int) -> ChangeSet:
        return self.inner.changes_since(namespace, generation)

    # -- writes --------------------------------------------------------------------------------

    def ensure_namespace(self, name: str, kind: NamespaceKind) -> NamespaceRecord:
        record = self.inner.ensure_namespace(name, kind)
        with self._lock:
            self._views.setdefault(name, _View(record.generation))
        return record

    def register(self, namespace: str, draft: EntryDraft) -> Registration:
        view = self._view(namespace)
        with view.sync:
            registration = self.inner.register(namespace, draft)
            self._remember(namespace, view, [registration])
        return registration

    def register_batch(
        self, namespace: str, drafts: Sequence[EntryDraft]
    ) -> list[Registration | RegistryError]:
        view = self._view(namespace)
        with view.sync:
            results = self.inner.register_batch(namespace, drafts)
            self._remember(namespace, view, [r for r in results if isinstance(r, Registration)])
        return results

    def unregister(self, namespace: str, identifier: str) -> bool:
        view = self._view(namespace)
        with view.sync:
            removed = self.inner.unregister(namespace, identifier)
            if removed:
                with self._lock:
                    self._changed(namespace, view, [identifier])
                    view.keep(identifier, None)
                    if view.order is not None:
                        view.order.pop(identifier, None)
                    view.ahead = None
        if removed:
            self._catch_up(namespace, view)
        return removed

    def clear(self, namespace: str) -> int:
        view = self._view(namespace)
        with view.sync:
            removed = self.inner.clear(namespace)
            if removed:
                with self._lock:
                    self._changed(namespace, view, None)
                    view.records = {}
                    view.order = {}
                    view.complete = True
                    view.ahead = None
        if removed:
            self._catch_up(namespace, view)
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

    def watch_changes(self, namespace: str, callback: ChangeSetCallback) -> Callable[[], None]:
        """Call ``callback`` with each change set of ``namespace`` this view applies.

        Change sets come from other processes' writes, and from the catch-up read that follows
        this process's own unregister and clear (they may hold changes made elsewhere).
        """
        with self._lock:
            self._change_subscribers.setdefault(namespace, []).append(callback)

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._change_subscribers.get(namespace, [])
                if callback in callbacks:
                    callbacks.remove(callback)

        return unsubscribe

    def invalidate(self, namespaces: frozenset[str] | None = None) -> None:
        """Forget what is cached of ``namespaces`` (``None``: everything)."""
        with self._lock:
            names = list(self._views) if namespaces is None else list(namespaces)
            for name in names:
                view = self._views.pop(name, None)
                if view is not None:
                    view.changed(None)  # reads in flight must not store into the dropped view
                self._namespaces.pop(name, None)

    def watch_status(self) -> WatchStatus:
        return self.inner.watch_status()

    def close(self) -> None:
        _live_stores.discard(self)
        self._unwatch()
        self.inner.close()

    # -- helpers -------------------------------------------------------------------------------

    def _view(self, namespace: str) -> _View:
        view = self._views.get(namespace)
        if view is not None:
            return view
        # The baseline: whatever is read into the view from now on is at least this new, and
        # every later change arrives through changes_since(this generation).
        record = self.inner.get_namespace(namespace)
        with self._lock:
            return self._views.setdefault(
                namespace, _View(0 if record is None else record.generation)
            )

    def _changed(self, namespace: str, view: _View, identifiers: Iterable[str] | None) -> None:
        """Under the lock: a change of ``identifiers`` (``None``: of any) is being applied."""
        view.changed(identifiers)
        self._namespaces.pop(namespace, None)  # its generation and size moved

    def _remember(self, namespace: str, view: _View, registrations: Sequence[Registration]) -> None:
        """Apply this process's own registrations to the view at once."""
        # Written: a generation was produced (new versions, and unchanged entries resealed).
        written = [r for r in registrations if r.generation]
        if not written:
            return
        with self._lock:
            self._changed(namespace, view, [r.record.identifier for r in written])
            for registration in written:
                record = registration.record
                identifier = record.identifier
                if self.keep_written or view.complete or identifier in view.records:
                    view.keep(identifier, record)
                if view.order is not None and registration.outcome is Outcome.CREATED:
                    view.order.pop(identifier, None)
                    view.order[identifier] = None
            stamps = sorted(r.generation for r in written)
            generation = view.generation
            # Our writes directly follow what the view holds: it holds them too now. Otherwise
            # someone else wrote in between, and the watcher's catch-up will read from here.
            if stamps == list(range(generation + 1, generation + len(stamps) + 1)):
                view.generation = stamps[-1]
            else:
                ahead = view.ahead
                if ahead is not None:
                    ahead.update((r.generation, r.record.identifier) for r in written)
                    if len(ahead) > OWN_AHEAD_PER_VIEW:
                        view.ahead = None

    def _on_change(self, namespaces: frozenset[str] | None) -> None:
        """From the inner store's watcher: bring the moved views up to date, then tell."""
        names = list(self._views) if namespaces is None else list(namespaces)
        for name in names:
            view = self._views.get(name)
            if view is not None:
                self._catch_up(name, view)
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(namespaces)
            except Exception:  # one subscriber's bug must not starve the others
                logger.exception("registry change subscriber %r failed", callback)

    def _after_fork_in_child(self) -> None:
        """In a forked child: the threads that held this cache's locks did not survive the fork.
        A catch-up one of them had begun never finished either; the watcher, restarted in the
        child, reports that anything may have changed, so every view catches up once."""
        self._lock = threading.Lock()
        for view in self._views.values():
            view.sync = threading.Lock()

    def _catch_up(self, namespace: str, view: _View) -> None:
        """Read and apply what changed since the view's generation; tell subscribers."""
        changes: ChangeSet | None = None
        with view.sync:
            if self._views.get(namespace) is not view:
                return  # dropped meanwhile
            generation = view.generation
            ahead = view.ahead
            # Ahead with registrations of its own only, a view may forget too when it keeps no
            # listing (only a read puts a listing back in order).
            if not (view.complete or self._change_subscribers.get(namespace)) and (
                ahead is not None and (not ahead or view.order is None)
            ):
                # Nobody needs the new records now: forget the identifiers the change signals
                # name instead of reading them (a read each, on demand, if asked for).
                announced = self.inner.announced_writes(namespace, generation)
                if announced is not None:
                    self._forget(namespace, view, *announced)
                    return
            try:
                changes = self.inner.changes_since(namespace, generation)
            except Exception:  # the next signal retries; meanwhile read afresh
                logger.exception("registry could not read the changes of %r", namespace)
            if changes is None:
                self.invalidate(frozenset({namespace}))
            elif changes.generation != generation:
                self._apply(namespace, view, changes)
            else:
                return  # nothing new (our own writes, or a change already applied)
        with self._lock:
            callbacks = list(self._change_subscribers.get(namespace, ()))
        for callback in callbacks:
            try:
                callback(changes)
            except Exception:
                logger.exception("registry change subscriber %r failed", callback)

    def _forget(self, namespace: str, view: _View, latest: int, identifiers: list[str]) -> None:
        """Apply the registrations of the generations after the view's up to ``latest``, known
        by identifier only: their records become unknown (read on demand), and new identifiers
        join the listing, in the order they were written. Registrations of this process the
        view is ahead with (it has no listing then) keep their records."""
        with self._lock:
            own = view.ahead
            if own:
                stamped = zip(range(view.generation + 1, latest + 1), identifiers, strict=True)
                identifiers = [identifier for stamp, identifier in stamped if stamp not in own]
                for stamp in [stamp for stamp in own if stamp <= latest]:
                    del own[stamp]
            if identifiers:
                self._changed(namespace, view, identifiers)
            records, order = view.records, view.order
            for identifier in identifiers:
                records.pop(identifier, None)
                if order is not None and identifier not in order:
                    order[identifier] = None  # a new head goes last; a new version stays put
            view.generation = max(view.generation, latest)

    def _apply(self, namespace: str, view: _View, changes: ChangeSet) -> None:
        touched = [*changes.removed, *(r.identifier for r in (*changes.updated, *changes.added))]
        with self._lock:
            self._changed(namespace, view, None if changes.cleared else touched)
            if changes.cleared:
                view.records = {}
                if view.order is not None:
                    view.order = {}
            order = view.order
            for identifier in changes.removed:
                view.keep(identifier, None)
                if order is not None:
                    order.pop(identifier, None)
            for record in changes.updated:
                view.keep(record.identifier, record)
            for record in changes.added:
                view.keep(record.identifier, record)
                if order is not None:
                    order.pop(record.identifier, None)
                    order[record.identifier] = None
            view.generation = changes.generation
            view.ahead = {}


_live_stores: weakref.WeakSet[CachedStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_live_stores):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows, where processes are spawned
    os.register_at_fork(after_in_child=_after_fork_in_child)
