"""Guarded cloudpickle blobs for artifacts that have no import path (lambdas, ``__main__``).

Unpickling runs arbitrary code, so :func:`load_blob` refuses unless the caller opted in, and
refuses even then when a signing key is configured and the HMAC is missing or wrong (checked
before a single byte is unpickled), or when another Python or cloudpickle version wrote it.
Imports ``errors``, ``settings``, ``store.base``; cloudpickle only when called.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from typing import Any

from registry import settings
from registry.errors import RestoreError, StoreError
from registry.store.base import BlobDraft, BlobRecord, EntryRecord

__all__ = ["BLOB_FORMAT", "dump_blob", "key_id_for", "load_blob", "python_version"]

BLOB_FORMAT = "cloudpickle"
#: Domain separation: a signature made for blobs can never verify some other message.
_SIGNATURE_DOMAIN = b"registry/blob-signature/v1"


def python_version() -> str:
    """Return ``major.minor.micro`` of this interpreter (stored with every blob)."""
    return ".".join(str(part) for part in sys.version_info[:3])


def _cloudpickle_version() -> str:
    import cloudpickle

    return str(cloudpickle.__version__)


def key_id_for(key: bytes) -> str:
    """Return a short public name for ``key`` (stored, so readers can tell which key signed)."""
    return hashlib.sha256(b"registry/key-id/v1\0" + key).hexdigest()[:16]


def _signed_message(sha256: str, fmt: str, python: str, pickler: str, key_id: str) -> bytes:
    # Blobs are content-addressed and shared between identifiers, so the signature binds the
    # content and the metadata the loader trusts (format, versions, key), not one identifier.
    fields = (
        _SIGNATURE_DOMAIN,
        fmt.encode(),
        key_id.encode(),
        sha256.encode(),
        python.encode(),
        pickler.encode(),
    )
    return b"\0".join(fields)


def _sign(key: bytes, sha256: str, fmt: str, python: str, pickler: str) -> tuple[str, str]:
    key_id = key_id_for(key)
    message = _signed_message(sha256, fmt, python, pickler, key_id)
    return key_id, hmac.new(key, message, hashlib.sha256).hexdigest()


def dump_blob(
    obj: object, namespace: str, identifier: str, *, signing_key: bytes | None = None
) -> BlobDraft:
    """Pickle ``obj`` with cloudpickle into a content-addressed, optionally signed blob.

    Args:
        obj: the artifact (typically a lambda, closure or ``__main__`` definition).
        namespace: the namespace it is registered in (for error messages).
        identifier: its identifier (for error messages).
        signing_key: HMAC key; defaults to ``REGISTRY_SIGNING_KEY`` (unsigned when unset).

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
    sha256 = hashlib.sha256(data).hexdigest()
    python, pickler = python_version(), _cloudpickle_version()
    key = signing_key if signing_key is not None else settings.signing_key()
    key_id = signature = None
    if key:
        key_id, signature = _sign(key, sha256, BLOB_FORMAT, python, pickler)
    return BlobDraft(
        data=data,
        sha256=sha256,
        format=BLOB_FORMAT,
        python_version=python,
        pickler_version=pickler,
        key_id=key_id,
        signature=signature,
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
        entry: the entry that uses it (for error messages).
        allow_pickle: the opt-in; ``None`` falls back to ``registry.configure`` and
            ``REGISTRY_ALLOW_PICKLE``.
        signing_key: HMAC key; defaults to ``REGISTRY_SIGNING_KEY``.

    Raises:
        RestoreError: no opt-in; missing or corrupted data; a key is configured and the
            signature is missing or wrong; another Python or cloudpickle version wrote it;
            unpickling failed.
    """
    namespace = entry.namespace if entry is not None else ""
    identifier = entry.identifier if entry is not None else ""
    sha = blob.sha256 if blob is not None else (entry.blob_sha256 if entry else None) or "?"
    context = {"registry_name": namespace, "identifier": identifier, "blob": sha}
    what = f"{identifier!r} in {namespace!r}" if identifier else f"blob {sha[:12]}"
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
    if blob is None:
        raise RestoreError(
            f"Cannot restore {what}: its pickled blob {sha[:12]} is missing from the store",
            suggestions=["Register the artifact again"],
            context=context,
        )
    record = blob
    _check_integrity(record, what, context)
    _check_signature(record, signing_key, what, context)
    _check_versions(record, what, context)
    import cloudpickle

    try:
        return cloudpickle.loads(record.data)
    except Exception as exc:  # unpickling can fail with anything the pickled code raises
        raise RestoreError(
            f"Cannot unpickle {what}: {type(exc).__name__}: {exc}",
            suggestions=["Install the packages the artifact referenced, or register it again"],
            context={**context, "cause": type(exc).__name__},
        ) from exc


def _check_integrity(record: BlobRecord, what: str, context: dict[str, Any]) -> None:
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


def _check_signature(
    record: BlobRecord, signing_key: bytes | None, what: str, context: dict[str, Any]
) -> None:
    key = signing_key if signing_key is not None else settings.signing_key()
    if not key:
        return
    if not record.signature or not record.key_id:
        raise RestoreError(
            f"Refusing to unpickle {what}: it is not signed and a signing key is configured",
            suggestions=[
                "Register the artifact again from a process that has "
                "REGISTRY_SIGNING_KEY set, so the blob gets signed"
            ],
            context=context,
        )
    if record.key_id != key_id_for(key):
        raise RestoreError(
            f"Refusing to unpickle {what}: it was signed with another key ({record.key_id})",
            suggestions=["Use the same REGISTRY_SIGNING_KEY as the writer, or register it again"],
            context={**context, "key_id": record.key_id},
        )
    _, expected = _sign(
        key, record.sha256, record.format, record.python_version, record.pickler_version
    )
    if not hmac.compare_digest(expected, record.signature):
        raise RestoreError(
            f"Refusing to unpickle {what}: its signature is wrong (tampered with, or a "
            "different key)",
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
