"""Guarded cloudpickle blobs for artifacts that have no import path (lambdas, ``__main__``).

Unpickling runs arbitrary code, so :func:`load_blob` refuses unless the caller opted in, and
refuses even then when a signing key is configured and the entry's seal is missing or wrong
(checked before a single byte is unpickled), or when another Python or cloudpickle version wrote
it. A *seal* (:func:`seal`) is an HMAC over the entry's namespace, identifier and version and
its blob's hash, format and versions: it binds one entry version to its bytes, so an entry
pointed at another entry's blob in the database is refused. Imports ``errors``, ``settings``,
``store.base``; cloudpickle only when called.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import sys
from collections.abc import Sequence
from typing import Any

from registry import settings
from registry.errors import RegistryError, RestoreError, StoreError
from registry.store.base import (
    BlobDraft,
    BlobRecord,
    EntryDraft,
    EntryRecord,
    Registration,
    Seal,
    Store,
)

__all__ = [
    "BLOB_FORMAT",
    "check_blob",
    "dump_blob",
    "key_id_for",
    "load_blob",
    "python_version",
    "register_batch_sealed",
    "register_sealed",
    "seal",
]

BLOB_FORMAT = "cloudpickle"
#: Domain separation: a seal can never verify some other message made with the same key.
_SEAL_DOMAIN = b"registry/entry-seal/v2"
#: Registrations sealed again after the version moved (concurrent writers) before giving up.
_SEAL_ATTEMPTS = 5


def python_version() -> str:
    """Return ``major.minor.micro`` of this interpreter (stored with every blob)."""
    return ".".join(str(part) for part in sys.version_info[:3])


def _cloudpickle_version() -> str:
    import cloudpickle

    return str(cloudpickle.__version__)


def key_id_for(key: bytes) -> str:
    """Return a short public name for ``key`` (stored, so readers can tell which key signed)."""
    return hashlib.sha256(b"registry/key-id/v1\0" + key).hexdigest()[:16]


def _seal_signature(
    key: bytes, namespace: str, identifier: str, version: int, blob: BlobDraft
) -> str:
    fields = (
        _SEAL_DOMAIN,
        key_id_for(key).encode(),
        namespace.encode(),
        identifier.encode(),
        str(version).encode(),
        blob.sha256.encode(),
        blob.format.encode(),
        blob.python_version.encode(),
        blob.pickler_version.encode(),
    )
    # Length-prefixed, so no two field lists give the same message.
    message = b"".join(len(part).to_bytes(4, "big") + part for part in fields)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal(key: bytes, namespace: str, identifier: str, version: int, blob: BlobDraft) -> Seal:
    """Return the seal binding version ``version`` of ``identifier`` in ``namespace`` to ``blob``."""
    return Seal(
        key_id_for(key), _seal_signature(key, namespace, identifier, version, blob), version
    )


def register_sealed(
    store: Store, namespace: str, draft: EntryDraft, *, signing_key: bytes | None = None
) -> Registration:
    """Register ``draft``; when it carries a blob and a key is configured, seal it for the
    version it becomes.

    The store assigns versions, so the seal is made for the predicted one; a store that would
    write another version refuses it and names the expected one, and the draft is sealed again.
    A draft that leaves a stored entry unchanged replaces that entry's seal (signing an entry
    stored unsigned, or rotating keys).

    Raises:
        RegistryError: the identifier is taken, or the version kept moving under concurrent
            writers.
    """
    key = signing_key if signing_key is not None else settings.signing_key()
    if not key or draft.blob is None:
        return store.register(namespace, draft)
    version = _predicted_version(store.get_entry(namespace, draft.identifier), draft)
    for _ in range(_SEAL_ATTEMPTS):
        try:
            return store.register(namespace, _sealed(key, namespace, draft, version))
        except RegistryError as error:
            expected = error.context.get("expected_version")
            if not isinstance(expected, int):
                raise
            version = expected
    raise RegistryError(
        f"Could not seal {draft.identifier!r} in {namespace!r}: its version kept changing "
        f"under other writers ({_SEAL_ATTEMPTS} attempts)",
        suggestions=["Register it again once the other writers are done"],
        context={"registry_name": namespace, "identifier": draft.identifier},
    )


def register_batch_sealed(
    store: Store, namespace: str, drafts: Sequence[EntryDraft]
) -> list[Registration | RegistryError]:
    """``store.register_batch`` with every blob draft sealed as :func:`register_sealed` does;
    drafts whose version moved are sealed again and registered one by one."""
    key = settings.signing_key()
    if not key or all(draft.blob is None for draft in drafts):
        return store.register_batch(namespace, drafts)
    sealed = [
        draft
        if draft.blob is None
        else _sealed(
            key,
            namespace,
            draft,
            _predicted_version(store.get_entry(namespace, draft.identifier), draft),
        )
        for draft in drafts
    ]
    results = store.register_batch(namespace, sealed)
    for index, result in enumerate(results):
        if isinstance(result, RegistryError) and "expected_version" in result.context:
            try:
                results[index] = register_sealed(store, namespace, drafts[index], signing_key=key)
            except RegistryError as error:
                results[index] = error
    return results


def _predicted_version(current: EntryRecord | None, draft: EntryDraft) -> int:
    if current is None:
        return 1  # or more after an unregister: the store then names the right one
    blob_sha = None if draft.blob is None else draft.blob.sha256
    unchanged = current.origin == draft.origin and current.blob_sha256 == blob_sha
    return current.version if unchanged else current.version + 1


def _sealed(key: bytes, namespace: str, draft: EntryDraft, version: int) -> EntryDraft:
    assert draft.blob is not None
    return dataclasses.replace(
        draft, seal=seal(key, namespace, draft.identifier, version, draft.blob)
    )


def dump_blob(obj: object, namespace: str, identifier: str) -> BlobDraft:
    """Pickle ``obj`` with cloudpickle into a content-addressed blob.

    Args:
        obj: the artifact (typically a lambda, closure or ``__main__`` definition).
        namespace: the namespace it is registered in (for error messages).
        identifier: its identifier (for error messages).

    Raises:
        StoreError: cloudpickle cannot serialise ``obj``.
    """
    import cloudpickle

    try:
        data = cloudpickle.dumps(obj)
    except Exception as exc:  # cloudpickle raises anything the object's reducers raise
        raise StoreError(
            f"Cannot pickle {identifier!r} for namespace {namespace!r}: {exc}",
            suggestions=[
                "Define it at module level in an importable module so it is stored "
                "by import path instead"
            ],
            context={
                "registry_name": namespace,
                "identifier": identifier,
                "cause": type(exc).__name__,
            },
        ) from exc
    return BlobDraft(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        format=BLOB_FORMAT,
        python_version=python_version(),
        pickler_version=_cloudpickle_version(),
    )


def load_blob(
    blob: BlobRecord | None,
    entry: EntryRecord | None = None,
    *,
    allow_pickle: bool | None = None,
    signing_key: bytes | None = None,
) -> Any:
    """Check ``blob`` against the pickle policy, then unpickle it.

    Args:
        blob: the stored blob (``None``: the entry names a blob the store does not have).
        entry: the entry that uses it (its seal is checked when a key is configured).
        allow_pickle: the opt-in; ``None`` falls back to ``registry.configure`` and
            ``REGISTRY_ALLOW_PICKLE``.
        signing_key: HMAC key; defaults to ``REGISTRY_SIGNING_KEY``.

    Raises:
        RestoreError: no opt-in; missing or corrupted data; a key is configured and the
            entry's seal is missing or wrong; another Python or cloudpickle version wrote it;
            unpickling failed.
    """
    what, context = _describe(blob, entry)
    if not settings.allow_pickle(allow_pickle):
        raise RestoreError(
            f"Refusing to unpickle {what}: loading a pickle runs arbitrary code",
            suggestions=[
                "Opt in if you trust everyone who can write to this store: "
                "set REGISTRY_ALLOW_PICKLE=1 or call registry.configure(allow_pickle=True)",
                "Better: define the artifact in an importable module so it is restored by "
                "import path",
            ],
            context=context,
        )
    record = check_blob(blob, entry, signing_key=signing_key)
    import cloudpickle

    try:
        return cloudpickle.loads(record.data)
    except Exception as exc:  # unpickling can fail with anything the pickled code raises
        raise RestoreError(
            f"Cannot unpickle {what}: {type(exc).__name__}: {exc}",
            suggestions=["Install the packages the artifact referenced, or register it again"],
            context={**context, "cause": type(exc).__name__},
        ) from exc


def check_blob(
    blob: BlobRecord | None, entry: EntryRecord | None = None, *, signing_key: bytes | None = None
) -> BlobRecord:
    """Run every check :func:`load_blob` runs except the opt-in; unpickle nothing.

    ``registry doctor`` uses it to report what readers would refuse.

    Raises:
        RestoreError: the blob is missing or corrupted, its seal is missing or wrong while a
            key is configured, or another Python or cloudpickle version wrote it.
    """
    what, context = _describe(blob, entry)
    if blob is None:
        raise RestoreError(
            f"Cannot restore {what}: its pickled blob {context['blob'][:12]} is missing from "
            "the store",
            suggestions=["Register the artifact again"],
            context=context,
        )
    _check_integrity(blob, entry, what, context)
    _check_seal(blob, entry, signing_key, what, context)
    _check_versions(blob, what, context)
    return blob


def _describe(blob: BlobRecord | None, entry: EntryRecord | None) -> tuple[str, dict[str, Any]]:
    namespace = entry.namespace if entry is not None else ""
    identifier = entry.identifier if entry is not None else ""
    sha = blob.sha256 if blob is not None else (entry.blob_sha256 if entry else None) or "?"
    context = {"registry_name": namespace, "identifier": identifier, "blob": sha}
    what = f"{identifier!r} in {namespace!r}" if identifier else f"blob {sha[:12]}"
    return what, context


def _check_integrity(
    record: BlobRecord, entry: EntryRecord | None, what: str, context: dict[str, Any]
) -> None:
    if entry is not None and entry.blob_sha256 != record.sha256:
        raise RestoreError(
            f"Refusing to unpickle {what}: the entry names blob {entry.blob_sha256}, "
            f"not {record.sha256}",
            context=context,
        )
    if record.format != BLOB_FORMAT:
        raise RestoreError(
            f"Cannot load {what}: unknown blob format {record.format!r}",
            suggestions=["Upgrade the registry package"],
            context=context,
        )
    if hashlib.sha256(record.data).hexdigest() != record.sha256:
        raise RestoreError(
            f"Refusing to unpickle {what}: its content does not match its SHA-256 (corrupted)",
            suggestions=["Register the artifact again to rewrite the blob"],
            context=context,
        )


def _check_seal(
    record: BlobRecord,
    entry: EntryRecord | None,
    signing_key: bytes | None,
    what: str,
    context: dict[str, Any],
) -> None:
    key = signing_key if signing_key is not None else settings.signing_key()
    if not key:
        return
    if entry is None or entry.seal is None:
        raise RestoreError(
            f"Refusing to unpickle {what}: it is not signed and a signing key is configured",
            suggestions=[
                "Register the artifact again from a process that has "
                "REGISTRY_SIGNING_KEY set, so the entry gets sealed"
            ],
            context=context,
        )
    if entry.seal.key_id != key_id_for(key):
        raise RestoreError(
            f"Refusing to unpickle {what}: it was signed with another key ({entry.seal.key_id})",
            suggestions=[
                "Use the same REGISTRY_SIGNING_KEY as the writer, or register it again with "
                "this key (that replaces the seal: how keys are rotated)"
            ],
            context={**context, "key_id": entry.seal.key_id},
        )
    expected = _seal_signature(key, entry.namespace, entry.identifier, entry.version, record)
    if not hmac.compare_digest(expected, entry.seal.signature):
        raise RestoreError(
            f"Refusing to unpickle {what}: its seal does not match this entry and blob "
            "(tampered with, pointed at another entry's blob, or another key)",
            suggestions=["Do not load it; register the artifact again from a trusted process"],
            context=context,
        )


def _check_versions(record: BlobRecord, what: str, context: dict[str, Any]) -> None:
    here_python, here_pickler = python_version(), _cloudpickle_version()
    # cloudpickle output is tied to the bytecode of one minor Python version.
    if record.python_version.split(".")[:2] != here_python.split(".")[:2]:
        raise RestoreError(
            f"Refusing to unpickle {what}: it was written by Python {record.python_version}, "
            f"this is Python {here_python}",
            suggestions=[
                f"Load it with Python {record.python_version}, or register it again "
                "from this Python"
            ],
            context={**context, "blob_python": record.python_version, "python": here_python},
        )
    if record.pickler_version != here_pickler:
        raise RestoreError(
            f"Refusing to unpickle {what}: it was written by cloudpickle "
            f"{record.pickler_version}, this is cloudpickle {here_pickler}",
            suggestions=[
                f"pip install cloudpickle=={record.pickler_version}, or register it again"
            ],
            context={
                **context,
                "blob_cloudpickle": record.pickler_version,
                "cloudpickle": here_pickler,
            },
        )
