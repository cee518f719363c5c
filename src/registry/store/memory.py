"""``MemoryStore``: the ``Store`` contract on dicts under a lock, for in-process registries."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timezone

from registry.errors import RegistryError
from registry.store import limits
from registry.store.base import (
    BlobRecord,
    ChangeSet,
    EntryDraft,
    EntryRecord,
    NamespaceKind,
    NamespaceRecord,
    Outcome,
    Registration,
    Store,
    change_set,
    check_seal,
    current_user_host,
    decide,
    kind_mismatch_error,
    missing_namespace_error,
    resealed,
    scheme_text,
)

__all__ = ["MemoryStore"]


class _Namespace:
    __slots__ = ("changes", "cleared_at", "current", "generation", "history", "kind", "positions")

    def __init__(self, kind: NamespaceKind) -> None:
        self.kind: NamespaceKind = kind
        self.generation = 0
        self.cleared_at = 0
        self.current: dict[str, EntryRecord] = {}
        self.history: dict[str, list[EntryRecord]] = {}
        # identifier -> generation of its (re)creation, i.e. its registration order
        self.positions: dict[str, int] = {}
        # identifier -> generation of its last change (unregisters included), kept in that
        # order so changes_since walks back from the end and stops at the first older one
        self.changes: dict[str, int] = {}

    def changed(self, identifier: str) -> None:
        self.generation += 1
        self.changes.pop(identifier, None)
        self.changes[identifier] = self.generation


class MemoryStore(Store):
    """Keeps records in process memory; forgets them when the process exits."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.RLock()
        self._namespaces: dict[str, _Namespace] = {}
        self._blobs: dict[str, BlobRecord] = {}

    def ensure_namespace(self, name: str, kind: NamespaceKind) -> NamespaceRecord:
        with self._lock:
            space = self._namespaces.get(name)
            if space is None:
                space = self._namespaces[name] = _Namespace(kind)
            elif space.kind != kind:
                raise kind_mismatch_error(name, space.kind, kind)
            return self._record(name, space)

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        with self._lock:
            space = self._namespaces.get(name)
            return None if space is None else self._record(name, space)

    def list_namespaces(self) -> list[NamespaceRecord]:
        with self._lock:
            return [self._record(n, s) for n, s in sorted(self._namespaces.items())]

    def list_entries(self, namespace: str) -> list[EntryRecord]:
        with self._lock:
            space = self._namespaces.get(namespace)
            return [] if space is None else list(space.current.values())

    def list_identifiers(self, namespace: str) -> list[str]:
        with self._lock:
            space = self._namespaces.get(namespace)
            return [] if space is None else list(space.current)

    def get_entry(self, namespace: str, identifier: str) -> EntryRecord | None:
        with self._lock:
            space = self._namespaces.get(namespace)
            return None if space is None else space.current.get(identifier)

    def cached_entry(self, namespace: str, identifier: str) -> tuple[bool, EntryRecord | None]:
        return True, self.get_entry(namespace, identifier)

    def history(self, namespace: str, identifier: str) -> list[EntryRecord]:
        with self._lock:
            space = self._namespaces.get(namespace)
            return [] if space is None else list(space.history.get(identifier, ()))

    def register(self, namespace: str, draft: EntryDraft) -> Registration:
        limits.check_draft(namespace, draft)
        with self._lock:
            return self._register(namespace, self._space(namespace), draft)

    def register_batch(
        self, namespace: str, drafts: Sequence[EntryDraft]
    ) -> list[Registration | RegistryError]:
        limits.check_drafts(namespace, drafts)
        results: list[Registration | RegistryError] = []
        with self._lock:
            space = self._space(namespace)
            for draft in drafts:
                try:
                    results.append(self._register(namespace, space, draft))
                except RegistryError as error:
                    results.append(error)
        return results

    def unregister(self, namespace: str, identifier: str) -> bool:
        with self._lock:
            space = self._namespaces.get(namespace)
            if space is None or space.current.pop(identifier, None) is None:
                return False
            del space.positions[identifier]
            space.changed(identifier)
            return True

    def clear(self, namespace: str) -> int:
        with self._lock:
            space = self._namespaces.get(namespace)
            if space is None or not space.current:
                return 0
            removed = len(space.current)
            space.current.clear()
            space.positions.clear()
            space.changes.clear()
            space.generation += 1
            space.cleared_at = space.generation
            return removed

    def get_blob(self, sha256: str) -> BlobRecord | None:
        with self._lock:
            return self._blobs.get(sha256)

    def generations(self) -> dict[str, int]:
        with self._lock:
            return {name: space.generation for name, space in self._namespaces.items()}

    def changes_since(self, namespace: str, generation: int) -> ChangeSet:
        with self._lock:
            space = self._namespaces.get(namespace)
            if space is None or space.generation == generation:
                return ChangeSet(
                    namespace, generation, generation if space is None else space.generation
                )
            changed: list[tuple[int, EntryRecord]] = []
            removed: list[str] = []
            for identifier in reversed(space.changes):
                if space.changes[identifier] <= generation:
                    break
                record = space.current.get(identifier)
                if record is None:
                    removed.append(identifier)
                else:
                    changed.append((space.positions[identifier], record))
            return change_set(
                namespace,
                generation,
                space.generation,
                space.cleared_at,
                changed=changed,
                removed=removed,
            )

    def _space(self, namespace: str) -> _Namespace:
        space = self._namespaces.get(namespace)
        if space is None:
            raise missing_namespace_error(namespace)
        return space

    def _register(self, namespace: str, space: _Namespace, draft: EntryDraft) -> Registration:
        current = space.current.get(draft.identifier)
        outcome = decide(namespace, current, draft)
        versions = space.history.setdefault(draft.identifier, [])
        if outcome is Outcome.UNCHANGED:
            assert current is not None
            check_seal(namespace, draft, current.version)
            updated = resealed(current, draft)
            if updated is None:
                return Registration(current, outcome)
            versions[versions.index(current)] = space.current[draft.identifier] = updated
            space.changed(draft.identifier)
            return Registration(updated, outcome, space.generation)
        version = (versions[-1].version + 1) if versions else 1
        check_seal(namespace, draft, version)
        blob_sha = None
        if draft.blob is not None:
            blob_sha = draft.blob.sha256
            self._blobs.setdefault(blob_sha, BlobRecord(**vars(draft.blob)))
        record = EntryRecord(
            namespace=namespace,
            identifier=draft.identifier,
            version=version,
            origin=draft.origin,
            source_hash=draft.source_hash,
            signature=draft.signature,
            scheme=scheme_text(draft),
            doc=draft.doc,
            blob_sha256=blob_sha,
            python_version=draft.python_version,
            package=draft.package,
            package_version=draft.package_version,
            created_at=draft.created_at or datetime.now(timezone.utc),
            created_by=draft.created_by or current_user_host(),
            seal=draft.seal,
            source_file=draft.source_file,
            source_line=draft.source_line,
        )
        versions.append(record)
        space.current[draft.identifier] = record
        space.changed(draft.identifier)
        space.positions.setdefault(draft.identifier, space.generation)
        return Registration(record, outcome, space.generation)

    @staticmethod
    def _record(name: str, space: _Namespace) -> NamespaceRecord:
        return NamespaceRecord(name, space.kind, space.generation, len(space.current))
