"""``ChangeHub``: long-polls wake on this worker's writes at once, and on writes it was never
told about (another worker behind the same database) within a poll interval."""

from __future__ import annotations

import asyncio
import time

from registry.server.changes import ChangeHub
from registry.store.base import EntryDraft
from registry.store.memory import MemoryStore


def test_wakes_on_notify_and_on_silent_writes() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        store.ensure_namespace("lab.x", "function")
        hub = ChangeHub(store, poll_interval=0.02)
        await hub.start()
        try:
            token, generations = await hub.wait(None, 0)
            assert generations == {"lab.x": 0}

            # A write this worker made and announced.
            waiter = asyncio.ensure_future(hub.wait(token, 5))
            await asyncio.sleep(0.05)
            assert not waiter.done()
            store.register("lab.x", EntryDraft("f", "pkg.mod:f"))
            hub.notify()
            token, generations = await asyncio.wait_for(waiter, 1)
            assert generations == {"lab.x": 1}

            # A write nobody announced: found by the poll while someone waits.
            waiter = asyncio.ensure_future(hub.wait(token, 5))
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            store.unregister("lab.x", "f")
            token, generations = await asyncio.wait_for(waiter, 1)
            assert generations == {"lab.x": 2}
            assert time.perf_counter() - started < 0.5

            # A stale token answers at once; an unchanged one waits until the timeout.
            assert (await hub.wait("stale", 5))[1] == {"lab.x": 2}
            started = time.perf_counter()
            assert (await hub.wait(token, 0.1))[0] == token
            assert time.perf_counter() - started >= 0.09
        finally:
            await hub.stop()

    asyncio.run(scenario())


def test_no_waiters_means_no_store_reads() -> None:
    class CountingStore(MemoryStore):
        reads = 0

        def generations(self) -> dict[str, int]:
            CountingStore.reads += 1
            return super().generations()

    async def scenario() -> None:
        store = CountingStore()
        hub = ChangeHub(store, poll_interval=0.01)
        await hub.start()
        try:
            before = CountingStore.reads
            for _ in range(20):
                hub.notify()
            await asyncio.sleep(0.1)
            assert CountingStore.reads == before
        finally:
            await hub.stop()

    asyncio.run(scenario())


def test_a_write_announced_while_nobody_waits_reaches_the_next_waiter_at_once() -> None:
    # notify() does not wake the event loop when nobody waits; the next waiter refreshes the
    # hub's view before it waits, so it still hears of the write without waiting for a poll.
    async def scenario() -> None:
        store = MemoryStore()
        store.ensure_namespace("lab.x", "function")
        hub = ChangeHub(store, poll_interval=30)
        await hub.start()
        try:
            token, _ = await hub.wait(None, 0)
            store.register("lab.x", EntryDraft("f", "pkg.mod:f"))
            hub.notify()
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            _, generations = await asyncio.wait_for(hub.wait(token, 20), 5)
            assert generations == {"lab.x": 1}
            assert time.perf_counter() - started < 5
        finally:
            await hub.stop()

    asyncio.run(scenario())
