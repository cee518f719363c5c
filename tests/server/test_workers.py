"""Several worker processes: the shared listener keeps TCP_NODELAY (uvicorn issue #3149)."""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time

import pytest

from registry.server.workers import NoDelayConfig
from registry.store.http import HttpStore

from .conftest import child_env, free_port

pytestmark = pytest.mark.slow


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
    launcher = (
        "import sys\n"
        "from registry.server.workers import NoDelayConfig, run_workers\n"
        "run_workers(NoDelayConfig('registry.server.run:app_from_environment', factory=True,"
        " workers=2, host='127.0.0.1', port=int(sys.argv[1]), log_level='warning'))"
    )
    env = child_env({"REGISTRY_SERVER_CONFIG": json.dumps({"url": "memory://"})})
    process = subprocess.Popen([sys.executable, "-c", launcher, str(port)], env=env)
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
