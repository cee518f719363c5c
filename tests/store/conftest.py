"""Fixtures for the store tests: every backend of the ``Store`` contract."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.store.base import Store


@pytest.fixture(scope="session")
def http_server_url() -> Iterator[str]:
    """A registry server process over a memory store, for the HTTP backends of the contract."""
    from tests.server.conftest import LiveServer

    live = LiveServer("memory://", None, [])
    live.start()
    yield live.url
    live.stop()


@pytest.fixture(params=["memory", "sqlite", "cached-sqlite", "postgres", "http", "cached-http"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every backend the ``Store`` contract must hold for."""
    from registry.store.memory import MemoryStore

    kind = request.param
    if kind == "memory":
        yield MemoryStore()
        return
    if kind in ("http", "cached-http"):
        from registry.store.cached import CachedStore
        from registry.store.http import HttpStore

        client = HttpStore(request.getfixturevalue("http_server_url"))
        yield CachedStore(client) if kind == "cached-http" else client
        client.close()
        return
    from registry.store.cached import CachedStore
    from registry.store.engines import dispose_engine
    from registry.store.sql import SqlStore

    if kind == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'contract.db'}"
    backend: Store = SqlStore(url)
    if kind == "cached-sqlite":
        backend = CachedStore(backend)
    yield backend
    backend.close()
    if kind != "postgres":
        dispose_engine(url)


@pytest.fixture
def namespace() -> str:
    """A namespace name no other test uses (PostgreSQL databases are shared per module)."""
    return f"lab.ns_{uuid.uuid4().hex[:8]}"
