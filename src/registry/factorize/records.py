"""Weak records of the objects factorization built, read back by :func:`~registry.factorize.provenance.to_config`.

Every object a builder makes is remembered weakly (by ``id`` plus a weak reference, so
unhashable objects such as dataclasses work too) together with the compiled node that built
it and, for builders generated per config shape, the literal values of that build. Objects
that cannot take a weak reference (ints, dicts returned by a function) are not remembered.
The compiled steps (``steps.py``) and generated builders (``shapes.py``) write here; nothing
here knows their types, so the steps sit above this module and ``provenance`` above both.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

__all__ = ["Record", "record_of", "remember", "sweep_if_due"]

#: (weak reference to the object, the compiled ``Node`` that built it, the literal values of
#: that build when the node is a template with ``Slot`` markers).
Record = tuple["weakref.ref[Any]", Any, tuple[Any, ...]]
_RECORDS: dict[int, Record] = {}
_SWEEP_LOCK = threading.Lock()
_sweep_at = 4096


def remember(obj: Any, node: Any, slots: tuple[Any, ...] = ()) -> None:
    """Record that ``obj`` was built by ``node`` (with the literal values ``slots``).

    A record is a plain weak reference (no callback, so cheap to make and to drop) and the
    node, which holds no built object. Records of dead objects are swept out in batches.
    Generated builders write records inline and call :func:`sweep_if_due` once per build.
    """
    try:
        ref = weakref.ref(obj)
    except TypeError:
        return  # ints, dicts, slotted objects: nothing to attach a record to
    _RECORDS[id(obj)] = (ref, node, slots)
    if len(_RECORDS) >= _sweep_at:
        _sweep()


def sweep_if_due() -> None:
    """Drop the records of dead objects once enough have been written since the last sweep."""
    if len(_RECORDS) >= _sweep_at:
        _sweep()


def _sweep() -> None:
    global _sweep_at
    with _SWEEP_LOCK:
        for key, record in list(_RECORDS.items()):
            # A builder in another thread may just have recorded a new object under a reused
            # id; then the record differs and stays.
            if record[0]() is None and _RECORDS.get(key) is record:
                _RECORDS.pop(key, None)
        _sweep_at = max(4096, 2 * len(_RECORDS))


def record_of(obj: Any) -> Record | None:
    """Return the record of ``obj`` if it was built by factorization and is still alive."""
    record = _RECORDS.get(id(obj))
    if record is not None and record[0]() is obj:
        return record
    return None
