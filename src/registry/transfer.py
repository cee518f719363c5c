"""Export a namespace to a plain document and import it into another store.

The document (``format: registry-export/1``) holds every version of every current identifier
with its provenance, and the blobs they use (base64), in the same JSON form the registry server
uses (``store.wire``), so a round trip reproduces the listing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from registry.errors import NotFoundError, ValidationError
from registry.store import wire
from registry.store.base import EntryDraft, Outcome, Store

__all__ = ["FORMAT", "export_namespace", "import_namespace"]

FORMAT = "registry-export/1"

Progress = Callable[[Sequence[Any], str], Iterable[Any]]


def _no_progress(items: Sequence[Any], _label: str) -> Iterable[Any]:
    return items


def export_namespace(
    store: Store, namespace: str, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Return the export document of ``namespace`` (entries and blobs in their wire JSON form).

    Raises:
        NotFoundError: the namespace does not exist.
    """
    space = store.get_namespace(namespace)
    if space is None:
        raise NotFoundError(
            f"Namespace {namespace!r} does not exist", context={"registry_name": namespace}
        )
    entries: list[dict[str, Any]] = []
    blobs: dict[str, Any] = {}
    for current in progress(store.list_entries(namespace), f"exporting {namespace}"):
        for record in store.history(namespace, current.identifier):
            entries.append(wire.entry_to_json(record))
            if record.blob_sha256 and record.blob_sha256 not in blobs:
                blob = store.get_blob(record.blob_sha256)
                if blob is not None:
                    blobs[blob.sha256] = wire.blob_to_json(blob)
    return {
        "format": FORMAT,
        "namespace": namespace,
        "kind": space.kind,
        "entries": entries,
        "blobs": blobs,
    }


def _draft(item: dict[str, Any], blobs: dict[str, Any]) -> EntryDraft:
    sha = item.get("blob_sha256")
    if sha and sha not in blobs:
        raise ValidationError(
            f"Entry {item['identifier']!r} refers to blob {sha} missing from the file"
        )
    return wire.draft_from_json({**item, "blob": blobs.get(sha) if sha else None})


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
