"""Catch-up answers shared between listeners (``server/change_sets.py``): in process against a
real in-memory store, then through a server process and ``HttpStore``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

from registry.errors import StoreError
from registry.server.change_sets import ChangeSets
from registry.store.base import ChangeSet, EntryDraft
from registry.store.http import HttpStore
from registry.store.memory import MemoryStore

from .conftest import WRITE_TOKEN, LiveServer, request


class GatedStore(MemoryStore):
    """Counts catch-up reads; a read holds its answer until ``gate`` opens."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.gate = threading.Event()
        self.fail_next = False

    def changes_since(self, namespace: str, generation: int) -> ChangeSet:
        self.reads += 1
        answer = super().changes_since(namespace, generation)
        self.gate.wait(5)
        if self.fail_next:
            self.fail_next = False
            raise StoreError("the database went away")
        return answer


def generation_of(body: bytes) -> int:
    return int(json.loads(body)["changes"]["generation"])


def store_with_one_entry() -> GatedStore:
    store = GatedStore()
    store.ensure_namespace("lab.x", "function")
    store.register("lab.x", EntryDraft("f", "pkg.mod:f"))
    return store


async def concurrently(sets: ChangeSets, store: GatedStore, *calls: Any) -> list[Any]:
    """Start ``calls`` (``(since, at_least)`` pairs), let each reach its wait, then open the gate."""
    tasks = [asyncio.ensure_future(sets.body("lab.x", *call)) for call in calls]
    await asyncio.sleep(0.1)
    store.gate.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_listeners_that_name_the_generation_they_know_share_one_read() -> None:
    async def scenario() -> None:
        store = store_with_one_entry()
        sets = ChangeSets(store)
        bodies = await concurrently(sets, store, *[(0, 1)] * 20)
        assert store.reads == 1
        assert len(set(bodies)) == 1 and generation_of(bodies[0]) == 1
        # Later listeners that know no more than that are answered without a read.
        assert await sets.body("lab.x", 0, 1) == bodies[0]
        assert store.reads == 1

    asyncio.run(scenario())


def test_without_a_known_generation_every_request_reads_afresh() -> None:
    async def scenario() -> None:
        store = store_with_one_entry()
        sets = ChangeSets(store)
        await concurrently(sets, store, *[(0, None)] * 5)
        assert store.reads == 5
        await sets.body("lab.x", 0, None)
        assert store.reads == 6

    asyncio.run(scenario())


def test_an_answer_that_does_not_reach_what_the_listener_knows_is_read_again() -> None:
    async def scenario() -> None:
        store = store_with_one_entry()
        sets = ChangeSets(store)
        first = asyncio.ensure_future(sets.body("lab.x", 0, 1))
        await asyncio.sleep(0.1)  # its read holds an answer at generation 1
        store.register("lab.x", EntryDraft("g", "pkg.mod:g"))  # generation 2
        second = asyncio.ensure_future(sets.body("lab.x", 0, 2))
        await asyncio.sleep(0.1)  # waiting for the first read
        store.gate.set()
        assert generation_of(await first) == 1
        assert generation_of(await second) == 2
        assert store.reads == 2
        # The kept answer is now the newer one, and older knowledge is served from it.
        assert generation_of(await sets.body("lab.x", 0, 1)) == 2
        assert store.reads == 2

    asyncio.run(scenario())


def test_a_failed_read_fails_only_its_own_request() -> None:
    async def scenario() -> None:
        store = store_with_one_entry()
        store.fail_next = True
        sets = ChangeSets(store)
        failed, answered = await concurrently(sets, store, (0, 1), (0, 1))
        assert isinstance(failed, StoreError)
        assert generation_of(answered) == 1
        assert store.reads == 2

    asyncio.run(scenario())


def test_the_server_shares_answers_only_as_far_as_a_listener_knows(
    open_server: LiveServer, namespace: str
) -> None:
    def changes(query: str) -> dict[str, Any]:
        status, body = request(open_server, "GET", f"/namespaces/{namespace}/changes?{query}")
        assert status == 200, body
        return body["changes"]  # type: ignore[no-any-return]

    def register(identifier: str) -> None:
        draft = {"identifier": identifier, "origin": f"pkg.mod:{identifier}"}
        status, body = request(open_server, "POST", f"/namespaces/{namespace}/entries", draft)
        assert status == 200, body

    request(open_server, "PUT", f"/namespaces/{namespace}", {"kind": "function"})
    register("f")  # generation 1
    kept = changes("since=0&at_least=1")
    assert kept["generation"] == 1
    register("g")  # generation 2
    assert changes("since=0&at_least=1") == kept  # shared: it reaches what the asker knows
    fresh = changes("since=0&at_least=2")
    assert fresh["generation"] == 2
    assert sorted(r["identifier"] for r in fresh["added"]) == ["f", "g"]
    assert changes("since=0")["generation"] == 2  # without at_least: read afresh
    status, _ = request(open_server, "GET", f"/namespaces/{namespace}/changes?since=0&at_least=-1")
    assert status == 422


@contextlib.contextmanager
def held_listener(server: LiveServer, namespace: str) -> Iterator[tuple[HttpStore, HttpStore, int]]:
    """A writer, and a listener whose long-poll watcher is held as soon as it announced the
    writer's second registration (generation H, yielded): it hears of nothing later."""
    writer = HttpStore(server.url, token=WRITE_TOKEN, timeout=5)
    listener = HttpStore(server.url, token=WRITE_TOKEN, timeout=5)
    writer.ensure_namespace(namespace, "function")
    writer.register(namespace, EntryDraft("f", "pkg.mod:f"))
    holding = threading.Event()
    release = threading.Event()

    def on_change(names: frozenset[str] | None) -> None:
        holding.set()
        release.wait(10)  # the watcher thread waits here

    try:
        listener.watch(on_change)
        announced = writer.register(namespace, EntryDraft("g", "pkg.mod:g")).generation
        assert holding.wait(10)
        yield writer, listener, announced
    finally:
        release.set()
        listener.close()
        writer.close()


def test_an_http_store_catches_up_with_what_its_long_poll_announced(
    server: LiveServer, namespace: str
) -> None:
    with held_listener(server, namespace) as (writer, listener, announced):
        # The server keeps an answer reaching `announced`; then the namespace moves on.
        assert listener.changes_since(namespace, 0).generation == announced
        writer.register(namespace, EntryDraft("h", "pkg.mod:h"))
        # The listener knows `announced` only, and says so: the kept answer is enough for it.
        assert listener.changes_since(namespace, 0).generation == announced
        # A client without a long-poll reads afresh.
        assert writer.changes_since(namespace, 0).generation == announced + 1


def test_an_http_store_sees_its_own_writes_past_a_shared_answer(
    server: LiveServer, namespace: str
) -> None:
    """The long-poll may not have announced this client's own write yet: its next catch-up
    reads afresh instead of taking a kept answer that predates the write."""
    with held_listener(server, namespace) as (_, listener, announced):
        # Another listener's catch-up leaves an answer reaching `announced` on the server.
        path = f"/namespaces/{namespace}/changes?since=0&at_least={announced}"
        assert request(server, "GET", path, token=WRITE_TOKEN)[0] == 200
        own = listener.register(namespace, EntryDraft("h", "pkg.mod:h")).generation
        assert listener.changes_since(namespace, 0).generation == own
        listener.clear(namespace)
        after_clear = listener.changes_since(namespace, 0)
        assert after_clear.cleared and after_clear.generation > own
