"""Export a namespace to a plain document and import it into another store.

The document (``format: registry-export/1``) holds every version of every current identifier
with its provenance, and the blobs they use (base64), so a round trip reproduces the listing.
Imports only ``errors`` and ``store.base``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from registry.errors import RegistryError, ValidationError
from registry.store.base import BlobDraft, EntryDraft, EntryRecord, Outcome, Store

__all__ = ["FORMAT", "export_namespace", "import_namespace"]

FORMAT = "registry-export/1"

Progress = Callable[[Sequence[Any], str], Iterable[Any]]


def _no_progress(items: Sequence[Any], _label: str) -> Iterable[Any]:
    return items


def _entry_document(record: EntryRecord) -> dict[str, Any]:
    return {
        "identifier": record.identifier,
        "version": record.version,
        "origin": record.origin,
        "source_hash": record.source_hash,
        "signature": record.signature,
        "doc": record.doc,
        "scheme": record.scheme,
        "blob_sha256": record.blob_sha256,
        "python_version": record.python_version,
        "package": record.package,
        "package_version": record.package_version,
        "created_at": record.created_at.isoformat() if record.created_at else None,
        "created_by": record.created_by,
    }


def export_namespace(
    store: Store, namespace: str, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Return the export document of ``namespace``.

    Raises:
        RegistryError: the namespace does not exist.
    """
    space = store.get_namespace(namespace)
    if space is None:
        raise RegistryError(
            f"Namespace {namespace!r} does not exist", context={"registry_name": namespace}
        )
    entries: list[dict[str, Any]] = []
    blobs: dict[str, Any] = {}
    for current in progress(store.list_entries(namespace), f"exporting {namespace}"):
        for record in store.history(namespace, current.identifier):
            entries.append(_entry_document(record))
            if record.blob_sha256 and record.blob_sha256 not in blobs:
                blob = store.get_blob(record.blob_sha256)
                if blob is not None:
                    blobs[blob.sha256] = {
                        "data": base64.b64encode(blob.data).decode("ascii"),
                        "format": blob.format,
                        "python_version": blob.python_version,
                        "pickler_version": blob.pickler_version,
                        "key_id": blob.key_id,
                        "signature": blob.signature,
                    }
    return {
        "format": FORMAT,
        "namespace": namespace,
        "kind": space.kind,
        "entries": entries,
        "blobs": blobs,
    }


def _draft(item: dict[str, Any], blobs: dict[str, Any]) -> EntryDraft:
    blob = None
    sha = item.get("blob_sha256")
    if sha:
        raw = blobs.get(sha)
        if raw is None:
            raise ValidationError(
                f"Entry {item['identifier']!r} refers to blob {sha} missing from the file"
            )
        blob = BlobDraft(
            data=base64.b64decode(raw["data"]),
            sha256=sha,
            format=raw["format"],
            python_version=raw["python_version"],
            pickler_version=raw["pickler_version"],
            key_id=raw.get("key_id"),
            signature=raw.get("signature"),
        )
    created_at = item.get("created_at")
    return EntryDraft(
        identifier=str(item["identifier"]),
        origin=str(item["origin"]),
        source_hash=item.get("source_hash"),
        signature=item.get("signature") or "",
        scheme=item.get("scheme"),
        doc=item.get("doc") or "",
        blob=blob,
        python_version=item.get("python_version") or "",
        package=item.get("package"),
        package_version=item.get("package_version"),
        created_by=item.get("created_by"),
        created_at=datetime.fromisoformat(created_at) if created_at else None,
    )


def import_namespace(store: Store, document: Any, *, source: str = "<document>") -> dict[str, Any]:
    """Import an export document in one store transaction; conflicts are reported, not applied.

    Returns:
        ``{"namespace", "imported": [...], "unchanged": [...], "conflicts": [{"identifier",
        "version", "error"}]}``.

    Raises:
        ValidationError: the document is not an export document.
        RegistryError: the namespace exists in this store with another kind.
    """
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValidationError(
            f"{source} is not a registry export (expected format {FORMAT!r})",
            suggestions=["Create the file with: registry export NAMESPACE -o FILE"],
            context={"file": source},
        )
    namespace, kind = str(document["namespace"]), document["kind"]
    try:
        items = list(document.get("entries") or [])
        drafts = [_draft(item, document.get("blobs") or {}) for item in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(
            f"{source} has a malformed entry: {exc!r}", context={"file": source}
        ) from exc
    store.ensure_namespace(namespace, kind)
    report: dict[str, Any] = {
        "namespace": namespace,
        "imported": [],
        "unchanged": [],
        "conflicts": [],
    }
    # Versions already in the store are skipped: replaying an old version over a newer one
    # would otherwise be recorded as yet another version.
    present = {
        (record.identifier, record.origin, record.source_hash)
        for identifier in {draft.identifier for draft in drafts}
        for record in store.history(namespace, identifier)
    }
    pending = []
    for item, draft in zip(items, drafts, strict=True):
        if (draft.identifier, draft.origin, draft.source_hash) in present:
            report["unchanged"].append(f"{item['identifier']}@{item.get('version')}")
        else:
            pending.append((item, draft))
    results = store.register_batch(namespace, [draft for _, draft in pending])
    for (item, _), result in zip(pending, results, strict=True):
        label = f"{item['identifier']}@{item.get('version')}"
        if isinstance(result, ValidationError):
            report["conflicts"].append(
                {
                    "identifier": item["identifier"],
                    "version": item.get("version"),
                    "error": result.message,
                }
            )
        elif result.outcome is Outcome.UNCHANGED:
            report["unchanged"].append(label)
        else:
            report["imported"].append(label)
    return report
