"""Stores: where registries keep their records. ``open_store`` is the one place that picks a
backend for a URL."""

from __future__ import annotations

import threading

from registry.errors import StoreError
from registry.store.base import Store
from registry.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store", "open_store"]

_STORES: dict[str, Store] = {}
_LOCK = threading.Lock()


def open_store(url: str | None = None) -> Store:
    """Return the process-wide store for ``url`` (persistent backends arrive with issue 3)."""
    resolved = url or "memory://"
    with _LOCK:
        store = _STORES.get(resolved)
        if store is None:
            if resolved.startswith(("http://", "https://")):
                from registry.store.http import HttpStore

                store = _STORES[resolved] = HttpStore.from_url(resolved)
                return store
            if not resolved.startswith("memory://"):
                raise StoreError(f"Unsupported store URL {resolved!r}", context={"url": resolved})
            store = _STORES[resolved] = MemoryStore(resolved)
        return store
