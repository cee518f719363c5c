"""Registrations of one server worker: per namespace, in arrival order, several in one
transaction when they arrive together (group commit).

Writers of a namespace are serialised by the database anyway (its row lock, SQLite's write
lock). Sixteen clients registering at once would otherwise queue up inside sixteen threads for a
few pooled connections and the lock, in no particular order, each paying a whole transaction:
the throughput drops as the clients grow and the slowest waits for seconds. Here the first
registration of a namespace is written at once; those that arrive while it is written wait on
the event loop (no thread, no connection) and are written together, in order, by one
``register_batch`` transaction, each getting its own result or error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from registry.store import limits
from registry.store.base import EntryDraft, Registration, Store

__all__ = ["Registrations"]

_Waiting = list[tuple[EntryDraft, "asyncio.Future[Registration]"]]


class Registrations:
    """Coalesces the registrations of one worker process (used from its event loop only)."""

    def __init__(self, store: Store, written: Callable[[], None]) -> None:
        self._store = store
        self._written = written
        self._waiting: dict[str, _Waiting] = {}
        self._writers: set[asyncio.Task[None]] = set()

    async def register(self, namespace: str, draft: EntryDraft) -> Registration:
        """Register ``draft`` as :meth:`Store.register` does (same result, same errors).

        Raises:
            ValidationError: the draft is refused (checked here, so it never fails the others
                it is written with), or its own registration failed.
        """
        limits.check_draft(namespace, draft)
        answer: asyncio.Future[Registration] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(namespace)
        if waiting is None:  # no write of this namespace is running: start its writer
            waiting = self._waiting[namespace] = []
            writer = asyncio.create_task(self._write_all(namespace))
            self._writers.add(writer)  # a task nobody holds may be collected mid-way
            writer.add_done_callback(self._writers.discard)
        waiting.append((draft, answer))
        return await answer

    async def _write_all(self, namespace: str) -> None:
        """Write what waits for ``namespace``, batch after batch, until nothing is left."""
        batch: _Waiting = []
        try:
            while self._waiting[namespace]:
                batch, self._waiting[namespace] = self._waiting[namespace], []
                await self._write(namespace, batch)
        finally:
            for _, answer in batch + self._waiting.pop(namespace):
                if not answer.done():  # only when this task was cancelled (shutdown)
                    answer.cancel()
            self._written()

    async def _write(self, namespace: str, batch: _Waiting) -> None:
        drafts = [draft for draft, _ in batch]
        results: list[Registration | Exception]
        try:
            if len(drafts) == 1:
                results = [await run_in_threadpool(self._store.register, namespace, drafts[0])]
            else:
                batched = await run_in_threadpool(self._store.register_batch, namespace, drafts)
                results = list(batched)
        except Exception as error:  # the store failed (or a lone draft's own error): tell all
            results = [error] * len(batch)
        for (_, answer), result in zip(batch, results, strict=True):
            if answer.done():  # its request was cancelled
                continue
            if isinstance(result, Registration):
                answer.set_result(result)
            else:
                answer.set_exception(result)
