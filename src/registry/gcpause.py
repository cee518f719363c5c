"""Pausing Python's cyclic garbage collector around bulk work that makes many acyclic objects.

Registering a batch builds tens of thousands of drafts, records, dicts and tuples, and indexing
a large module a few hundred thousand syntax-tree nodes. None of them form reference cycles:
reference counting frees every one. While they are being made, though, the collector's
allocation thresholds keep starting full collections that traverse every live object of the
process, about a quarter of the time of a 10,000-entry batch. The pause is process-wide (the
collector has no per-thread switch) and nests: the collector comes back when the outermost pause
ends, if it was enabled before it. Imports nothing from ``registry``.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """Keep the cyclic collector off while the block runs (reference counting goes on)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
