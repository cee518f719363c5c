"""Did-you-mean: the registered names that look like a name that was not found.

Scoring is rapidfuzz's ``fuzz.ratio`` (the normalised indel similarity, what ``difflib`` ratio
approximates), computed in C: at a thousand names a full scan costs tens of microseconds,
where the pure-Python bigram prefilter plus ``difflib`` cost ~40 times more. At 100,000 names
even a C scan costs milliseconds, so :class:`NameIndex` keeps an index of the names' trigrams
and scores only the names that share the query's rarest trigrams, once the names have been
looked up often enough to pay for building it. The answers for the last few queries are kept:
a miss repeated in a loop costs a dict lookup, not a scan. When a namespace grows (new names
appended, as registrations append them), :meth:`NameIndex.follow` carries the kept answers
and the index over and scores only the new names. Imports only rapidfuzz.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from rapidfuzz import fuzz, process

__all__ = ["SCAN_LIMIT", "NameIndex", "closest"]

#: Lowest similarity (0-100) worth suggesting.
CUTOFF = 50.0
#: Up to this many names, a full scan is cheaper than building an index.
SCAN_LIMIT = 5_000
#: How many names an indexed lookup scores at most (those sharing the rarest trigrams).
SHORTLIST = 2_000
#: A large list is scanned for its first lookups and indexed from the next one on. Building
#: the index costs about as much as 25 scans (100,000 names: 232 ms against 9.4 ms), so names
#: looked up rarely (a typo, then the namespace moves and the list is replaced) never pay for
#: it, and names looked up often pay at most about twice what the best choice in hindsight
#: would have cost (scanning until the scans cost what the index does, then building it).
INDEX_AFTER_SCANS = 24
#: How many recent queries (name and limit) keep their answers, per name list.
REMEMBERED_QUERIES = 64
#: How many names appended after the index was built a lookup scores in full (about the cost
#: of one lookup through the index); the index is built again when more were appended.
UNINDEXED_TAIL = 2_000

#: ``(name, score)`` pairs, best first.
_Scored = tuple[tuple[str, float], ...]


def closest(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Return up to ``limit`` candidates that look like ``name``, best first."""
    choices = candidates if isinstance(candidates, Sequence) else list(candidates)
    return [choice for choice, _score in _scored(name, choices, limit)]


def _scored(name: str, choices: Sequence[str], limit: int) -> _Scored:
    """The best ``limit`` choices with their scores; equal scores keep the choices' order."""
    found = process.extract(
        name, choices, scorer=fuzz.ratio, limit=limit, score_cutoff=CUTOFF, processor=None
    )
    return tuple((choice, score) for choice, score, _index in found)


def _trigrams(name: str) -> set[str]:
    padded = f"  {name.lower()} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class _Trigrams(NamedTuple):
    postings: dict[str, list[int]]
    """Each trigram's positions in the names, ascending."""
    covers: int
    """How many leading names are indexed."""


class _Answer(NamedTuple):
    covers: int
    """How many leading names the answer was chosen from."""
    scored: _Scored


class NameIndex:
    """Did-you-mean over a namespace's identifiers at one generation.

    Small lists are scanned. A large one is scanned for its first
    :data:`INDEX_AFTER_SCANS` lookups, then gets its trigram index, and each lookup scores the
    names that share the query's rarest trigrams (up to :data:`SHORTLIST` of them): a
    misspelling keeps most trigrams of the name it misspells.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = names
        self._trigrams: _Trigrams | None = None
        self._scans = 0
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, int], _Answer] = {}

    @property
    def indexed(self) -> bool:
        """Whether lookups use the trigram index (built from the lookup after the scans)."""
        return self._trigrams is not None

    def follow(self, names: Sequence[str]) -> NameIndex:
        """Return the index of ``names``, the same namespace's identifiers after a change.

        When ``names`` are this index's names with more appended (registrations append; a new
        version of a name keeps the list), the new index keeps the remembered answers, the
        count of scans and the trigram index, and a lookup scores only the names they do not
        cover: its answer is the one a fresh index would give. Otherwise (a name removed) it
        starts afresh.
        """
        count = len(self.names)
        if len(names) < count or names[:count] != self.names:
            return NameIndex(names)
        return self._carried_to(names)

    def extended(self, appended: Sequence[str]) -> NameIndex:
        """Return the index of this index's names with ``appended`` after them, as
        :meth:`follow` does, for a caller that knows what was appended (no comparison)."""
        return self._carried_to([*self.names, *appended])

    def _carried_to(self, names: Sequence[str]) -> NameIndex:
        """A new index of ``names``, which start with this index's names, keeping its work."""
        followed = NameIndex(names)
        with self._lock:
            followed._answers = dict(self._answers)
            followed._scans = self._scans
            trigrams = self._trigrams
        if trigrams is not None and len(names) - trigrams.covers <= UNINDEXED_TAIL:
            followed._trigrams = trigrams  # never changed once built: safe to share
        return followed

    def closest(self, name: str, limit: int = 3) -> list[str]:
        query = (name, limit)
        total = len(self.names)
        known = self._answers.get(query)
        if known is None:
            scored = self._closest(name, limit)
        elif known.covers == total:
            scored = known.scored
        else:
            # The best of all names is the best of the old answer and of the appended names;
            # a stable sort keeps an older name first on equal scores, as a scan does.
            appended = _scored(name, self.names[known.covers :], limit)
            scored = tuple(sorted(known.scored + appended, key=lambda item: -item[1])[:limit])
        if known is None or known.covers != total:
            with self._lock:
                if known is None and len(self._answers) >= REMEMBERED_QUERIES:
                    del self._answers[next(iter(self._answers))]  # the oldest
                self._answers[query] = _Answer(total, scored)
        return [choice for choice, _score in scored]

    def _closest(self, name: str, limit: int) -> _Scored:
        if len(self.names) <= SCAN_LIMIT:
            return _scored(name, self.names, limit)
        if self._trigrams is None:
            with self._lock:
                self._scans += 1
                scan = self._scans <= INDEX_AFTER_SCANS
            if scan:
                return _scored(name, self.names, limit)
        postings, covers = self._index()
        lists = sorted((postings.get(gram, ()) for gram in _trigrams(name)), key=len)
        chosen: set[int] = set()
        for positions in lists:
            if chosen and len(chosen) + len(positions) > SHORTLIST:
                break
            chosen.update(positions)
        shortlist = [self.names[position] for position in sorted(chosen)]
        shortlist += self.names[covers:]  # appended since the index was built: all scored
        return _scored(name, shortlist, limit)

    def _index(self) -> _Trigrams:
        with self._lock:
            if self._trigrams is None:
                postings: dict[str, list[int]] = {}
                for position, candidate in enumerate(self.names):
                    for gram in _trigrams(candidate):
                        postings.setdefault(gram, []).append(position)
                self._trigrams = _Trigrams(postings, len(self.names))
            return self._trigrams
