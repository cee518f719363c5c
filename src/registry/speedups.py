"""Which implementation serves the two hottest operations: the optional C extension or Python.

``registry._speedups`` is built from ``src/registry/_speedups.c`` when the package is installed
on a machine with a C compiler and Python's headers; where it is missing (no compiler, another
interpreter), or ``REGISTRY_NO_SPEEDUPS`` is set, the pure-Python code beside each use runs
instead. Each C version does exactly what its Python version does, only faster, and
tests/test_speedups.py runs both:

- :data:`Getter` serves ``Registry.get_artifact``'s hits (``registries.py``);
- :data:`Records` holds the provenance records of built objects (``factorize/records.py``).

Imports only ``settings``; the choice is made once, at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from registry import settings

if TYPE_CHECKING:
    from registry import _speedups

__all__ = ["ACTIVE", "DESCRIPTION", "REASON", "Getter", "Records"]

Getter: type[_speedups.Getter] | None = None
Records: type[_speedups.Records] | None = None

if not settings.speedups_wanted():
    REASON = f"switched off by {settings.NO_SPEEDUPS_ENV}"
else:
    try:
        from registry import _speedups
    except ImportError as exc:
        REASON = f"not built ({exc}); reinstall with a C compiler and Python's headers present"
    else:
        Getter = _speedups.Getter
        Records = _speedups.Records
        REASON = "the C extension registry._speedups"

#: Whether the C versions serve the hot paths in this process.
ACTIVE = Getter is not None
#: What serves them, in words (``registry doctor``, the benchmarks).
DESCRIPTION = REASON if ACTIVE else f"pure Python: {REASON}"
