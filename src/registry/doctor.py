"""``registry doctor``: check a store and every artifact it references, and say what is wrong.

Imports artifacts by path (that runs their modules' code, which is the point: it shows whether
this machine can use them). Pickled artifacts are never unpickled: their blobs are checked
against the pickle policy in force (integrity, seal, versions), and each one a reader would
refuse is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from registry import refs, settings, speedups
from registry.errors import RestoreError, ValidationError
from registry.store.base import EntryRecord, Store, WatchStatus

__all__ = ["diagnose"]

Progress = Callable[[Sequence[Any], str], Iterable[Any]]


def _no_progress(items: Sequence[Any], _label: str) -> Iterable[Any]:
    return items


def pickle_policy() -> str:
    """Describe the pickle policy in force for this process."""
    allowed = settings.allow_pickle()
    signed = settings.signing_key() is not None
    loading = "allowed" if allowed else "refused (set REGISTRY_ALLOW_PICKLE=1 to allow)"
    signing = "signatures required (REGISTRY_SIGNING_KEY set)" if signed else "no signing key"
    return f"loading {loading}; {signing}"


def _check_entry(store: Store, namespace: str, record: EntryRecord) -> dict[str, str] | None:
    if record.blob_sha256:
        from registry import pickling

        try:
            pickling.check_blob(store.get_blob(record.blob_sha256), record)
        except RestoreError as error:
            return {
                "namespace": namespace,
                "identifier": record.identifier,
                "problem": f"would be refused: {error.message}",
            }
        return None
    try:
        artifact = refs.import_object(record.origin)
    except ValidationError as error:
        return {"namespace": namespace, "identifier": record.identifier, "problem": error.message}
    current = refs.source_hash(artifact)
    if record.source_hash and current and current != record.source_hash:
        return {
            "namespace": namespace,
            "identifier": record.identifier,
            "problem": f"source drifted since version {record.version} (register it again to record it)",
        }
    return None


def schema_state(store: Store) -> tuple[str, bool]:
    """Describe the store's schema (revision, differences from the models, SQLite integrity);
    the flag is False when it needs attention."""
    if not store.url.startswith(("sqlite", "postgresql")):
        return "not versioned by this client", True
    from registry.store.migrate import SchemaStatus, verify

    report = verify(store.url)
    state = report.state
    if state is None:
        described = "unreadable"
    else:
        described = f"{state.status.value}: revision {state.revision}, package head {state.head}"
        if state.status is SchemaStatus.BEHIND:
            described += " (run: registry db upgrade)"
    if report.differences or report.problems:
        described += (
            f"; {len(report.differences)} differences from the models, "
            f"{len(report.problems)} integrity problems (run: registry db check)"
        )
    return described, report.exit_code == 0


def _shown(url: str) -> str:
    if url.startswith(("sqlite", "postgresql")):
        from registry.store.engines import safe_url

        return safe_url(url)
    return url


def diagnose(
    store: Store, namespace: str | None = None, progress: Progress = _no_progress
) -> dict[str, Any]:
    """Check connectivity, schema and every artifact of ``namespace`` (or of every namespace)."""
    spaces = [namespace] if namespace else [n.name for n in store.list_namespaces()]
    work = [(name, record) for name in spaces for record in store.list_entries(name)]
    problems = []
    for name, record in progress(work, "importing artifacts"):
        problem = _check_entry(store, name, record)
        if problem is not None:
            problems.append(problem)
    schema, schema_ok = schema_state(store)
    if not schema_ok:
        problems.append({"namespace": "", "identifier": "", "problem": f"schema {schema}"})
    watch = _watch_state(store)
    if watch.stale:
        problems.append(
            {"namespace": "", "identifier": "", "problem": f"changes {watch.describe()}"}
        )
    return {
        "store": _shown(store.url),
        "schema": schema,
        "pickle_policy": pickle_policy(),
        "changes": watch.describe(),
        "speedups": speedups.DESCRIPTION,
        "environment": settings.variables_in_force(),
        "checked": len(work),
        "problems": problems,
    }


def _watch_state(store: Store) -> WatchStatus:
    """Open the change channel (as a registry class would) and report whether it works: a
    PostgreSQL pooler in transaction mode, for one, cannot hold the LISTEN connection."""
    unwatch = store.watch(lambda _changed: None)
    try:
        return store.watch_status()
    finally:
        unwatch()
