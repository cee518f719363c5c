"""The uvicorn settings of the registry server, and several workers on one listening socket.

Connections are served by :func:`~registry.server.guard.guarded_protocol` (header deadline,
connection cap). uvicorn binds the shared listener with ``proto`` 0; asyncio only enables
``TCP_NODELAY`` on accepted sockets whose ``proto`` is ``IPPROTO_TCP``, so with ``--workers N``
every keep-alive request waits about 40 ms for the client's delayed ACK (uvicorn issue #3149).
``NoDelayConfig`` re-wraps the listener with the right protocol before the workers inherit it.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from registry.server.guard import DEFAULT_GUARD, GuardSettings, capacity, guarded_protocol

__all__ = ["GRACEFUL_SHUTDOWN", "KEEP_ALIVE", "NoDelayConfig", "run_workers", "uvicorn_config"]

#: Keep-alive beyond uvicorn's 5 s default, so pooled client connections stay open between
#: bursts of registry calls.
KEEP_ALIVE = 60
#: Seconds a stopping server waits for requests in flight; change long-polls would otherwise
#: hold it up to their full timeout. Clients reconnect and resync on their own.
GRACEFUL_SHUTDOWN = 2


class NoDelayConfig(uvicorn.Config):
    """``uvicorn.Config`` whose bound TCP listener reports ``IPPROTO_TCP``, carrying the
    connection guards' settings to the protocol (and to worker processes)."""

    registry_guard: GuardSettings = DEFAULT_GUARD

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto != 0:
            return sock
        fixed = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        fixed.set_inheritable(True)
        return fixed


def uvicorn_config(app: Any, guard: GuardSettings = DEFAULT_GUARD, **options: Any) -> NoDelayConfig:
    """Return the uvicorn settings of the registry server for ``app`` (object or import path)."""
    config = NoDelayConfig(
        app,
        http=guarded_protocol(),
        backlog=capacity(guard)[1],
        timeout_keep_alive=KEEP_ALIVE,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        server_header=False,
        **options,
    )
    config.registry_guard = guard
    return config


def run_workers(config: NoDelayConfig) -> None:
    """Run ``config.workers`` processes serving ``config.app`` until interrupted."""
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[config.bind_socket()]).run()
