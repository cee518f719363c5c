"""Several worker processes: each listener keeps TCP_NODELAY (uvicorn issue #3149), and
connections are spread over the workers (each has its own SO_REUSEPORT listener on Linux)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.server.workers import NoDelayConfig, spreads_connections
from registry.store.http import HttpStore

from .conftest import child_env, free_port

pytestmark = pytest.mark.slow

LAUNCHER = (
    "import sys\n"
    "from registry.server.workers import NoDelayConfig, run_workers\n"
    "run_workers(NoDelayConfig('registry.server.run:app_from_environment', factory=True,"
    " workers=int(sys.argv[2]), host='127.0.0.1', port=int(sys.argv[1]), log_level='warning'))"
)


def test_bound_listener_reports_tcp() -> None:
    config = NoDelayConfig("registry.server.run:app_from_environment", host="127.0.0.1", port=0)
    sock = config.bind_socket()
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.get_inheritable()
    finally:
        sock.close()


def test_two_workers_answer_keep_alive_requests_without_delayed_ack() -> None:
    port = free_port()
    env = child_env({"REGISTRY_SERVER_CONFIG": json.dumps({"url": "memory://"})})
    process = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(port), "2"], env=env)
    client = HttpStore(f"http://127.0.0.1:{port}", timeout=5)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.health()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        samples = []
        for _ in range(30):
            started = time.perf_counter()
            client.health()
            samples.append(time.perf_counter() - started)
        # Without TCP_NODELAY each keep-alive request waits ~40 ms for a delayed ACK.
        assert statistics.median(samples) < 0.02
    finally:
        client.close()
        process.terminate()
        process.wait(15)


def test_a_server_process_freezes_what_startup_made(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Every worker builds its app this way; the collector's full passes then skip the startup
    # objects (see _build_app).
    probe = (
        "import gc, json, sys\n"
        "from registry.server.run import app_from_environment\n"
        "before = gc.get_freeze_count()\n"
        "app_from_environment()\n"
        "print(json.dumps([before, gc.get_freeze_count()]))"
    )
    url = f"sqlite:///{tmp_path / 'served.db'}"
    env = child_env({"REGISTRY_SERVER_CONFIG": json.dumps({"url": url})})
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout
    before, after = json.loads(out)
    assert before == 0
    assert after > 10_000  # modules, models and routes


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT balances connections on Linux"
)


@contextlib.contextmanager
def _workers(tmp_path: Path, count: int) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'served.db'}"
    env = child_env({"REGISTRY_SERVER_CONFIG": json.dumps({"url": url})})
    process = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(port), str(count)], env=env)
    try:
        deadline = time.monotonic() + 30
        while len(set(_serving_processes(port)) - {process.pid}) < count:  # every worker listens
            assert process.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the workers did not all start listening"
            time.sleep(0.1)
        yield process, port
    finally:
        process.terminate()
        process.wait(15)


def _socket_inodes(port: int, *, listening: bool) -> set[str]:
    """Inodes of the IPv4 TCP sockets on local ``port``: listeners, or accepted connections."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state, inode = int(fields[1].split(":")[1], 16), fields[3], fields[9]
        if local_port == port and (state == "0A") == listening:  # 0A: LISTEN
            found.add(inode)
    return found


def _holders(inodes: set[str]) -> dict[int, int]:
    """Which processes hold the sockets ``inodes``: pid -> how many."""
    held: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        held[int(entry.name)] = held.get(int(entry.name), 0) + 1
    return held


def _serving_processes(port: int) -> dict[int, int]:
    """Processes listening on ``port``: pid -> listeners held."""
    return _holders(_socket_inodes(port, listening=True))


def _ask(connection: socket.socket) -> None:
    connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert connection.recv(65536).startswith(b"HTTP/1.1 200")


@linux_only
def test_each_worker_listens_on_its_own_socket_and_a_burst_of_connections_is_spread(
    tmp_path: Path,
) -> None:
    assert spreads_connections(NoDelayConfig("x:app", host="127.0.0.1", port=1))
    with _workers(tmp_path, 4) as (process, port):
        listeners = _serving_processes(port)
        assert process.pid not in listeners  # the supervisor holds the port but gets nothing
        assert sorted(listeners.values()) == [1, 1, 1, 1]
        # Keep-alive clients that connect together, as a lab's jobs do at start: with one
        # shared listener the first worker to wake accepted nearly all of them.
        connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        try:
            for connection in connections:
                _ask(connection)
            serving = _holders(_socket_inodes(port, listening=False))
            assert sum(serving.values()) == 32
            assert set(serving) <= set(listeners)
            assert len(serving) >= 3, serving
        finally:
            for connection in connections:
                connection.close()


@linux_only
def test_a_killed_worker_takes_no_new_connections_and_is_replaced(tmp_path: Path) -> None:
    with _workers(tmp_path, 2) as (process, port):
        first = min(set(_serving_processes(port)) - {process.pid})
        listening = _socket_inodes(port, listening=True)
        its_listener = {inode for inode in listening if first in _holders({inode})}
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        # Wait for its listener to close, not for its file descriptors to vanish from /proc:
        # they vanish when the main thread exits, the socket closes when the last thread does,
        # and a connection queued on it meanwhile is reset.
        while its_listener & _socket_inodes(port, listening=True):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # The supervisor closed its copy of each worker's listener, so the dead worker's
        # closed with it: none of these lands where nobody accepts (and waits for a timeout).
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
                connection.settimeout(5)
                _ask(connection)
        deadline = time.monotonic() + 30
        while True:
            serving = _serving_processes(port)
            if len(serving.keys() - {process.pid}) == 2 and first not in serving:
                break
            assert time.monotonic() < deadline, f"no replacement worker: {serving}"
            time.sleep(0.2)
