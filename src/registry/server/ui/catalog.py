"""What the web page reads from a ``Store``: one index per namespace for filtering, sorting and
paging, and the search across every namespace.

An index is built from ``list_entries`` once per namespace *generation* (the store's change
counter) and reused until the namespace changes, so serving a page of a 100k-entry namespace
scans prepared lower-case strings instead of reading the store. The generation is read before
the entries: a write landing in between only causes one extra rebuild, never a stale index.
Imports only ``store.base``.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal, get_args

from registry.store.base import EntryRecord, NamespaceRecord, Store

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


class NamespaceIndex:
    """The current entries of one namespace at one generation, prepared for queries.

    Immutable once built, except for sort orders, which are computed on first use.
    """

    def __init__(self, record: NamespaceRecord, entries: list[EntryRecord]) -> None:
        self.record = record
        self.entries = entries
        self.haystacks = [f"{e.identifier}\n{e.origin}\n{e.doc}".casefold() for e in entries]
        self.latest: EntryRecord | None = max(entries, key=_when) if entries else None
        self._orders: dict[SortKey, list[int]] = {}

    def order(self, key: SortKey) -> list[int]:
        """Return entry positions sorted ascending by ``key`` (ties by identifier)."""
        order = self._orders.get(key)
        if order is None:
            entries = self.entries
            by_name = sorted(range(len(entries)), key=lambda i: entries[i].identifier.casefold())
            if key == "identifier":
                order = by_name
            elif key == "version":
                order = sorted(by_name, key=lambda i: entries[i].version)
            elif key == "created_at":
                order = sorted(by_name, key=lambda i: _when(entries[i]))
            elif key == "origin":
                order = sorted(by_name, key=lambda i: entries[i].origin.casefold())
            else:
                order = sorted(by_name, key=lambda i: entries[i].created_by.casefold())
            self._orders[key] = order  # a racing thread computes the same list: harmless
        return order

    def matching(self, words: list[str], positions: Iterable[int]) -> list[int]:
        """Return the ``positions`` whose entry contains every word."""
        haystacks = self.haystacks
        if len(words) == 1:
            word = words[0]
            return [i for i in positions if word in haystacks[i]]
        return [i for i in positions if all(w in haystacks[i] for w in words)]

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
        order = self.order(sort)
        positions = order[::-1] if descending else order
        words = words_of(text)
        found = self.matching(words, positions) if words else positions
        chosen = found[offset : offset + limit]
        return Page([self.entries[i] for i in chosen], len(found), offset, limit)


class Catalog:
    """Namespace indexes over one store, rebuilt when a namespace's generation moves."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._indexes: dict[str, NamespaceIndex] = {}
        self._building: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def namespaces(self) -> list[NamespaceIndex]:
        """Return the index of every namespace, sorted by name."""
        return [self._index_of(record) for record in self.store.list_namespaces()]

    def namespace(self, name: str) -> NamespaceIndex | None:
        """Return the index of namespace ``name``, or ``None`` when it does not exist."""
        record = self.store.get_namespace(name)
        return None if record is None else self._index_of(record)

    def search(self, text: str, limit: int = 50) -> tuple[int, list[Hit]]:
        """Return how many entries of all namespaces match ``text`` and the best ``limit``.

        Identifiers equal to the query come first, then identifiers starting with it, then
        identifiers containing it, then matches in the import path or docstring.
        """
        words = words_of(text)
        if not words:
            return 0, []
        whole = " ".join(words)
        ranked: list[tuple[int, str, str, int, NamespaceIndex]] = []
        for index in self.namespaces():
            for i in index.matching(words, range(len(index.entries))):
                name = index.entries[i].identifier.casefold()
                rank = (
                    0
                    if name == whole
                    else 1
                    if name.startswith(whole)
                    else 2
                    if whole in name
                    else 3
                )
                ranked.append((rank, name, index.record.name, i, index))
        best = heapq.nsmallest(limit, ranked, key=lambda item: item[:4])
        return len(ranked), [Hit(index.record, index.entries[i]) for *_, i, index in best]

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
