"""The registry server: the ``Store`` contract over HTTP (needs the ``registry[server]`` extra).

``create_app(store, tokens=...)`` builds the ASGI app; ``serve(...)`` in ``server.run`` runs it
on uvicorn. FastAPI and uvicorn are imported only inside this package.
"""

from __future__ import annotations

from registry.server.app import create_app

__all__ = ["create_app"]
