"""The uvicorn settings of the registry server, and several worker processes on one port.

Connections are served by :func:`~registry.server.guard.guarded_protocol` (header deadline,
connection cap).

Several workers: on Linux each worker listens on a socket of its own, bound to the same port with
``SO_REUSEPORT``, and the kernel spreads new connections over them by address hash. With one
shared listener (uvicorn's way, kept elsewhere), the worker that wakes first accepts a whole
burst of connections (asyncio accepts up to the backlog per wake-up), so keep-alive clients that
connect together all land on one worker while the others idle. The supervisor holds the port with
a bound socket that does not listen (so it is given no connections) and closes its copy of each
worker's listener once the worker has it: a listener lives as long as its worker. Connections
still queued on a worker that dies or restarts are reset, as with nginx's ``reuseport``.

uvicorn binds the shared listener with ``proto`` 0; asyncio only enables ``TCP_NODELAY`` on
accepted sockets whose ``proto`` is ``IPPROTO_TCP``, so every keep-alive request would wait about
40 ms for the client's delayed ACK (uvicorn issue #3149). Both kinds of listener here are made
with ``IPPROTO_TCP``.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from registry.server.guard import DEFAULT_GUARD, GuardSettings, capacity, guarded_protocol

__all__ = [
    "GRACEFUL_SHUTDOWN",
    "KEEP_ALIVE",
    "NoDelayConfig",
    "reuse_port_socket",
    "run_workers",
    "spreads_connections",
    "uvicorn_config",
]

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
    supervisor: Multiprocess
    if spreads_connections(config):
        supervisor = _OwnListeners(config)
    else:
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    with contextlib.suppress(KeyboardInterrupt):
        supervisor.run()


def spreads_connections(config: uvicorn.Config) -> bool:
    """Whether each worker gets a listener of its own: TCP on a host and port, on Linux (where
    ``SO_REUSEPORT`` balances; on macOS and BSD the last socket bound would take every
    connection)."""
    return (
        sys.platform.startswith("linux")
        and hasattr(socket, "SO_REUSEPORT")
        and config.uds is None
        and config.fd is None
    )


def reuse_port_socket(family: socket.AddressFamily, address: Any) -> socket.socket:
    """A TCP socket bound to ``address`` with ``SO_REUSEPORT`` (not listening yet)."""
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _OwnListeners(Multiprocess):
    """uvicorn's supervisor (health checks, restarts, signals), starting each worker with a
    listener of its own (see the module docstring)."""

    def __init__(self, config: NoDelayConfig) -> None:
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        # Port 0 resolves here, once: every worker then binds the port the supervisor holds.
        self._port_holder = reuse_port_socket(family, (config.host, config.port))
        self._family = family
        self._address = self._port_holder.getsockname()
        self._handed: list[socket.socket] = []
        super().__init__(config, sockets=[])

    @property
    def sockets(self) -> list[socket.socket]:
        """A new listener: uvicorn reads this attribute once for each worker it starts."""
        self._close_handed()  # the worker started before this one has its copy by now
        listener = reuse_port_socket(self._family, self._address)
        self._handed.append(listener)
        return [listener]

    @sockets.setter
    def sockets(self, shared: list[socket.socket]) -> None:
        """Where uvicorn keeps the shared listeners; there are none."""

    def init_processes(self) -> None:
        super().init_processes()
        self._close_handed()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()  # replaces a dead worker
        self._close_handed()

    def handle_signals(self) -> None:
        super().handle_signals()  # SIGHUP replaces every worker
        self._close_handed()

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._close_handed()
            self._port_holder.close()

    def _close_handed(self) -> None:
        """Close the supervisor's copies of listeners its started workers inherited."""
        while self._handed:
            self._handed.pop().close()
