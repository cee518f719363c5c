"""``ChangeHub``: long-polls wake on this worker's writes at once, and on writes it was never
told about (another worker behind the same database) within a poll interval. ``RecentChanges``:
listeners asking for the same change set share one read of it."""

from __future__ import annotations

import asyncio
import json
import time

from registry.server.changes import ChangeHub, RecentChanges
from registry.store.base import ChangeSet, EntryDraft
from registry.store.memory import MemoryStore
from registry.store.sql import SqlStore
from registry.store.wire import changes_to_json


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


class CountingStore(SqlStore):
    """A real SQLite store that counts the change sets it reads from the database."""

    reads = 0

    def changes_since(self, namespace: str, generation: int) -> ChangeSet:
        self.reads += 1
        return super().changes_since(namespace, generation)


def test_listeners_asking_for_the_same_changes_share_one_read(sqlite_url: str) -> None:
    store = CountingStore(sqlite_url)
    store.ensure_namespace("lab.fan", "function")

    async def scenario() -> None:
        hub = ChangeHub(store, poll_interval=0.02)
        recent = RecentChanges(store, hub)
        await hub.start()
        try:
            token, _ = await hub.wait(None, 0)
            store.register("lab.fan", EntryDraft("f", "pkg.mod:f"))
            hub.notify()
            token, generations = await hub.wait(token, 1)
            assert generations == {"lab.fan": 1}

            answers = {recent.json("lab.fan", 0) for _ in range(32)}  # 32 listeners at 0
            assert store.reads == 1 and len(answers) == 1
            fresh = {"changes": changes_to_json(store.changes_since("lab.fan", 0))}
            assert json.loads(answers.pop()) == fresh

            # A newer write: once the hub holds its generation, the answer is read afresh.
            store.register("lab.fan", EntryDraft("g", "pkg.mod:g"))
            hub.notify()
            await hub.wait(token, 1)
            changes = json.loads(recent.json("lab.fan", 0))["changes"]
            assert changes["generation"] == 2
            assert {entry["identifier"] for entry in changes["added"]} == {"f", "g"}
        finally:
            await hub.stop()

    try:
        asyncio.run(scenario())
    finally:
        store.close()
