"""Connection guards of the registry server: a request-header deadline, a connection cap, the
open-file limit, and log lines that cannot flood the disk.

uvicorn closes idle keep-alive connections, but a client that sends its request headers one byte
at a time, or never finishes them, holds a connection (and a file descriptor) for as long as it
likes; tens of thousands of those exhaust the descriptors, and every failed ``accept()`` logs a
line. :func:`guarded_protocol` (uvicorn's HTTP/1.1 protocol plus the guards) gives each request's
headers :attr:`GuardSettings.header_timeout` seconds from its first byte, and caps connections at
:attr:`GuardSettings.max_connections`: at the cap, the connection idle the longest (waiting for
headers, or kept alive between requests) is closed to make room, so an attacker's half-open
connections cannot lock out real clients; with no idle connection left, the newcomer gets 503.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import resource
import threading
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from registry.server.middleware import error_body

__all__ = [
    "DEFAULT_GUARD",
    "GuardSettings",
    "GuardedH11Protocol",
    "RepeatFilter",
    "capacity",
    "guarded_protocol",
    "install_repeat_filter",
    "raise_open_file_limit",
]

_log = logging.getLogger("registry.server")


@dataclass(frozen=True)
class GuardSettings:
    """Limits on connections, set by ``registry serve`` options."""

    max_connections: int = 1024
    """Open connections per worker process (clamped below the open-file limit)."""
    header_timeout: float = 10.0
    """Seconds a request's headers may take, from their first byte."""


DEFAULT_GUARD = GuardSettings()

#: Descriptors kept free for the database, log files and the listening socket.
_RESERVED_FILES = 64

_REFUSAL = json.dumps(
    error_body("StoreError", "The registry server has too many open connections; retry shortly")
).encode()
_REFUSAL_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"connection: close\r\nretry-after: 1\r\ncontent-length: "
    + str(len(_REFUSAL)).encode()
    + b"\r\n\r\n"
    + _REFUSAL
)


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def capacity(settings: GuardSettings) -> tuple[int, int]:
    """Return (connection cap, listen backlog) that fit the open-file limit.

    asyncio accepts up to ``backlog`` connections in one go before any of them reaches the
    protocol that enforces the cap, and refused ones hold their descriptor until the next loop
    turn: the cap leaves room for two backlogs, so ``accept()`` never fails with "too many open
    files" (which makes asyncio log and reschedule in a loop).
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return settings.max_connections, 2048
    available = max(soft - _RESERVED_FILES, 3)
    backlog = min(max(available // 8, 1), 2048)
    return max(1, min(settings.max_connections, available - 2 * backlog)), backlog


class _Guard:
    """The request-header deadline and the connection cap, for either of uvicorn's HTTP/1.1
    protocols (they share the attributes used here: ``config``, ``connections``, ``cycle``,
    ``transport``, ``loop``)."""

    config: Any
    connections: set[Any]
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = getattr(self.config, "registry_guard", DEFAULT_GUARD)
        self._header_timeout = settings.header_timeout
        self._cap = capacity(settings)[0]
        self._header_timer: asyncio.TimerHandle | None = None
        self._refused = False
        #: When this connection last became idle (opened, or finished a response).
        self.idle_since = time.monotonic()

    # -- connection cap ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self.connections) >= self._cap and not self._evict_idlest():
            assert isinstance(transport, asyncio.Transport)
            self._refused = True
            self.transport = transport
            _log.warning("Refused a connection: %d connections are open", len(self.connections))
            transport.write(_REFUSAL_RESPONSE)
            transport.close()
            return
        super().connection_made(transport)  # type: ignore[misc]
        self._await_headers()

    def _evict_idlest(self) -> bool:
        idle = [c for c in self.connections if isinstance(c, _Guard) and c.is_idle]
        if not idle:
            return False
        victim = min(idle, key=lambda connection: connection.idle_since)
        _log.warning("Closed the connection idle the longest to make room for a new one")
        victim.drop()
        return True

    @property
    def is_idle(self) -> bool:
        """Whether no request is being served (waiting for headers, or kept alive)."""
        return self.cycle is None or bool(self.cycle.response_complete)

    def drop(self) -> None:
        """Close the connection now and stop counting it."""
        self.connections.discard(self)
        self._cancel_header_timer()
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        if self._refused:
            return
        super().connection_lost(exc)  # type: ignore[misc]

    # -- request header deadline ---------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.is_idle:
            self._await_headers()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        self.idle_since = time.monotonic()
        super().on_response_complete()  # type: ignore[misc]

    def _await_headers(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self._header_timeout, self._headers_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            _log.warning(
                "Closed a connection whose request headers took over %g s", self._header_timeout
            )
            self.drop()


class GuardedH11Protocol(_Guard, H11Protocol):
    """uvicorn's h11 (pure Python) protocol with the guards."""

    def handle_events(self) -> None:
        awaited = self.cycle
        super().handle_events()
        if self._header_timer is not None and self.cycle is not awaited:
            self._cancel_header_timer()  # a new request cycle started: its headers are complete


def _httptools_protocol() -> Any:
    """uvicorn's C-parser protocol when httptools is installed (``uvicorn[standard]``)."""
    try:
        module = importlib.import_module("uvicorn.protocols.http.httptools_impl")
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return module.HttpToolsProtocol


_HttpTools = _httptools_protocol()
GuardedHttpToolsProtocol: type[asyncio.Protocol] | None = None
if _HttpTools is not None:

    class _GuardedHttpTools(_Guard, _HttpTools):  # type: ignore[misc, valid-type]
        """uvicorn's httptools protocol with the guards."""

        def on_headers_complete(self) -> None:
            self._cancel_header_timer()
            super().on_headers_complete()

    GuardedHttpToolsProtocol = _GuardedHttpTools


def guarded_protocol() -> type[asyncio.Protocol]:
    """The guarded protocol uvicorn's ``auto`` would pick: httptools (a C parser, about 40%
    more requests per second here) when it is installed, else h11."""
    return GuardedHttpToolsProtocol or GuardedH11Protocol


class RepeatFilter(logging.Filter):
    """Lets a log message through once per ``window`` seconds per (logger, message template);
    the next one that passes says how many were held back.

    An attack (or a full disk) can make the same line repeat thousands of times a second; this
    keeps the log readable and its size bounded.
    """

    def __init__(self, window: float = 10.0) -> None:
        super().__init__()
        self.window = window
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        # The template's first line: counts and addresses vary, asyncio appends object reprs.
        key = (record.name, str(record.msg).split("\n", 1)[0])
        now = time.monotonic()
        with self._lock:
            last, held = self._seen.get(key, (-self.window, 0))
            if now - last < self.window:
                self._seen[key] = (last, held + 1)
                return False
            if len(self._seen) > 1000:  # bounded memory, whatever the messages
                self._seen.clear()
            self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [{held} similar messages held back in {self.window:g} s]"
        return True


#: Not ``uvicorn.access``: one line per request is what an access log is for.
_FILTERED_LOGGERS = ("uvicorn.error", "asyncio", "registry.server")


def install_repeat_filter(window: float = 10.0) -> RepeatFilter:
    """Add one :class:`RepeatFilter` to the server's loggers and their handlers."""
    shared = RepeatFilter(window)
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(shared)
    return shared
