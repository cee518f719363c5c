"""Entry-point plugins: packages contribute artifacts through the ``registry`` group.

Each entry point names a module (imported) or a callable (imported and called with no
arguments) that registers artifacts. They are loaded once per process, on the first lookup
that misses; never at import and never on a hit.
"""

from __future__ import annotations

import threading
import types
import warnings

__all__ = ["GROUP", "load_once"]

GROUP = "registry"
_lock = threading.Lock()
_loaded = False


def load_once() -> bool:
    """Load every plugin the first time it is called; return whether this call loaded them.

    A plugin that fails to load produces a ``RuntimeWarning`` and does not stop the others.
    """
    global _loaded
    with _lock:
        if _loaded:
            return False
        _loaded = True
    import importlib.metadata

    for entry_point in importlib.metadata.entry_points(group=GROUP):
        try:
            loaded = entry_point.load()
            if callable(loaded) and not isinstance(loaded, types.ModuleType):
                loaded()
        except Exception as exc:  # a broken plugin must not break lookups in the others
            warnings.warn(
                f"registry plugin {entry_point.name!r} ({entry_point.value}) failed to load: "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=4,
            )
    return True
