"""What the web page reads from a ``Store``: one index per namespace for filtering, sorting and
paging, and the search across every namespace.

An index holds one namespace at one *generation* (the store's change counter) and serves pages
from prepared lower-case strings and sort orders, without reading the store. When the namespace
moves on, the catalog reads only what changed since the index's generation
(:meth:`Store.changes_since`) and derives the next index from the previous one: new and
replaced rows are inserted into the sort orders already computed, removed rows are dropped, and
nothing else is read or sorted again. A change set that starts from nothing (after a ``clear``,
or from a store that cannot tell what changed) makes an index of its records alone.

Only the first index of a namespace reads ``list_entries``, with the generation read before the
entries: a write landing in between comes again in the next change set, which is harmless. For
a large namespace that read takes seconds, so a first visit gets an :class:`Outline` (its first
pages by identifier, from a read of the identifiers alone) while the index is read in the
background.
Imports only ``store``.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from itertools import accumulate, compress
from operator import attrgetter
from typing import Any, Literal, get_args

from registry.store.base import ChangeSet, EntryRecord, NamespaceRecord, Store
from registry.store.cached import CachedStore

__all__ = [
    "SORT_KEYS",
    "Catalog",
    "Hit",
    "NamespaceIndex",
    "Outline",
    "Page",
    "SortKey",
    "words_of",
]

logger = logging.getLogger(__name__)

SortKey = Literal["identifier", "origin", "version", "created_by", "created_at"]
SORT_KEYS: tuple[SortKey, ...] = get_args(SortKey)

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def words_of(text: str) -> list[str]:
    """Return the lower-case words of a query; an entry matches when it contains every word."""
    return text.casefold().split()


def _when(record: EntryRecord) -> datetime:
    moment = record.created_at
    if moment is None:
        return _EPOCH
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _haystack(record: EntryRecord) -> str:
    return f"{record.identifier}\n{record.origin}\n{record.doc}".casefold()


#: The value each sort key orders by (``identifier`` uses the index's prepared names).
_SORT_VALUES: dict[SortKey, Callable[[EntryRecord], Any]] = {
    "origin": lambda record: record.origin.casefold(),
    "version": attrgetter("version"),
    "created_by": lambda record: record.created_by.casefold(),
    "created_at": _when,
}

#: A namespace with more entries than this gets an :class:`Outline` on its first visit while
#: its index is read in the background; a smaller one is read at once (milliseconds).
OUTLINE_ABOVE = 2_000

#: Above this many new or replaced rows, an index sorts afresh on first use instead of
#: inserting each row into every order it holds (each insertion moves the rows after it).
RESORT_ABOVE = 256


@dataclass(frozen=True)
class Page:
    """One page of a namespace's entries after filtering and sorting."""

    entries: list[EntryRecord]
    total: int
    """How many entries match the filter (all pages)."""
    offset: int
    limit: int


@dataclass(frozen=True)
class Hit:
    """One search result: an entry and the namespace it lives in."""

    namespace: NamespaceRecord
    entry: EntryRecord


#: Recent filter results kept per namespace index (paging a filtered view, typing on).
RECENT_RESULTS = 16


def _narrows(earlier: tuple[str, ...], words: tuple[str, ...]) -> bool:
    """Whether every entry matching ``words`` also matches ``earlier`` (typing on: each earlier
    word is part of the word now at its place)."""
    return len(earlier) <= len(words) and all(
        old in new for old, new in zip(earlier, words, strict=False)
    )


class NamespaceIndex:
    """The current entries of one namespace at one generation, prepared for queries.

    Rows are in registration order. An index never changes once built (requests may be
    reading it): the next generation is a new index (:meth:`advanced`). Sort orders are
    computed on first use and carried forward, and the results of recent filters are kept, so
    that the next keystroke only scans what the previous one found.
    """

    complete = True
    """Every entry is at hand (an :class:`Outline` is not complete)."""

    def __init__(
        self,
        record: NamespaceRecord,
        entries: list[EntryRecord],
        *,
        names: list[str] | None = None,
        haystacks: list[str] | None = None,
    ) -> None:
        self.record = record
        self.entries = entries
        self.names = [e.identifier.casefold() for e in entries] if names is None else names
        self.haystacks = [_haystack(e) for e in entries] if haystacks is None else haystacks
        self._orders: dict[SortKey, list[int]] = {}
        self._positions: dict[str, int] | None = None
        self._recent: OrderedDict[tuple[SortKey, bool, tuple[str, ...]], list[int]] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._sorted_names: list[str] | None = None

    @property
    def size(self) -> int:
        return len(self.entries)

    @property
    def positions(self) -> dict[str, int]:
        """Each identifier's row."""
        if self._positions is None:
            self._positions = {e.identifier: i for i, e in enumerate(self.entries)}
        return self._positions

    def get(self, identifier: str) -> EntryRecord | None:
        """Return the current record of ``identifier`` at this index's generation."""
        position = self.positions.get(identifier)
        return None if position is None else self.entries[position]

    @property
    def latest(self) -> EntryRecord | None:
        """The newest registration (latest ``created_at``; ties: the last in ``created_at``
        order)."""
        order = self.order("created_at")
        return self.entries[order[-1]] if order else None

    def order(self, key: SortKey) -> list[int]:
        """Return entry positions sorted ascending by ``key``; ties by identifier, then by
        registration (the order :meth:`advanced` inserts by)."""
        order = self._orders.get(key)
        if order is None:
            by_name = self._orders.get("identifier")
            if by_name is None:
                by_name = sorted(range(len(self.entries)), key=self.names.__getitem__)
                self._orders["identifier"] = by_name
            if key == "identifier":
                order = by_name
            else:
                # Sorting positions by a list's __getitem__ keeps the key lookup in C; the
                # sort is stable, so equal keys stay in identifier order.
                values = [_SORT_VALUES[key](e) for e in self.entries]
                order = sorted(by_name, key=values.__getitem__)
            self._orders[key] = order  # a racing thread computes the same list: harmless
        return order

    def _in_order(self, key: SortKey, descending: bool) -> list[int]:
        order = self.order(key)
        return order[::-1] if descending else order

    def _rank(self, key: SortKey) -> Callable[[int], tuple[Any, ...]]:
        """Where a row goes in ``order(key)``: the full sort key of :meth:`order`."""
        names = self.names
        if key == "identifier":
            return lambda i: (names[i], i)
        value, entries = _SORT_VALUES[key], self.entries
        return lambda i: (value(entries[i]), names[i], i)

    def advanced(self, changes: ChangeSet) -> NamespaceIndex:
        """Return the index of this namespace after ``changes`` (read since this index's
        generation). Sort orders already computed are carried forward, not computed again."""
        if changes.cleared:
            added = list(changes.added)
            return NamespaceIndex(self._moved_on(changes, len(added)), added)
        held = self.positions
        # A re-registered identifier leaves its row for one at the end, as the store orders it.
        leaving = {e.identifier for e in changes.added}.union(changes.removed)
        gone = [held[identifier] for identifier in leaving if identifier in held]
        # An updated identifier is always held when the change set starts at this index's
        # generation; an unknown one would be added rather than lost.
        replaced = [e for e in changes.updated if e.identifier in held]
        appended = [e for e in changes.updated if e.identifier not in held] + list(changes.added)

        size = len(self.entries)
        kept = bytearray(b"\x01") * size
        for row in gone:
            kept[row] = 0
        # Rows after a gone one move up: an old row's new number is the count of rows kept
        # up to it, minus one.
        kept_up_to = list(accumulate(kept)) if gone else range(1, size + 1)
        entries = list(compress(self.entries, kept))
        names = list(compress(self.names, kept))
        haystacks = list(compress(self.haystacks, kept))
        moved = []  # the rows whose place in each sort order is to be found
        for entry in replaced:
            row = kept_up_to[held[entry.identifier]] - 1
            entries[row] = entry
            haystacks[row] = _haystack(entry)
            moved.append(row)
        for entry in appended:
            moved.append(len(entries))
            entries.append(entry)
            names.append(entry.identifier.casefold())
            haystacks.append(_haystack(entry))

        after = NamespaceIndex(
            self._moved_on(changes, len(entries)), entries, names=names, haystacks=haystacks
        )
        if not gone:  # rows kept their numbers
            after._positions = held | {e.identifier: size + k for k, e in enumerate(appended)}
        if len(moved) > RESORT_ABOVE:
            return after  # sorting afresh on first use is cheaper
        for key, before in list(self._orders.items()):
            order = [kept_up_to[i] - 1 for i in before if kept[i]] if gone else before.copy()
            for row in moved[: len(replaced)]:
                order.remove(row)  # its sort value may have changed
            rank = after._rank(key)
            for row in moved:
                bisect.insort(order, row, key=rank)
            after._orders[key] = order
        return after

    def _moved_on(self, changes: ChangeSet, size: int) -> NamespaceRecord:
        return replace(self.record, generation=changes.generation, size=size)

    def found(
        self, words: list[str], sort: SortKey = "identifier", descending: bool = False
    ) -> list[int]:
        """Return the positions of the entries containing every word, in ``sort`` order."""
        key = (sort, descending, tuple(words))
        with self._recent_lock:
            cached = self._recent.get(key)
            if cached is not None:
                self._recent.move_to_end(key)
                return cached
            narrower = next(
                (
                    result
                    for (s, d, earlier), result in reversed(self._recent.items())
                    if (s, d) == (sort, descending) and _narrows(earlier, key[2])
                ),
                None,
            )
        if narrower is None:
            narrower = self._in_order(sort, descending)
        haystacks = self.haystacks
        result = narrower
        for word in words:  # each word narrows what the next one scans
            result = [i for i in result if word in haystacks[i]]
        with self._recent_lock:
            self._recent[key] = result
            if len(self._recent) > RECENT_RESULTS:
                self._recent.popitem(last=False)
        return result

    def ranked(self, words: list[str]) -> list[Iterator[tuple[str, int]]]:
        """Return the matches of ``words`` as (name, position) in four groups, each in
        identifier order: identifier equal to the query, starting with it, containing it, and
        the rest (the query is in the import path or docstring). Lazy: a search stops reading
        once it has enough."""
        found = self.found(words)
        names = self.names
        if len(words) > 1:  # identifiers hold no whitespace: only the last group can match
            return [iter(()), iter(()), iter(()), ((names[i], i) for i in found)]
        word = words[0]
        by_name = self.order("identifier")
        if self._sorted_names is None:
            self._sorted_names = [names[i] for i in by_name]
        ordered = self._sorted_names
        # Identifiers starting with the word are one run of the sorted names.
        start = bisect.bisect_left(ordered, word)
        equal_end = bisect.bisect_right(ordered, word, start)
        prefix_end = bisect.bisect_left(ordered, word + "\U0010ffff", equal_end)
        return [
            ((ordered[k], by_name[k]) for k in range(start, equal_end)),
            ((ordered[k], by_name[k]) for k in range(equal_end, prefix_end)),
            ((names[i], i) for i in found if word in names[i] and not names[i].startswith(word)),
            ((names[i], i) for i in found if word not in names[i]),
        ]

    def page(
        self,
        text: str = "",
        *,
        sort: SortKey = "identifier",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        """Return the entries matching ``text``, sorted, from ``offset`` on (at most ``limit``)."""
        words = words_of(text)
        found = self.found(words, sort, descending) if words else self._in_order(sort, descending)
        chosen = found[offset : offset + limit]
        return Page([self.entries[i] for i in chosen], len(found), offset, limit)


class Outline:
    """A namespace whose index is still being read: its size, and the pages of the unfiltered
    view by identifier, from one read of every identifier (no records built) and one read per
    entry shown. ``latest`` is unknown until the index is read."""

    complete = False
    latest: EntryRecord | None = None

    def __init__(self, store: Store, record: NamespaceRecord) -> None:
        self.store = store
        self.record = record
        self.size = record.size
        self._names: list[str] | None = None

    def page(
        self,
        text: str = "",
        *,
        sort: SortKey = "identifier",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        """Return what :meth:`NamespaceIndex.page` would, for the unfiltered view by identifier.

        Raises:
            ValueError: a filter or another sort asked for: only the index can answer them.
        """
        if words_of(text) or sort != "identifier":
            raise ValueError("An outline holds no filter or sort but by identifier: use the index")
        if self._names is None:
            # Stable: names equal but for case stay in registration order, as in the index.
            self._names = sorted(self.store.list_identifiers(self.record.name), key=str.casefold)
        names = self._names[::-1] if descending else self._names
        found = (
            self.store.get_entry(self.record.name, name) for name in names[offset : offset + limit]
        )
        # One unregistered meanwhile is left out; the change event brings the page up to date.
        return Page([e for e in found if e is not None], len(names), offset, limit)


def _tagged(
    index: NamespaceIndex, pairs: Iterator[tuple[str, int]]
) -> Iterator[tuple[str, str, int, NamespaceIndex]]:
    for name, position in pairs:
        yield name, index.record.name, position, index


class Catalog:
    """Namespace indexes over one store, brought up to date when a namespace's generation
    moves."""

    def __init__(self, store: Store) -> None:
        # Read past a CachedStore: the page learns of changes from generations read from the
        # database, and a cache whose change signal has not arrived yet would hand an index
        # labelled with the new generation the old entries, which no later event would fix.
        # The indexes are this class's own cache, kept per generation.
        self.store = store.inner if isinstance(store, CachedStore) else store
        self._indexes: dict[str, NamespaceIndex] = {}
        self._updating: dict[str, threading.Lock] = {}
        self._reading: set[str] = set()  # first indexes read in the background
        self._lock = threading.Lock()

    def namespaces(self) -> list[NamespaceIndex]:
        """Return the index of every namespace, sorted by name."""
        generations = self.store.generations()  # cheap: no counting of entries
        found = (self._at(name, generation) for name, generation in sorted(generations.items()))
        return [index for index in found if index is not None]

    def namespace(self, name: str) -> NamespaceIndex | None:
        """Return the index of namespace ``name``, or ``None`` when it does not exist."""
        generation = self.store.generations().get(name)
        if generation is None:
            self._indexes.pop(name, None)
            return None
        return self._at(name, generation)

    def preview(self, name: str) -> NamespaceIndex | Outline | None:
        """Return :meth:`namespace` when that is quick, else an :class:`Outline` of it while
        its index is read in the background (a large namespace not read before)."""
        record = self.store.get_namespace(name)
        return None if record is None else self._quick(record)

    def previews(self) -> list[NamespaceIndex | Outline]:
        """Return :meth:`namespaces`, with an :class:`Outline` for each large namespace not
        read before (its index is read in the background)."""
        records = sorted(self.store.list_namespaces(), key=lambda record: record.name)
        found = (self._quick(record) for record in records)
        return [view for view in found if view is not None]

    def search(self, text: str, limit: int = 50) -> tuple[int, list[Hit]]:
        """Return how many entries of all namespaces match ``text`` and the best ``limit``.

        Identifiers equal to the query come first, then identifiers starting with it, then
        identifiers containing it, then matches in the import path or docstring; by identifier
        within each group. Only as many matches are ranked as are returned.
        """
        words = words_of(text)
        if not words:
            return 0, []
        indexes = self.namespaces()
        total = sum(len(index.found(words)) for index in indexes)
        groups = [index.ranked(words) for index in indexes]
        hits: list[Hit] = []
        for group in range(len(groups[0]) if groups else 0):
            streams = [
                _tagged(index, ranked[group]) for index, ranked in zip(indexes, groups, strict=True)
            ]
            for _name, _namespace, position, index in heapq.merge(*streams):
                if len(hits) == limit:
                    return total, hits
                hits.append(Hit(index.record, index.entries[position]))
        return total, hits

    def _at(self, name: str, generation: int) -> NamespaceIndex | None:
        """Return the index of ``name`` at ``generation`` (or later, when a write lands
        meanwhile); ``None`` when the namespace is gone."""
        index = self._indexes.get(name)
        if index is not None and index.record.generation == generation:
            return index
        with self._lock:
            updating = self._updating.setdefault(name, threading.Lock())
        # One update per namespace at a time; other namespaces are served meanwhile.
        with updating:
            index = self._indexes.get(name)
            if index is None or index.record.generation != generation:
                index = self._updated(name, index)
                if index is None:
                    self._indexes.pop(name, None)
                    return None
                self._indexes[name] = index
            return index

    def _updated(self, name: str, index: NamespaceIndex | None) -> NamespaceIndex | None:
        if index is not None:
            held = index.record.generation
            changes = self.store.changes_since(name, held)
            if changes.generation == held:
                return index
            # A generation going back means another database behind the same URL: read anew.
            if changes.generation > held:
                return index.advanced(changes)
        record = self.store.get_namespace(name)  # the generation first, then the entries
        return None if record is None else NamespaceIndex(record, self.store.list_entries(name))

    def _quick(self, record: NamespaceRecord) -> NamespaceIndex | Outline | None:
        if record.name in self._indexes or record.size <= OUTLINE_ABOVE:
            return self._at(record.name, record.generation)
        with self._lock:
            reading = record.name in self._reading
            self._reading.add(record.name)
        if not reading:
            threading.Thread(
                target=self._read, args=(record.name,), name="registry-ui-index", daemon=True
            ).start()
        return Outline(self.store, record)

    def _read(self, name: str) -> None:
        try:
            self.namespace(name)
        except Exception:  # the next visit tries again
            logger.exception("the web page could not read namespace %r", name)
        finally:
            with self._lock:
                self._reading.discard(name)
