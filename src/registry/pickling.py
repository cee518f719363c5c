"""Guarded cloudpickle blobs for artifacts without an import path (placeholder until issue 3)."""

from __future__ import annotations

from typing import Any

from registry.errors import RestoreError
from registry.store.base import BlobDraft, BlobRecord, EntryRecord

__all__ = ["dump_blob", "load_blob"]


def dump_blob(obj: Any, namespace: str, identifier: str) -> BlobDraft:
    """Pickle ``obj`` for the store."""
    raise RestoreError(f"{identifier!r} has no import path and pickled blobs are not supported yet")


def load_blob(blob: BlobRecord | None, record: EntryRecord) -> Any:
    """Unpickle a stored blob under the pickle policy."""
    raise RestoreError(f"{record.identifier!r} is stored as a pickle, which is not supported yet")
