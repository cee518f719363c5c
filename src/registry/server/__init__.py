"""The registry server: the ``Store`` contract over HTTP (needs the ``lab-registry[server]`` extra).

``create_app(store, tokens=...)`` builds the ASGI app; ``serve(...)`` runs it on uvicorn. Both
load lazily, so ``registry.server.run`` can parse its options (and print ``--help``) without
FastAPI or uvicorn installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.server.app import create_app
    from registry.server.run import serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from registry.server.app import create_app

        return create_app
    if name == "serve":
        from registry.server.run import serve

        return serve
    raise AttributeError(f"module 'registry.server' has no attribute {name!r}")
