"""What the web page reads from a ``Store``: one index per namespace for filtering, sorting and
paging, and the search across every namespace.

An index is built from ``list_entries`` once per namespace *generation* (the store's change
counter) and reused until the namespace changes, so serving a page of a 100k-entry namespace
scans prepared lower-case strings instead of reading the store. The generation is read before
the entries: a write landing in between only causes one extra rebuild, never a stale index.
Imports only ``store``.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from registry.store.base import EntryRecord, NamespaceRecord, Store
from registry.store.cached import CachedStore

__all__ = ["SORT_KEYS", "Catalog", "Hit", "NamespaceIndex", "Page", "SortKey", "words_of"]

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

    Entries never change once built; sort orders are computed on first use, and the results of
    recent filters are kept, so that the next keystroke only scans what the previous one found.
    """

    def __init__(self, record: NamespaceRecord, entries: list[EntryRecord]) -> None:
        self.record = record
        self.entries = entries
        self.names = [e.identifier.casefold() for e in entries]
        self.haystacks = [f"{e.identifier}\n{e.origin}\n{e.doc}".casefold() for e in entries]
        self.latest: EntryRecord | None = max(entries, key=_when) if entries else None
        self._orders: dict[SortKey, list[int]] = {}
        self._recent: OrderedDict[tuple[SortKey, bool, tuple[str, ...]], list[int]] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._sorted_names: list[str] | None = None
        self._positions: dict[str, int] | None = None

    def get(self, identifier: str) -> EntryRecord | None:
        """Return the current record of ``identifier`` at this index's generation."""
        if self._positions is None:
            self._positions = {e.identifier: i for i, e in enumerate(self.entries)}
        position = self._positions.get(identifier)
        return None if position is None else self.entries[position]

    def _keys(self, key: SortKey) -> list[Any]:
        entries = self.entries
        if key == "identifier":
            return self.names
        if key == "version":
            return [e.version for e in entries]
        if key == "created_at":
            return [_when(e) for e in entries]
        if key == "origin":
            return [e.origin.casefold() for e in entries]
        return [e.created_by.casefold() for e in entries]

    def order(self, key: SortKey) -> list[int]:
        """Return entry positions sorted ascending by ``key`` (ties by identifier)."""
        order = self._orders.get(key)
        if order is None:
            by_name = self._orders.get("identifier")
            if by_name is None:
                by_name = sorted(range(len(self.entries)), key=self.names.__getitem__)
                self._orders["identifier"] = by_name
            # Sorting positions by a list's __getitem__ keeps the key lookup in C; the sort is
            # stable, so equal keys stay in identifier order.
            order = (
                by_name if key == "identifier" else sorted(by_name, key=self._keys(key).__getitem__)
            )
            self._orders[key] = order  # a racing thread computes the same list: harmless
        return order

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
            order = self.order(sort)
            narrower = order[::-1] if descending else order
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
        if words:
            found = self.found(words, sort, descending)
        else:
            order = self.order(sort)
            found = order[::-1] if descending else order
        chosen = found[offset : offset + limit]
        return Page([self.entries[i] for i in chosen], len(found), offset, limit)


def _tagged(
    index: NamespaceIndex, pairs: Iterator[tuple[str, int]]
) -> Iterator[tuple[str, str, int, NamespaceIndex]]:
    for name, position in pairs:
        yield name, index.record.name, position, index


class Catalog:
    """Namespace indexes over one store, rebuilt when a namespace's generation moves."""

    def __init__(self, store: Store) -> None:
        # Read past a CachedStore: the page learns of changes from generations read from the
        # database, and a cache whose change signal has not arrived yet would hand an index
        # labelled with the new generation the old entries, which no later event would fix.
        # The indexes are this class's own cache, kept per generation.
        self.store = store.inner if isinstance(store, CachedStore) else store
        self._indexes: dict[str, NamespaceIndex] = {}
        self._building: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def namespaces(self) -> list[NamespaceIndex]:
        """Return the index of every namespace, sorted by name."""
        generations = self.store.generations()  # cheap: no counting of entries
        fresh = [
            index
            for name in sorted(generations)
            if (index := self._indexes.get(name)) is not None
            and index.record.generation == generations[name]
        ]
        if len(fresh) == len(generations):
            return fresh
        records = sorted(self.store.list_namespaces(), key=lambda record: record.name)
        return [self._index_of(record) for record in records]

    def namespace(self, name: str) -> NamespaceIndex | None:
        """Return the index of namespace ``name``, or ``None`` when it does not exist."""
        cached = self._indexes.get(name)
        if cached is not None and cached.record.generation == self.store.generations().get(name):
            return cached
        record = self.store.get_namespace(name)
        return None if record is None else self._index_of(record)

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

    def _index_of(self, record: NamespaceRecord) -> NamespaceIndex:
        cached = self._indexes.get(record.name)
        if cached is not None and cached.record.generation == record.generation:
            return cached
        with self._lock:
            building = self._building.setdefault(record.name, threading.Lock())
        # One build per namespace at a time; other namespaces are served meanwhile.
        with building:
            cached = self._indexes.get(record.name)
            if cached is not None and cached.record.generation == record.generation:
                return cached
            index = NamespaceIndex(record, self.store.list_entries(record.name))
            self._indexes[record.name] = index
            return index
