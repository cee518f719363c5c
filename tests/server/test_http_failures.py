"""Every network failure ``HttpStore`` maps becomes a ``StoreError`` naming the address; a
keep-alive connection the server dropped while idle is retried once, transparently."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from registry.errors import StoreError
from registry.store.http import HttpStore

GENERATIONS = b'{"generations":{"a":1}}'
GOOD_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(GENERATIONS)}\r\n\r\n".encode()
    + GENERATIONS
)


def _serve(behaviour: Callable[[socket.socket], None]) -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                behaviour(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(2)
    listener.close()


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def close_at_once(conn: socket.socket) -> None:
    _read_request(conn)


def garbage(conn: socket.socket) -> None:
    _read_request(conn)
    conn.sendall(b"this is not HTTP\r\n\r\n")


def truncated(conn: socket.socket) -> None:
    _read_request(conn)
    conn.sendall(GOOD_ANSWER[:-5])


def one_answer_then_close(conn: socket.socket) -> None:
    # Answers as if keeping the connection alive, then drops it: a stale pooled connection.
    _read_request(conn)
    conn.sendall(GOOD_ANSWER)


@pytest.mark.parametrize("behaviour", [close_at_once, garbage, truncated])
def test_broken_servers_give_store_errors(behaviour) -> None:
    for address in _serve(behaviour):
        client = HttpStore(address, timeout=2)
        with pytest.raises(StoreError, match=address.replace(".", r"\.")):
            client.generations()
        client.close()


def test_stale_keep_alive_connection_is_retried_once() -> None:
    for address in _serve(one_answer_then_close):
        client = HttpStore(address, timeout=2)
        assert client.generations() == {"a": 1}
        assert client.generations() == {"a": 1}  # the pooled connection was closed meanwhile
        assert client.generations() == {"a": 1}
        client.close()
