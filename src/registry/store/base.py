"""The ``Store`` contract and the frozen records that cross it.

A store keeps *records* about artifacts (identifier, origin ``module:qualname``, scheme JSON,
provenance, an optional pickled blob), grouped in namespaces. It never holds live Python
objects: registries keep those in their own caches. Backends: ``MemoryStore`` (in-process),
``SqlStore`` (SQLite/PostgreSQL), ``HttpStore`` (a registry server). Imports only ``errors``.

The record dataclasses are the one declaration of each record's fields: their JSON form
(``store.wire``) and the server's request and response models (``server.derived``) are
derived from them, so a field is added here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import getpass
import json
import socket
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, Literal, overload

from registry.errors import NotFoundError, RegistryError

__all__ = [
    "NAMESPACE_KINDS",
    "BlobDraft",
    "BlobRecord",
    "ChangeCallback",
    "ChangeSet",
    "ChangeSetCallback",
    "EntryDraft",
    "EntryRecord",
    "JsonText",
    "NamespaceKind",
    "NamespaceRecord",
    "Outcome",
    "ParsedOnRead",
    "Registration",
    "Seal",
    "Store",
    "WatchStatus",
    "change_set",
    "check_seal",
    "current_user_host",
    "decide",
    "is_importable_origin",
    "kind_mismatch_error",
    "missing_namespace_error",
    "moved_namespaces",
    "place_text",
    "resealed",
    "scheme_text",
]

NamespaceKind = Literal["function", "type", "scheme"]
#: The registry kinds a namespace may hold, as values.
NAMESPACE_KINDS: tuple[NamespaceKind, ...] = typing.get_args(NamespaceKind)

#: Called from a background thread with the namespaces another process changed
#: (``None``: unknown, resync everything).
ChangeCallback = Callable[[frozenset[str] | None], None]


def moved_namespaces(before: Mapping[str, int], after: Mapping[str, int]) -> frozenset[str]:
    """The namespaces whose generation changed, appeared or disappeared between two reads."""
    return frozenset(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


@dataclass(frozen=True)
class NamespaceRecord:
    """A namespace: its name, the registry kind it holds and its change counter."""

    name: str
    kind: NamespaceKind
    generation: int = 0
    size: int = 0


@dataclass(frozen=True)
class BlobDraft:
    """A cloudpickle payload for an artifact that has no import path."""

    data: bytes
    sha256: str
    format: str
    python_version: str
    pickler_version: str


@dataclass(frozen=True)
class Seal:
    """An HMAC that binds one entry version (namespace, identifier, version) to its blob.

    Made by a writer that holds the signing key (see ``registry.pickling``); stores keep it
    with the entry and never check it: readers that hold the key do, before unpickling.
    """

    key_id: str
    signature: str
    version: int
    """The entry version the seal was made for; a store refuses to write it on another one."""


@dataclass(frozen=True)
class BlobRecord(BlobDraft):
    """A stored blob, content-addressed by ``sha256``."""


class JsonText(str):
    """JSON text that stands in for a record's parsed ``scheme`` until someone reads it."""


class ParsedOnRead:
    """A dataclass field given as a value or as :class:`JsonText`, parsed on first read.

    Stores read the scheme JSON of every entry they list or sync; most callers never look at
    it, so parsing waits until ``record.scheme`` is read (then the result is kept).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._key = f"_{name}"

    @overload
    def __get__(self, record: None, owner: type) -> None: ...

    @overload
    def __get__(self, record: object, owner: type) -> dict[str, Any] | None: ...

    def __get__(self, record: object | None, owner: type) -> dict[str, Any] | None:
        if record is None:
            return None  # the field's default
        value = record.__dict__[self._key]
        if isinstance(value, JsonText):
            value = record.__dict__[self._key] = json.loads(value)
        return value  # type: ignore[no-any-return]

    def __set__(self, record: object, value: dict[str, Any] | JsonText | None) -> None:
        record.__dict__[self._key] = value


def scheme_text(item: EntryDraft | EntryRecord) -> JsonText | None:
    """The ``scheme`` of a draft or record as JSON text, without parsing text it holds."""
    value = item.__dict__["_scheme"]
    if value is None or isinstance(value, JsonText):
        return value
    return JsonText(json.dumps(value))


@dataclass(frozen=True)
class EntryDraft:
    """What a registry hands to a store to register one artifact."""

    identifier: str
    origin: str
    """``module:qualname`` of the artifact; its import path when :attr:`importable`."""
    source_hash: str | None = None
    signature: str = ""
    scheme: ParsedOnRead = ParsedOnRead()
    """The JSON Schema of the artifact's parameters (``dict``, :class:`JsonText` or ``None``)."""
    doc: str = ""
    blob: BlobDraft | None = None
    python_version: str = ""
    package: str | None = None
    package_version: str | None = None
    created_by: str | None = None
    """Provenance to keep (imports from another store); backends fill in ``user@host``."""
    created_at: datetime | None = None
    """Provenance to keep (imports from another store); backends fill in the current time."""
    seal: Seal | None = None
    source_file: str | None = None
    """The file the definition was read from, as Python reports it (``None``: no source)."""
    source_line: int | None = None
    """First line of the definition in ``source_file`` (its first decorator)."""
    definitions: tuple[tuple[int, str | None], ...] = ()
    """``(first line, source hash)`` of every definition of the same qualified name in
    ``source_file`` (not stored: it tells :func:`decide` whether the stored place is another
    definition in that file; empty when the file was not read)."""

    @property
    def importable(self) -> bool:
        return is_importable_origin(self.origin)


@dataclass(frozen=True)
class EntryRecord:
    """One stored version of an artifact. Versions are immutable once written."""

    namespace: str
    identifier: str
    version: int
    origin: str
    source_hash: str | None = None
    signature: str = ""
    scheme: ParsedOnRead = ParsedOnRead()
    """The JSON Schema of the artifact's parameters (``dict`` or ``None``)."""
    doc: str = ""
    blob_sha256: str | None = None
    python_version: str = ""
    package: str | None = None
    package_version: str | None = None
    created_at: datetime | None = None
    created_by: str = ""
    seal: Seal | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    source_file: str | None = None
    source_line: int | None = None

    @property
    def importable(self) -> bool:
        return is_importable_origin(self.origin)


@dataclass(frozen=True)
class WatchStatus:
    """Whether changes made by other processes reach this one (and its caches) right now."""

    watching: bool
    """A change watcher runs (stores with no other writers have none)."""
    connected: bool = True
    """It holds its connection; while it does not, cached reads may be stale."""
    disconnected_for: float | None = None
    """Seconds since it lost its connection."""
    last_error: str | None = None

    @property
    def stale(self) -> bool:
        """Whether caches may miss changes made elsewhere."""
        return self.watching and not self.connected

    def describe(self) -> str:
        """One line for ``registry doctor``."""
        if not self.watching:
            return "not watching (no other writers, or no registry class open)"
        if self.connected:
            return "connected: changes from other processes arrive within milliseconds"
        return (
            f"disconnected for {self.disconnected_for or 0:.1f} s ({self.last_error}): caches "
            "may be stale until it reconnects"
        )


class Outcome(enum.Enum):
    """What a registration did to the store."""

    CREATED = "created"
    """The identifier was free: version 1 (or the next number after an unregister)."""
    UNCHANGED = "unchanged"
    """The same definition was registered again: nothing was written."""
    NEW_VERSION = "new_version"
    """The same origin with changed source: a new version row was written."""


@dataclass(frozen=True)
class Registration:
    """The result of :meth:`Store.register`."""

    record: EntryRecord
    outcome: Outcome
    generation: int = 0
    """The namespace generation this registration's write produced (0: nothing was written)."""


@dataclass(frozen=True)
class ChangeSet:
    """What changed in one namespace from generation ``since`` to ``generation``.

    A view of the namespace that held ``since`` applies it in this order: drop everything when
    ``cleared``; drop ``removed``; put each ``updated`` record in place of its identifier's; add
    ``added`` at the end (they are in registration order). The view then holds ``generation``.
    Applying a change set twice, or one whose ``since`` is older than the view's, is harmless.
    """

    namespace: str
    since: int
    generation: int
    cleared: bool = False
    """A ``clear`` ran after ``since``: nothing from before it survives."""
    added: tuple[EntryRecord, ...] = ()
    """Identifiers (re)registered after ``since``, in registration order."""
    updated: tuple[EntryRecord, ...] = ()
    """New current versions of identifiers that were already registered at ``since``."""
    removed: tuple[str, ...] = ()
    """Identifiers unregistered after ``since``."""

    @property
    def records(self) -> tuple[EntryRecord, ...]:
        """Every changed current record: ``updated`` then ``added``."""
        return self.updated + self.added


#: Called from a background thread with one namespace's changes by other processes
#: (``None``: unknown, reload that namespace).
ChangeSetCallback = Callable[[ChangeSet | None], None]


def change_set(
    namespace: str,
    since: int,
    generation: int,
    cleared_at: int,
    *,
    changed: Iterable[tuple[int, EntryRecord]],
    removed: Iterable[str],
) -> ChangeSet:
    """The answer to ``changes_since(namespace, since)``, for backends that track changes: the
    namespace's ``generation`` and ``cleared_at`` (the generation of its last clear), its
    records changed after ``since`` as ``(position, record)`` pairs in any order (position:
    the generation that created the identifier's head), and the identifiers removed after it."""
    added: list[EntryRecord] = []
    updated: list[EntryRecord] = []
    for position, record in sorted(changed, key=itemgetter(0)):
        # A head created after ``since`` is new to the listener; an older one moved on.
        (added if position > since else updated).append(record)
    return ChangeSet(
        namespace,
        since,
        int(generation),
        cleared=cleared_at > since,
        added=tuple(added),
        updated=tuple(updated),
        removed=tuple(removed),
    )


@functools.lru_cache(maxsize=1)
def current_user_host() -> str:
    """Return ``user@host`` for provenance."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def is_importable_origin(origin: str) -> bool:
    """Return whether ``module:qualname`` can be restored by importing it in another process."""
    module, _, qualname = origin.partition(":")
    return bool(
        module
        and qualname
        and module != "__main__"
        and "<" not in qualname
        and not module.startswith(".")
    )


def decide(namespace: str, current: EntryRecord | None, draft: EntryDraft) -> Outcome:
    """Decide what registering ``draft`` over ``current`` means; raise on a conflict.

    The same ``module:qualname`` is the same definition run again (a module reloaded, a
    notebook cell or script run again): unchanged, or a new version when its source changed.
    Except for a second definition: when both places are known, they differ, and the draft's
    file still defines the name at the stored line, two definitions of one name exist side by
    side. Lambdas whose place is unknown are told apart by their source hash.

    Backends call this inside their atomic section (a lock, a database transaction), so the
    check and the write are one step.

    Raises:
        RegistryError: a different artifact, or another definition, holds the identifier.
    """
    if current is None:
        return Outcome.CREATED
    changed = (
        draft.source_hash is not None
        and current.source_hash is not None
        and draft.source_hash != current.source_hash
    )
    if current.origin != draft.origin:
        raise _taken_error(namespace, current, draft, "")
    # Both places known, and the draft's file read (``definitions`` is empty when it was not).
    placed = (
        current.source_line is not None
        and draft.source_line is not None
        and bool(draft.definitions)
    )
    if (
        placed
        and current.source_line != draft.source_line
        and current.source_line in dict(draft.definitions)
    ):
        raise _taken_error(namespace, current, draft, "another definition of the same name")
    if not placed and "<lambda>" in draft.origin and changed:
        raise _taken_error(namespace, current, draft, "a different lambda")
    if changed or _sealed_other_bytes(current, draft):
        return Outcome.NEW_VERSION
    return Outcome.UNCHANGED


def place_text(file: str | None, line: int | None) -> str:
    """Return ``file:line`` (or what is known of it) for messages."""
    if file is None:
        return "no source file"
    return f"{file}:{line}" if line is not None else file


def _described(origin: str, file: str | None, line: int | None, source: str | None) -> str:
    facts = [place_text(file, line)] if file is not None else []
    if source:
        facts.append(f"source sha256 {source[:12]}")
    return f"{origin} ({', '.join(facts)})" if facts else origin


def _taken_error(
    namespace: str, current: EntryRecord, draft: EntryDraft, same_name: str
) -> RegistryError:
    in_file = dict(draft.definitions)
    # An in-process record may carry no hash: the draft's file has the text at that line.
    existing_hash = current.source_hash or (
        in_file.get(current.source_line or 0) if same_name else None
    )
    existing = _described(current.origin, current.source_file, current.source_line, existing_hash)
    new = _described(draft.origin, draft.source_file, draft.source_line, draft.source_hash)
    suggestions = [
        f"Register it under another identifier: register_artifact('<new name>', {_leaf(draft.origin)})",
        f"Or remove the existing one first: unregister_identifier({draft.identifier!r})",
    ]
    if same_name:
        message = (
            f"Identifier {draft.identifier!r} in {namespace!r} is already taken by {existing}; "
            f"cannot register {same_name}, {new}"
        )
        if draft.source_line in in_file and len(in_file) > 1:
            lines = ", ".join(str(line) for line in in_file)
            message += f": {draft.source_file} defines {_leaf(draft.origin)} at lines {lines}"
            suggestions.insert(0, "Rename one of the definitions: the later one hides the earlier")
    else:
        message = (
            f"Identifier {draft.identifier!r} in {namespace!r} is already taken by {existing}; "
            f"cannot register {new} under it"
        )
    return RegistryError(
        message,
        suggestions=suggestions,
        context={
            "registry_name": namespace,
            "identifier": draft.identifier,
            "key": draft.identifier,
            "existing_origin": current.origin,
            "new_origin": draft.origin,
            "existing_place": place_text(current.source_file, current.source_line),
            "new_place": place_text(draft.source_file, draft.source_line),
            "existing_source_hash": existing_hash,
            "new_source_hash": draft.source_hash,
        },
    )


def _sealed_other_bytes(current: EntryRecord, draft: EntryDraft) -> bool:
    """A sealed draft whose pickle differs from the stored one: the writer vouches for its own
    bytes only, so they are written as a new version rather than sealing the stored ones."""
    return (
        draft.seal is not None
        and draft.blob is not None
        and current.blob_sha256 != draft.blob.sha256
    )


def check_seal(namespace: str, draft: EntryDraft, version: int) -> None:
    """Refuse to write ``draft``'s seal on entry ``version`` when it was made for another one.

    Backends call this once they know the version the draft becomes (or stays, when
    unchanged). The writer signs again for ``context["expected_version"]`` and retries.

    Raises:
        RegistryError: the seal names another version.
    """
    if draft.seal is None or draft.seal.version == version:
        return
    raise RegistryError(
        f"The seal of {draft.identifier!r} in {namespace!r} was made for version "
        f"{draft.seal.version}, but the store would write it on version {version}",
        suggestions=["Seal the draft for the expected version and register it again"],
        context={
            "registry_name": namespace,
            "identifier": draft.identifier,
            "sealed_version": draft.seal.version,
            "expected_version": version,
        },
    )


def resealed(current: EntryRecord, draft: EntryDraft) -> EntryRecord | None:
    """Return ``current`` with the draft's seal when an unchanged registration brings a new one
    (the stored entry was unsigned, or signed with another key); ``None`` when nothing changes."""
    if draft.seal is None or current.seal == draft.seal:
        return None
    return dataclasses.replace(current, seal=draft.seal)


def kind_mismatch_error(name: str, stored: str, requested: str) -> RegistryError:
    """The error for opening a namespace with a registry of another kind."""
    return RegistryError(
        f"Namespace {name!r} holds {stored} artifacts, not {requested} artifacts",
        suggestions=[f"Use another logic_namespace, or a {stored} registry to open {name!r}"],
        context={"registry_name": name, "stored_kind": stored, "requested_kind": requested},
    )


def missing_namespace_error(name: str) -> NotFoundError:
    """The error for writing into a namespace that was never created."""
    return NotFoundError(
        f"Namespace {name!r} does not exist",
        suggestions=["Declare a registry class with this logic_namespace first"],
        context={"registry_name": name},
    )


def _leaf(origin: str) -> str:
    return origin.rpartition(":")[2].rpartition(".")[2] or origin


class Store(ABC):
    """Where registries keep their records.

    Rules every backend keeps:

    * thread-safe; every method is atomic (one lock hold or one database transaction);
    * returned records are frozen and never change after they are returned;
    * "not found" is ``None`` / ``False`` from reads, never an exception;
    * :meth:`register` decides duplicates with :func:`decide` in the same atomic step as the
      write, and raises :class:`~registry.errors.RegistryError` on a conflict;
    * a draft is checked with :func:`registry.store.limits.check_draft` before anything is
      written, so every backend refuses the same input;
    * a draft's seal is kept with its entry, refused when made for another version
      (:func:`check_seal`), and replaces the seal of an unchanged entry (:func:`resealed`);
    * failures of the backend itself raise :class:`~registry.errors.StoreError`.
    """

    #: The URL that opened this store (``memory://``, ``sqlite:///...``, ...).
    url: str = ""

    @abstractmethod
    def ensure_namespace(self, name: str, kind: NamespaceKind) -> NamespaceRecord:
        """Return namespace ``name``, creating it with ``kind`` if missing.

        Raises:
            RegistryError: the namespace exists with another kind.
        """

    @abstractmethod
    def get_namespace(self, name: str) -> NamespaceRecord | None:
        """Return namespace ``name`` or ``None``; never creates it."""

    @abstractmethod
    def list_namespaces(self) -> list[NamespaceRecord]:
        """Return every namespace, sorted by name."""

    @abstractmethod
    def list_entries(self, namespace: str) -> list[EntryRecord]:
        """Return the current version of every identifier, in registration order."""

    def list_identifiers(self, namespace: str) -> list[str]:
        """Return every registered identifier, in registration order (no records are built)."""
        return [record.identifier for record in self.list_entries(namespace)]

    @abstractmethod
    def get_entry(self, namespace: str, identifier: str) -> EntryRecord | None:
        """Return the current version of ``identifier`` or ``None``."""

    def cached_entry(self, namespace: str, identifier: str) -> tuple[bool, EntryRecord | None]:
        """Return ``(True, get_entry(...))`` when the answer is in memory, else ``(False, None)``.

        Never does I/O, so an event loop may call it (the server answers from it without a
        thread hop); backends without a cache answer ``(False, None)``.
        """
        del namespace, identifier
        return False, None

    @abstractmethod
    def history(self, namespace: str, identifier: str) -> list[EntryRecord]:
        """Return every stored version of ``identifier``, oldest first."""

    @abstractmethod
    def register(self, namespace: str, draft: EntryDraft) -> Registration:
        """Register ``draft`` atomically (see :func:`decide`).

        Raises:
            RegistryError: a different artifact holds the identifier, or the namespace is missing.
        """

    @abstractmethod
    def register_batch(
        self, namespace: str, drafts: Sequence[EntryDraft]
    ) -> list[Registration | RegistryError]:
        """Register many drafts in one transaction, with a result or an error per draft."""

    @abstractmethod
    def unregister(self, namespace: str, identifier: str) -> bool:
        """Remove ``identifier`` (its history stays). Return whether it was there."""

    @abstractmethod
    def clear(self, namespace: str) -> int:
        """Remove every identifier of ``namespace``; return how many were removed."""

    @abstractmethod
    def get_blob(self, sha256: str) -> BlobRecord | None:
        """Return the blob with this content hash, or ``None``."""

    @abstractmethod
    def generations(self) -> dict[str, int]:
        """Return each namespace's change counter (bumped by every write to it)."""

    def changes_since(self, namespace: str, generation: int) -> ChangeSet:
        """Return what changed in ``namespace`` after ``generation``, read in one snapshot.

        Backends with a change log read only what changed; this default reads everything and
        reports it as a clear followed by registrations.
        """
        record = self.get_namespace(namespace)
        current = 0 if record is None else record.generation
        if current == generation:
            return ChangeSet(namespace, generation, current)
        # The generation is read first: entries read later are at least as new.
        entries = tuple(self.list_entries(namespace))
        return ChangeSet(namespace, generation, current, cleared=True, added=entries)

    def watch(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback`` when *other* processes change namespaces; return an unsubscribe.

        Backends with no other writers (``MemoryStore``) never call it.
        """
        del callback
        return lambda: None

    def watch_changes(self, namespace: str, callback: ChangeSetCallback) -> Callable[[], None]:
        """Call ``callback`` with each :class:`ChangeSet` of ``namespace`` made elsewhere.

        ``None`` means "reload": this default only knows *that* the namespace moved. Returns
        an unsubscribe function.
        """

        def forward(changed: frozenset[str] | None) -> None:
            if changed is None or namespace in changed:
                callback(None)

        return self.watch(forward)

    def watch_status(self) -> WatchStatus:
        """Whether changes from other processes reach this process right now."""
        return WatchStatus(watching=False)

    def announced_writes(self, namespace: str, since: int) -> tuple[int, list[str]] | None:
        """What the change signals told of ``namespace`` after generation ``since``: the last
        generation announced and the identifiers registered up to it, in order, when every
        move in between was a registration announced with its identifier (alone or in a small
        batch). ``None`` (this default) when the signals do not tell: read
        :meth:`changes_since` instead."""
        del namespace, since
        return None

    def close(self) -> None:
        """Release connections and background threads. The store is unusable afterwards."""
