"""Several uvicorn worker processes on one listening socket, with ``TCP_NODELAY`` kept.

uvicorn binds the shared listener with ``proto`` 0; asyncio only enables ``TCP_NODELAY`` on
accepted sockets whose ``proto`` is ``IPPROTO_TCP``, so with ``--workers N`` every keep-alive
request waits about 40 ms for the client's delayed ACK (uvicorn issue #3149). ``NoDelayConfig``
re-wraps the listener with the right protocol before the workers inherit it.
"""

from __future__ import annotations

import contextlib
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

__all__ = ["NoDelayConfig", "run_workers"]


class NoDelayConfig(uvicorn.Config):
    """``uvicorn.Config`` whose bound TCP listener reports ``IPPROTO_TCP``."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto != 0:
            return sock
        fixed = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        fixed.set_inheritable(True)
        return fixed


def run_workers(config: NoDelayConfig) -> None:
    """Run ``config.workers`` processes serving ``config.app`` until interrupted."""
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[config.bind_socket()]).run()
