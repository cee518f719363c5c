"""Did-you-mean: the registered names that look like a name that was not found.

Scoring is rapidfuzz's ``fuzz.ratio`` (the normalised indel similarity, what ``difflib`` ratio
approximates), computed in C: at a thousand names a full scan costs tens of microseconds,
where the pure-Python bigram prefilter plus ``difflib`` cost ~40 times more. At 100,000 names
even a C scan costs milliseconds, so :class:`NameIndex` keeps an index of the names' trigrams
and scores only the names that share the query's rarest trigrams, once the names have been
looked up often enough to pay for building it. A name list is fixed, so the answers for the
last few queries are kept: a miss repeated in a loop costs a dict lookup, not a scan. Imports
only rapidfuzz.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

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


def closest(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Return up to ``limit`` candidates that look like ``name``, best first."""
    choices = candidates if isinstance(candidates, Sequence) else list(candidates)
    return _ranked(name, choices, limit)


def _ranked(name: str, choices: Sequence[str], limit: int) -> list[str]:
    found = process.extract(
        name, choices, scorer=fuzz.ratio, limit=limit, score_cutoff=CUTOFF, processor=None
    )
    return [choice for choice, _score, _index in found]


def _trigrams(name: str) -> set[str]:
    padded = f"  {name.lower()} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class NameIndex:
    """Did-you-mean over one fixed list of names (a namespace's identifiers at a generation).

    Small lists are scanned. A large one is scanned for its first
    :data:`INDEX_AFTER_SCANS` lookups, then gets its trigram index, and each lookup scores the
    names that share the query's rarest trigrams (up to :data:`SHORTLIST` of them): a
    misspelling keeps most trigrams of the name it misspells.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = names
        self._postings: dict[str, list[int]] | None = None
        self._scans = 0
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, int], tuple[str, ...]] = {}

    @property
    def indexed(self) -> bool:
        """Whether lookups use the trigram index (built from the lookup after the scans)."""
        return self._postings is not None

    def closest(self, name: str, limit: int = 3) -> list[str]:
        query = (name, limit)
        answer = self._answers.get(query)
        if answer is None:
            answer = tuple(self._closest(name, limit))
            with self._lock:
                if len(self._answers) >= REMEMBERED_QUERIES:
                    del self._answers[next(iter(self._answers))]  # the oldest
                self._answers[query] = answer
        return list(answer)

    def _closest(self, name: str, limit: int) -> list[str]:
        if len(self.names) <= SCAN_LIMIT:
            return _ranked(name, self.names, limit)
        if self._postings is None:
            with self._lock:
                self._scans += 1
                scan = self._scans <= INDEX_AFTER_SCANS
            if scan:
                return _ranked(name, self.names, limit)
        postings = self._index()
        lists = sorted((postings.get(gram, ()) for gram in _trigrams(name)), key=len)
        chosen: set[int] = set()
        for positions in lists:
            if chosen and len(chosen) + len(positions) > SHORTLIST:
                break
            chosen.update(positions)
        shortlist = [self.names[position] for position in sorted(chosen)]
        return _ranked(name, shortlist, limit)

    def _index(self) -> dict[str, list[int]]:
        with self._lock:
            if self._postings is None:
                postings: dict[str, list[int]] = {}
                for position, candidate in enumerate(self.names):
                    for gram in _trigrams(candidate):
                        postings.setdefault(gram, []).append(position)
                self._postings = postings
            return self._postings
