"""Stores: where registries keep their records (memory, SQL, HTTP).

:func:`open_store` is the only code that picks a backend. SQLAlchemy, alembic and psycopg are
imported only when a SQL store needs them (a process that only looks artifacts up never loads
SQLAlchemy: see ``store/sql_lazy.py``), so ``import registry`` stays light.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from registry.errors import StoreError
from registry.store.base import Store
from registry.store.memory import MemoryStore

if TYPE_CHECKING:
    from registry.store.cached import CachedStore

__all__ = [
    "MemoryStore",
    "Store",
    "close_stores",
    "open_existing_store",
    "open_store",
    "resolve_store_url",
]

_NOT_SQL = ("memory://", "http://", "https://")

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
    resolved = resolve_store_url(url)
    with _stores_lock:
        store = _stores.get(resolved)
        if store is None:
            store = _stores[resolved] = _create(resolved)
        return store


def open_existing_store(url: str | None = None) -> Store:
    """Like :func:`open_store`, but never create a store: for commands that only read.

    Raises:
        StoreError: no SQLite file at that path, or a database without the registry schema.
    """
    resolved = resolve_store_url(url)
    with _stores_lock:
        if resolved in _stores:
            return _stores[resolved]
    if not resolved.startswith(_NOT_SQL):
        _require_schema(resolved)
    return open_store(resolved)


def resolve_store_url(url: str | None) -> str:
    """Return the store URL ``open_store(url)`` would open, PostgreSQL spelled for psycopg 3.

    Raises:
        StoreError: the URL names another PostgreSQL driver.
    """
    from registry.settings import resolve_url

    resolved = resolve_url(url)
    if resolved.startswith(_NOT_SQL):
        return resolved
    from registry.store.sql_direct import canonical_url  # no SQLAlchemy: see sql_lazy.py

    return canonical_url(resolved)


def _require_schema(url: str) -> None:
    from registry.settings import is_default_url
    from registry.store.engines import safe_url, sqlite_file_exists, sqlite_path
    from registry.store.migrate import has_schema

    path = sqlite_path(url)
    exists = sqlite_file_exists(path) if path is not None else True
    if exists and has_schema(url):
        return
    where = str(path) if path is not None else safe_url(url)
    suggestions = [
        "Create it by registering into a registry declared with logic_namespace=... "
        "(or `registry import FILE`, or `registry db upgrade`)",
    ]
    if is_default_url(url):
        suggestions.insert(0, "Nothing has been registered on this machine yet")
    else:
        suggestions.insert(0, "Check the URL (--url, REGISTRY_URL) for a typo")
    raise StoreError(
        f"There is no registry store at {where}",
        suggestions=suggestions,
        context={"url": safe_url(url)},
    )


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
