"""The JSON form of store records, shared by the registry server and ``HttpStore``.

Blobs travel as base64 text and are never unpickled here: they stay opaque bytes on both
sides of the wire. Imports only ``errors`` and ``store.base``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from registry.errors import RegistryError, ValidationError, error_from_dict
from registry.store.base import (
    BlobDraft,
    BlobRecord,
    ChangeSet,
    EntryDraft,
    EntryRecord,
    NamespaceKind,
    NamespaceRecord,
    Outcome,
    Registration,
    Seal,
)

__all__ = [
    "blob_from_json",
    "blob_to_json",
    "change_token",
    "changes_from_json",
    "changes_to_json",
    "draft_from_json",
    "draft_to_json",
    "entry_from_json",
    "entry_to_json",
    "namespace_from_json",
    "namespace_to_json",
    "registration_from_json",
    "registration_to_json",
    "result_from_json",
    "result_to_json",
]

_NAMESPACE_KINDS: frozenset[str] = frozenset({"function", "type", "scheme"})


def change_token(generations: Mapping[str, int]) -> str:
    """Return a short token that changes whenever any namespace generation changes.

    It is derived from the generations alone, so every worker behind one database hands out
    the same token for the same state and a client may switch workers between polls.
    """
    payload = json.dumps(sorted(generations.items()), separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def namespace_to_json(record: NamespaceRecord) -> dict[str, Any]:
    """Return the JSON form of a namespace record."""
    return {
        "name": record.name,
        "kind": record.kind,
        "generation": record.generation,
        "size": record.size,
    }


def namespace_from_json(data: Mapping[str, Any]) -> NamespaceRecord:
    """Rebuild a namespace record from :func:`namespace_to_json` output."""
    kind = str(data["kind"])
    if kind not in _NAMESPACE_KINDS:
        raise ValidationError(f"Unknown namespace kind {kind!r}", context={"kind": kind})
    return NamespaceRecord(
        name=str(data["name"]),
        kind=cast(NamespaceKind, kind),
        generation=int(data.get("generation", 0)),
        size=int(data.get("size", 0)),
    )


def blob_to_json(blob: BlobDraft) -> dict[str, Any]:
    """Return the JSON form of a blob; its bytes become base64 text."""
    return {
        "data": base64.b64encode(blob.data).decode("ascii"),
        "sha256": blob.sha256,
        "format": blob.format,
        "python_version": blob.python_version,
        "pickler_version": blob.pickler_version,
    }


def _blob_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        raw = base64.b64decode(str(data["data"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(
            "Blob data is not valid base64", context={"sha256": data.get("sha256")}
        ) from exc
    return {
        "data": raw,
        "sha256": str(data["sha256"]),
        "format": str(data["format"]),
        "python_version": str(data["python_version"]),
        "pickler_version": str(data["pickler_version"]),
    }


def blob_from_json(data: Mapping[str, Any]) -> BlobRecord:
    """Rebuild a stored blob from :func:`blob_to_json` output."""
    return BlobRecord(**_blob_fields(data))


def draft_to_json(draft: EntryDraft) -> dict[str, Any]:
    """Return the JSON form of an entry draft."""
    return {
        "identifier": draft.identifier,
        "origin": draft.origin,
        "source_hash": draft.source_hash,
        "signature": draft.signature,
        "scheme": draft.scheme,
        "doc": draft.doc,
        "blob": None if draft.blob is None else blob_to_json(draft.blob),
        "python_version": draft.python_version,
        "package": draft.package,
        "package_version": draft.package_version,
        "created_by": draft.created_by,
        "created_at": _iso(draft.created_at),
        "source_file": draft.source_file,
        "source_line": draft.source_line,
        "definitions": [list(definition) for definition in draft.definitions],
        "seal": _seal_to_json(draft.seal),
    }


def draft_from_json(data: Mapping[str, Any]) -> EntryDraft:
    """Rebuild an entry draft from :func:`draft_to_json` output."""
    blob = data.get("blob")
    return EntryDraft(
        identifier=str(data["identifier"]),
        origin=str(data["origin"]),
        source_hash=data.get("source_hash"),
        signature=str(data.get("signature") or ""),
        scheme=data.get("scheme"),
        doc=str(data.get("doc") or ""),
        blob=None if blob is None else BlobDraft(**_blob_fields(blob)),
        python_version=str(data.get("python_version") or ""),
        package=data.get("package"),
        package_version=data.get("package_version"),
        created_by=data.get("created_by"),
        created_at=_datetime(data.get("created_at")),
        source_file=data.get("source_file"),
        source_line=_line(data.get("source_line")),
        definitions=tuple(
            (int(line), None if hashed is None else str(hashed))
            for line, hashed in data.get("definitions") or ()
        ),
        seal=_seal_from_json(data.get("seal")),
    )


def entry_to_json(record: EntryRecord) -> dict[str, Any]:
    """Return the JSON form of an entry record (``created_at`` as ISO 8601)."""
    return {
        "namespace": record.namespace,
        "identifier": record.identifier,
        "version": record.version,
        "origin": record.origin,
        "source_hash": record.source_hash,
        "signature": record.signature,
        "scheme": record.scheme,
        "doc": record.doc,
        "blob_sha256": record.blob_sha256,
        "python_version": record.python_version,
        "package": record.package,
        "package_version": record.package_version,
        "created_at": _iso(record.created_at),
        "created_by": record.created_by,
        "seal": _seal_to_json(record.seal),
        "extra": record.extra,
        "source_file": record.source_file,
        "source_line": record.source_line,
    }


def entry_from_json(data: Mapping[str, Any]) -> EntryRecord:
    """Rebuild an entry record from :func:`entry_to_json` output."""
    return EntryRecord(
        namespace=str(data["namespace"]),
        identifier=str(data["identifier"]),
        version=int(data["version"]),
        origin=str(data["origin"]),
        source_hash=data.get("source_hash"),
        signature=str(data.get("signature") or ""),
        scheme=data.get("scheme"),
        doc=str(data.get("doc") or ""),
        blob_sha256=data.get("blob_sha256"),
        python_version=str(data.get("python_version") or ""),
        package=data.get("package"),
        package_version=data.get("package_version"),
        created_at=_datetime(data.get("created_at")),
        created_by=str(data.get("created_by") or ""),
        seal=_seal_from_json(data.get("seal")),
        extra=dict(data.get("extra") or {}),
        source_file=data.get("source_file"),
        source_line=_line(data.get("source_line")),
    )


def _seal_to_json(seal: Seal | None) -> dict[str, Any] | None:
    if seal is None:
        return None
    return {"key_id": seal.key_id, "signature": seal.signature, "version": seal.version}


def _seal_from_json(data: Any) -> Seal | None:
    if data is None:
        return None
    return Seal(str(data["key_id"]), str(data["signature"]), int(data["version"]))


def _line(value: Any) -> int | None:
    return None if value is None else int(value)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _datetime(text: Any) -> datetime | None:
    if text is None:
        return None
    value = str(text)
    # pydantic writes UTC as "Z", which datetime.fromisoformat accepts only from Python 3.11.
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    return datetime.fromisoformat(value)


def registration_to_json(registration: Registration) -> dict[str, Any]:
    """Return the JSON form of a registration result."""
    return {
        "record": entry_to_json(registration.record),
        "outcome": registration.outcome.value,
        "generation": registration.generation,
    }


def registration_from_json(data: Mapping[str, Any]) -> Registration:
    """Rebuild a registration from :func:`registration_to_json` output."""
    return Registration(
        entry_from_json(data["record"]),
        Outcome(data["outcome"]),
        int(data.get("generation") or 0),  # absent from older servers
    )


def changes_to_json(changes: ChangeSet) -> dict[str, Any]:
    """Return the JSON form of a change set."""
    return {
        "namespace": changes.namespace,
        "since": changes.since,
        "generation": changes.generation,
        "cleared": changes.cleared,
        "added": [entry_to_json(record) for record in changes.added],
        "updated": [entry_to_json(record) for record in changes.updated],
        "removed": list(changes.removed),
    }


def changes_from_json(data: Mapping[str, Any]) -> ChangeSet:
    """Rebuild a change set from :func:`changes_to_json` output."""
    return ChangeSet(
        namespace=str(data["namespace"]),
        since=int(data["since"]),
        generation=int(data["generation"]),
        cleared=bool(data["cleared"]),
        added=tuple(entry_from_json(item) for item in data["added"]),
        updated=tuple(entry_from_json(item) for item in data["updated"]),
        removed=tuple(str(identifier) for identifier in data["removed"]),
    )


def result_to_json(result: Registration | RegistryError) -> dict[str, Any]:
    """Return one batch item: ``{"registration": ...}`` or ``{"error": ...}``."""
    if isinstance(result, RegistryError):
        return {"error": result.to_dict()}
    return {"registration": registration_to_json(result)}


def result_from_json(data: Mapping[str, Any]) -> Registration | RegistryError:
    """Rebuild one batch item from :func:`result_to_json` output."""
    if data.get("error") is not None:
        error = error_from_dict(data["error"])
        if isinstance(error, RegistryError):
            return error
        return RegistryError(error.message, error.suggestions, error.context)
    return registration_from_json(data["registration"])
