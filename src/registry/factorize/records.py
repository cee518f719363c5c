"""Weak records of the objects factorization built, read back by :func:`~registry.factorize.provenance.to_config`.

Every object a builder makes is remembered weakly (by identity plus a weak reference, so
unhashable objects such as dataclasses work too) together with the compiled node that built
it and, for builders generated per config shape, the literal values of that build. Objects
that cannot take a weak reference (ints, dicts returned by a function) are not remembered.
The table is the C extension's ``Records`` where it is built (``speedups.py``), else
:class:`PyRecords`; both drop the records of dead objects in batches. The compiled steps
(``steps.py``) and generated builders (``shapes.py``) write here; nothing here knows their
types, so the steps sit above this module and ``provenance`` above both.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Protocol

from registry import speedups

__all__ = ["TABLE", "PyRecords", "Record", "RecordTable", "record_of", "remember"]

#: The compiled ``Node`` that built an object, and the literal values of that build when the
#: node is a template with ``Slot`` markers.
Record = tuple[Any, tuple[Any, ...]]


class RecordTable(Protocol):
    def remember(self, obj: object, node: Any, slots: tuple[Any, ...] = (), /) -> None:
        """Record that ``obj`` was built by ``node`` (with the literal values ``slots``)."""

    def record_of(self, obj: object, /) -> Record | None:
        """Return the record of ``obj`` if it was built by factorization and is still alive."""

    def __len__(self) -> int:
        """The records held, of live objects and of dead ones not swept yet."""


class PyRecords:
    """The pure-Python table: ``entries[id(obj)] = (weak reference, node, slots)``.

    A record is a plain weak reference (no callback, so cheap to make and to drop) and the
    node, which holds no built object. Generated builders write ``entries`` inline and call
    :meth:`sweep_if_due` once per build.
    """

    def __init__(self) -> None:
        self.entries: dict[int, tuple[weakref.ref[Any], Any, tuple[Any, ...]]] = {}
        self.sweep_at = 4096
        self._sweep_lock = threading.Lock()

    def remember(self, obj: object, node: Any, slots: tuple[Any, ...] = (), /) -> None:
        try:
            ref = weakref.ref(obj)
        except TypeError:
            return  # ints, dicts, slotted objects: nothing to attach a record to
        self.entries[id(obj)] = (ref, node, slots)
        self.sweep_if_due()

    def record_of(self, obj: object, /) -> Record | None:
        entry = self.entries.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry[1], entry[2]
        return None

    def __len__(self) -> int:
        return len(self.entries)

    def sweep_if_due(self) -> None:
        """Drop the records of dead objects once enough have been written since the last sweep."""
        if len(self.entries) >= self.sweep_at:
            self._sweep()

    def _sweep(self) -> None:
        with self._sweep_lock:
            for key, entry in list(self.entries.items()):
                # A builder in another thread may just have recorded a new object under a
                # reused id; then the entry differs and stays.
                if entry[0]() is None and self.entries.get(key) is entry:
                    self.entries.pop(key, None)
            self.sweep_at = max(4096, 2 * len(self.entries))


TABLE: RecordTable = speedups.Records() if speedups.Records is not None else PyRecords()
remember = TABLE.remember
record_of = TABLE.record_of
