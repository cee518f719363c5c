"""Catch-up answers shared by the listeners that ask for the same change.

After a change, every listening client asks ``GET /namespaces/{name}/changes?since=G``, most
of them with the same ``G``. Each request used to be its own database read and its own JSON
encoding, so a change cost a worker one read per listener. A change set read at generation
``H`` stays a true answer for ``since=G`` as long as the client only needs to reach ``H``, so:

- a client that says which generation it already knows the namespace reached (``at_least``,
  from its long-poll) gets an answer read for another client if that answer reaches it;
- concurrent requests for the same ``(namespace, since)`` wait for one read, and take its
  answer if it reaches their ``at_least`` (else they read afresh);
- a request without ``at_least`` (a client that predates it, one that has no long-poll
  running, or a catch-up right after the client's own write) always reads afresh, as before.

An answer never goes backwards for its client: it reaches at least what the client was told,
and a newer change wakes the long-poll again. The encoded answers kept are bounded in number
and bytes. Imports ``store.base`` and ``store.wire``.
"""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool

from registry.store.base import Store
from registry.store.wire import changes_to_json, json_bytes

__all__ = ["ChangeSets"]

#: Answers kept, at most; and the bytes they may hold together (a new listener's first
#: catch-up can carry a whole namespace). Past either, the kept answers are dropped at once.
KEPT_ANSWERS = 256
KEPT_BYTES = 16 * 2**20

_Key = tuple[str, int]
#: (the generation the answer reaches, the encoded response body)
_Answer = tuple[int, bytes]


class ChangeSets:
    """The encoded answers of ``changes_since`` a worker gives, shared between listeners."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._kept: dict[_Key, _Answer] = {}
        self._kept_bytes = 0
        # Reads in flight; a read that fails resolves to None and its waiters read themselves.
        self._reading: dict[_Key, asyncio.Future[_Answer | None]] = {}

    async def body(self, namespace: str, since: int, at_least: int | None) -> bytes:
        """The JSON body answering ``changes?since=`` for a client that knows ``at_least``."""
        key = (namespace, since)
        if at_least is not None:
            kept = self._kept.get(key)
            if kept is not None and kept[0] >= at_least:
                return kept[1]
            pending = self._reading.get(key)
            if pending is not None:
                shared = await asyncio.shield(pending)
                if shared is not None and shared[0] >= at_least:
                    return shared[1]
        return await self._read(key)

    async def _read(self, key: _Key) -> bytes:
        future: asyncio.Future[_Answer | None] = asyncio.get_running_loop().create_future()
        self._reading[key] = future
        answer: _Answer | None = None
        try:
            changes = await run_in_threadpool(self._store.changes_since, *key)
            body = json_bytes({"changes": changes_to_json(changes)})
            answer = (changes.generation, body)
            self._keep(key, answer)
            return body
        finally:
            future.set_result(answer)
            if self._reading.get(key) is future:
                del self._reading[key]

    def _keep(self, key: _Key, answer: _Answer) -> None:
        kept = self._kept.get(key)
        if kept is not None:
            if kept[0] >= answer[0]:
                return  # a read that finished earlier reached further
            del self._kept[key]
            self._kept_bytes -= len(kept[1])
        if len(self._kept) >= KEPT_ANSWERS or self._kept_bytes + len(answer[1]) > KEPT_BYTES:
            self._kept.clear()
            self._kept_bytes = 0
        if len(answer[1]) <= KEPT_BYTES:
            self._kept[key] = answer
            self._kept_bytes += len(answer[1])
