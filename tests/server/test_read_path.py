"""The server's entry read: answered from memory when it can, never blocking the event loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from registry.store.base import EntryDraft
from registry.store.sql import SqlStore
from tests.server.conftest import LiveServer, request


@pytest.fixture
def pg_server(pg_url: str) -> Iterator[LiveServer]:
    store = SqlStore(pg_url)
    store.ensure_namespace("lab.read", "function")
    store.register("lab.read", EntryDraft("known", "lab.mod:known"))
    store.close()
    live = LiveServer(pg_url, None, [])
    live.start()
    yield live
    live.stop()


def test_a_blocked_database_read_does_not_block_other_requests(
    pg_server: LiveServer, pg_url: str
) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    status, body = request(pg_server, "GET", "/namespaces/lab.read/entries/known")
    assert status == 200 and body["entry"]["origin"] == "lab.mod:known"
    conninfo = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as locker:
        # Until this transaction ends, any read of the table waits.
        locker.execute("LOCK TABLE heads IN ACCESS EXCLUSIVE MODE")
        answers: list[tuple[int, dict[str, object]]] = []
        blocked = threading.Thread(
            target=lambda: answers.append(
                request(pg_server, "GET", "/namespaces/lab.read/entries/unknown")
            )
        )
        blocked.start()
        time.sleep(0.3)
        assert blocked.is_alive() and not answers  # waiting on the lock, in a worker thread
        # The event loop still serves: a cached entry and the health probe answer at once.
        assert request(pg_server, "GET", "/namespaces/lab.read/entries/known")[0] == 200
        assert request(pg_server, "GET", "/health")[0] == 200
        assert blocked.is_alive()
    blocked.join(10)
    assert answers == [(200, {"entry": None})]
