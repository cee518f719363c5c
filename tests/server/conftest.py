"""Fixtures for server tests: a real ``python -m registry`` process on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WRITE_TOKEN = "write-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"
#: The tokens of the servers that check them: one that writes, one that only reads.
TOKENS = {WRITE_TOKEN: "write", READ_TOKEN: "read"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes: this checkout's sources first on the path."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    for name in ("REGISTRY_TOKEN", "REGISTRY_URL", "REGISTRY_SERVER_TOKENS"):
        if extra is None or name not in extra:
            env.pop(name, None)
    return env


class LiveServer:
    """A registry server in a subprocess; ``restart()`` keeps its port and store URL."""

    def __init__(
        self,
        store_url: str,
        tokens: dict[str, str] | None,
        args: list[str],
        tls: bool = False,
        log: Path | None = None,
        prefix: list[str] | None = None,
    ) -> None:
        self.store_url = store_url
        self.log = log
        self.prefix = prefix or []
        self.tokens = tokens
        self.args = args
        self.tls = tls
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        extra = {}
        if self.tokens:
            extra["REGISTRY_SERVER_TOKENS"] = ",".join(f"{t}:{s}" for t, s in self.tokens.items())
        command = [sys.executable, "-m", "registry.server.run", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--url", self.store_url, "--log-level", "warning"]
        output = None if self.log is None else self.log.open("ab")
        self.process = subprocess.Popen(
            self.prefix + command + self.args, env=child_env(extra), stdout=output, stderr=output
        )
        if output is not None:
            output.close()  # the child holds its own descriptor
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if self.tls:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                status, body = request(self, "GET", "/health")
                if status == 200 and body.get("status") == "healthy":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become healthy within 20 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def request(
    server: LiveServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One raw HTTP request; returns the status and the decoded JSON body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        payload = raw
        if body is not None:
            payload = json.dumps(body).encode()
        if payload is not None:
            sent.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})
    finally:
        conn.close()


def raw_request(
    server: LiveServer,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request sent as given; returns the status, the headers (lower-cased names,
    without ``date`` and ``server``, which change between answers) and the raw body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        kept = {
            k.lower(): v for k, v in response.getheaders() if k.lower() not in ("date", "server")
        }
        return response.status, kept, answer
    finally:
        conn.close()


def sqlite_live_server(folder: Path) -> LiveServer:
    """A server (not started yet) over a new SQLite file in ``folder``, with :data:`TOKENS`."""
    return LiveServer(f"sqlite:///{folder / 'server.db'}", TOKENS, [])


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    """A memory-backed server with a read-write and a read-only token."""
    live = LiveServer("memory://", TOKENS, [])
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="session")
def open_server() -> Iterator[LiveServer]:
    """A memory-backed server without tokens (loopback development mode)."""
    live = LiveServer("memory://", None, ["--max-body-bytes", "65536"])
    live.start()
    yield live
    live.stop()


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    """A namespace name unique to the test, so tests can share a session server."""
    return "test." + re.sub(r"[^A-Za-z0-9_.\-]", "-", request.node.name)[:120]
