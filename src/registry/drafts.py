"""What a registration writes about an artifact: the :class:`~registry.store.base.EntryDraft`
of a persistent registry (origin, place, source hash, signature, scheme JSON, docstring
summary, a guarded pickle when there is no import path, versions), and the place fields every
draft carries. The registry decides the identifier and whether the draft is needed at all.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from typing import Any

from registry import refs, sources
from registry.store import limits
from registry.store.base import EntryDraft, JsonText, is_importable_origin

__all__ = ["persistent_draft", "place_fields"]


def persistent_draft(
    namespace: str, key: str, artifact: Any, origin: str, place: sources.Place | None
) -> EntryDraft:
    """Return the draft that stores ``artifact`` under ``key`` in ``namespace``.

    Raises:
        ValidationError: a field is over its limit (``store.limits``), or the artifact has no
            import path and the pickle policy refuses it (``pickling``).
    """
    # On first use: schemes import pydantic; pickling is needed only by persistent registries.
    from registry import pickling, schemes

    package = origin.partition(":")[0].partition(".")[0]
    try:  # read once for the signature text and the scheme
        signature: inspect.Signature | None = inspect.signature(artifact)
    except (TypeError, ValueError):
        signature = None
    scheme = schemes.scheme_json_of(key, artifact, signature)
    blob = None
    if not is_importable_origin(origin):
        blob = pickling.dump_blob(artifact, namespace, key)
    version = _distribution_version(package)
    draft = EntryDraft(
        **place_fields(place),
        identifier=key,
        origin=origin,
        # The place came from the same read of the file as the hash. When it has none, the
        # file's index has none to give: index=False does not ask it again for a function.
        source_hash=(place.source_hash if place else None)
        or refs.source_hash(artifact, index=False),
        signature=limits.fit_text(refs.signature_text(artifact, signature), limits.SIGNATURE_TEXT),
        # Only the JSON text: a pydantic model per entry would cost ~0.4 ms and ~10 KiB
        # each (get_model builds one when asked), and a batch holds every draft at once.
        scheme=None if scheme is None else JsonText(json.dumps(scheme)),
        doc=limits.fit_text(refs.doc_summary(artifact), limits.DOC),
        blob=blob,
        python_version="{}.{}.{}".format(*sys.version_info[:3]),
        package=package or None,
        package_version=None if version is None else version[: limits.PACKAGE_VERSION],
    )
    limits.check_draft(namespace, draft)  # before any store I/O, per item in batches
    return draft


def place_fields(place: sources.Place | None) -> dict[str, Any]:
    """The ``EntryDraft`` fields saying where an artifact is defined."""
    if place is None:
        return {}
    return {
        "source_file": place.file,
        "source_line": place.line,
        "definitions": place.definitions,
    }


@functools.lru_cache(maxsize=256)
def _distribution_version(package: str) -> str | None:
    # Cached: a lookup scans sys.path (~40 us), and registrations come in bursts per package.
    if not package:
        return None
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
