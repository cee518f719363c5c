"""Stores: where registries keep their records (memory, SQL, HTTP).

:func:`open_store` is the only code that picks a backend. SQLAlchemy, alembic and psycopg are
imported only when a SQL store needs them (a process that only looks artifacts up never loads
SQLAlchemy: see ``store/sql_lazy.py``), so ``import registry`` stays light.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from registry.store.base import Store
from registry.store.memory import MemoryStore

if TYPE_CHECKING:
    from registry.store.cached import CachedStore

__all__ = ["MemoryStore", "Store", "close_stores", "open_store"]

_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def open_store(url: str | None = None) -> Store:
    """Return this process's store for ``url`` (resolved by :mod:`registry.settings` if ``None``).

    ``memory://...`` gives a :class:`MemoryStore`; ``sqlite:///...`` and
    ``postgresql+psycopg://...`` give a :class:`~registry.store.cached.CachedStore` over a
    :class:`~registry.store.sql_lazy.LazySqlStore` (a ``SqlStore`` that loads SQLAlchemy on
    first need), ``http(s)://...`` one over an
    :class:`~registry.store.http.HttpStore`. Each URL is opened once per process.

    Raises:
        StoreError: the URL is unsupported or the database cannot be reached.
        SchemaVersionError: the database schema is behind or ahead of this package.
    """
    from registry.settings import resolve_url

    resolved = resolve_url(url)
    with _stores_lock:
        store = _stores.get(resolved)
        if store is None:
            store = _stores[resolved] = _create(resolved)
        return store


def _create(url: str) -> Store:
    if url.startswith("memory://"):
        return MemoryStore(url)
    if url.startswith(("http://", "https://")):
        from registry.store.cached import CachedStore
        from registry.store.http import HttpStore

        return CachedStore(HttpStore.from_url(url))
    return _sql_store(url)


def _sql_store(url: str) -> CachedStore:
    from registry.settings import is_default_url
    from registry.store.cached import CachedStore
    from registry.store.sql_lazy import LazySqlStore

    return CachedStore(LazySqlStore(url, auto_upgrade=is_default_url(url)))


def close_stores() -> None:
    """Close every store this process opened (tests; interpreter exit disposes engines anyway)."""
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()
