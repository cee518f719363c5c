"""What a registration writes about an artifact: the :class:`~registry.store.base.EntryDraft`
of a persistent registry (origin, place, source hash, signature, scheme JSON, docstring
summary, a guarded pickle when there is no import path, versions), and the place fields every
draft carries. The registry decides the identifier and whether the draft is needed at all.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import TYPE_CHECKING, Any

from registry import refs, sources
from registry.store import limits
from registry.store.base import EntryDraft, JsonText, is_importable_origin

if TYPE_CHECKING:
    from registry.schemes import SchemeBody  # imported on first use: schemes imports pydantic

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
    doc = inspect.getdoc(artifact)  # read once for the summary and the scheme
    signature, signature_text, body = _described(artifact)
    scheme = schemes.scheme_text_from(key, artifact, signature, body, doc)
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
        signature=signature_text,
        # Only the JSON text: a pydantic model per entry would cost ~0.4 ms and ~10 KiB
        # each (get_model builds one when asked), and a batch holds every draft at once.
        scheme=None if scheme is None else JsonText(scheme),
        doc=limits.fit_text(refs.first_paragraph(doc), limits.DOC),
        blob=blob,
        python_version="{}.{}.{}".format(*sys.version_info[:3]),
        package=package or None,
        package_version=None if version is None else version[: limits.PACKAGE_VERSION],
    )
    limits.check_draft(namespace, draft)  # before any store I/O, per item in batches
    return draft


def _described(artifact: Any) -> tuple[inspect.Signature | None, str, SchemeBody | None]:
    """``inspect.signature(artifact)``, the signature text stored for it, and its
    :func:`~registry.schemes.scheme_body`.

    Plain functions with the same parameters, defaults and annotations (classes, or ``None``)
    have equal signatures, texts and scheme bodies: those are worked out once per shape (~25 us
    each time otherwise, a quarter of drafting an entry).
    """
    shape = _function_shape(artifact)
    known = None if shape is None else _DESCRIPTIONS.get(shape)
    if known is not None:
        return known
    from registry import schemes  # imported by persistent_draft; needed on a miss only

    try:
        signature: inspect.Signature | None = inspect.signature(artifact)
    except (TypeError, ValueError):
        signature = None
    text = limits.fit_text(refs.signature_text(artifact, signature), limits.SIGNATURE_TEXT)
    described = (signature, text, schemes.scheme_body(artifact, signature))
    if shape is not None:
        if len(_DESCRIPTIONS) >= _MAX_SHAPES:
            _DESCRIPTIONS.clear()
        _DESCRIPTIONS[shape] = described
    return described


_DESCRIPTIONS: dict[tuple[Any, ...], tuple[inspect.Signature | None, str, SchemeBody | None]] = {}
_MAX_SHAPES = 4096
_STAR_FLAGS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def _function_shape(artifact: Any) -> tuple[Any, ...] | None:
    """What ``inspect.signature`` and the scheme read from a plain function, as a key; ``None``
    when they may depend on more (wrappers, ``__signature__``, string annotations evaluated in
    the module, defaults rendered by ``repr``)."""
    from registry.schemes import default_key, is_plain_function  # imported by persistent_draft

    if not is_plain_function(artifact):
        return None
    annotations = tuple(artifact.__annotations__.items())
    if not all(type(value) is type or value is None for _, value in annotations):
        return None
    # Keyed with their type (1, 1.0 and True are equal keys, and render differently).
    defaults = tuple(default_key(value) for value in artifact.__defaults__ or ())
    keywords = tuple(
        (name, default_key(value)) for name, value in (artifact.__kwdefaults__ or {}).items()
    )
    if any(key[0] is object for key in defaults) or any(key[0] is object for _, key in keywords):
        return None
    code = artifact.__code__
    flags = code.co_flags & _STAR_FLAGS
    count = code.co_argcount + code.co_kwonlyargcount + bin(flags).count("1")
    return (
        code.co_varnames[:count],
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        flags,
        defaults,
        keywords,
        annotations,
    )


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
