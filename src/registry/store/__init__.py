"""Stores: where registries keep their records (memory, SQL, HTTP)."""

from __future__ import annotations

from registry.store.base import Store
from registry.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store"]
