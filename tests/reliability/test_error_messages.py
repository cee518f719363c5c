"""Errors say the right thing (issue 14, item 7), against real databases and a real server.

Before: on PostgreSQL "column entries.doc does not exist" was reported as "Cannot reach the
store ... check that the server is running", and an HTTP registration over the 8 MB body limit
raised "StoreError: Cannot connect ... Connection reset by peer" instead of the documented 413.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from registry import FunctionalRegistry, StoreError, ValidationError
from registry.store.cached import CachedStore
from registry.store.engines import dispose_engine, get_engine
from registry.store.http import HttpStore
from registry.store.sql import SqlStore
from tests.server.conftest import LiveServer

pytestmark = pytest.mark.slow


def test_a_missing_column_is_a_schema_problem_not_an_outage(url: str) -> None:
    store = SqlStore(url)
    store.ensure_namespace("lab.x", "function")
    with get_engine(url).begin() as conn:
        conn.execute(text("ALTER TABLE entries DROP COLUMN doc"))
    dispose_engine(url)
    with pytest.raises(StoreError) as caught:
        SqlStore(url).list_entries("lab.x")
    error = caught.value
    assert "does not have the schema this package expects" in error.message
    assert "doc" in error.message
    assert "Cannot reach" not in error.message
    assert any("registry db check" in hint for hint in error.suggestions)
    assert not any("server is running" in hint for hint in error.suggestions)


def test_an_unreachable_database_still_says_so() -> None:
    url = "postgresql+psycopg://registry:registry@127.0.0.1:1/none"
    with pytest.raises(StoreError, match="Cannot reach the store"):
        SqlStore(url)


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("limits")
    live = LiveServer(
        f"sqlite:///{folder / 'store.db'}",
        None,
        ["--max-body-bytes", "1000000", "--body-timeout", "2"],
    )
    live.start()
    yield live
    live.stop()


def test_a_registration_over_the_body_limit_is_a_413_validation_error(
    small_server: LiveServer,
) -> None:
    store = CachedStore(HttpStore(small_server.url))

    class Big(FunctionalRegistry, logic_namespace="lab.big", url=small_server.url):
        pass

    ballast = b"x" * 9_000_000  # captured by the closure: ~12 MB of base64, over the buffers

    with pytest.raises(ValidationError) as caught:
        Big.register_artifact("heavy", lambda: ballast)
    assert type(caught.value) is ValidationError  # the server's 413, not a StoreError
    assert "exceeds the server limit of 1000000 bytes" in caught.value.message
    assert store.get_entry("lab.big", "heavy") is None
    store.close()
    Big._store.close()  # its watcher would poll the server after the module stops it


def test_far_over_the_limit_the_error_still_names_the_size(small_server: LiveServer) -> None:
    """Past the size the server drains, the 413 is lost in a reset; the message still says
    what most likely happened."""
    store = HttpStore(small_server.url)
    store.ensure_namespace("lab.huge", "function")
    with pytest.raises(StoreError) as caught:
        store._call("POST", "/namespaces/lab.huge/entries", {"padding": "x" * 40_000_000})
    message = caught.value.message
    assert ("over the server's body limit" in message) or ("exceeds the server limit" in message)
    store.close()


def test_a_slow_body_gets_408(small_server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", small_server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /namespaces/lab.x/entries HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 408"), answer
