"""Response models of the registry server's JSON routes and its documented error answers.

They describe what the routes send for the OpenAPI description (``/openapi.json``, ``/docs``)
and for clients generated from it. The routes themselves build their JSON with ``store.wire``
and return it directly, so these models cost nothing per request; ``tests/server/
test_openapi.py`` checks that real answers validate against them. The models of store records
take their fields from the record dataclasses in ``store.base`` (``server.derived``), as
``store.wire`` does, so the two cannot drift apart; only descriptions are written here.
:func:`json_response` is how the routes (and ``server.direct_writes``) send that JSON.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from registry.server.derived import fields_of
from registry.store import base
from registry.store.wire import json_bytes

__all__ = [
    "BatchItem",
    "BatchResults",
    "Blob",
    "BlobAnswer",
    "ChangeSet",
    "Changes",
    "EnsuredNamespace",
    "Entry",
    "EntryAnswer",
    "EntryList",
    "ErrorBody",
    "ErrorDetail",
    "Generations",
    "Health",
    "IdentifierList",
    "Namespace",
    "NamespaceAnswer",
    "NamespaceChanges",
    "NamespaceList",
    "Registration",
    "RemovedCount",
    "RemovedFlag",
    "Seal",
    "Stats",
    "error_responses",
    "json_response",
]


class ErrorDetail(BaseModel):
    """What went wrong; ``HttpStore`` re-raises the ``registry`` error class named by ``type``."""

    type: str = Field(description="registry error class, e.g. ValidationError or RegistryError")
    message: str = Field(description="what was wrong, in one sentence")
    suggestions: list[str] = Field(description="how to fix it, one hint per entry")
    context: dict[str, Any] = Field(description="facts about the failure (names, paths, limits)")


class ErrorBody(BaseModel):
    """Every non-2xx answer of the server: never a traceback, never FastAPI's default shape."""

    error: ErrorDetail


_ERROR_WHEN: dict[int, str] = {
    400: "Malformed JSON body",
    401: "Missing or unknown bearer token",
    403: "A read-only token used for a write",
    404: "No such route, namespace or entry",
    409: "Identifier taken by another artifact, or namespace of another kind or missing",
    413: "Request body over the server's limit",
    422: "Invalid namespace, identifier, query parameter or field",
    503: "The store behind the server failed",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the ``responses=`` documentation of these error statuses for a route."""
    return {status: {"model": ErrorBody, "description": _ERROR_WHEN[status]} for status in statuses}


class Health(BaseModel):
    status: Literal["healthy"]
    service: str


class Stats(BaseModel):
    namespaces: int = Field(description="number of namespaces")
    entries: int = Field(description="current entries over every namespace")
    sizes: dict[str, int] = Field(description="namespace -> current entries")


@fields_of(
    base.NamespaceRecord,
    all_required=True,
    options={
        "generation": {"description": "change counter, bumped by every write"},
        "size": {"description": "current entries"},
    },
)
class Namespace(BaseModel):
    pass


class NamespaceList(BaseModel):
    namespaces: list[Namespace]


class NamespaceAnswer(BaseModel):
    namespace: Namespace | None = Field(description="null when it does not exist")


class EnsuredNamespace(BaseModel):
    namespace: Namespace


@fields_of(base.Seal, all_required=True)
class Seal(BaseModel):
    """An HMAC over namespace, identifier, version and the blob, made by a key holder."""


@fields_of(
    base.EntryRecord,
    nested={base.Seal: Seal},
    all_required=True,
    options={
        "origin": {"description": "module:qualname; the import path when importable"},
        "source_file": {"description": "the file that defined it, as registered"},
        "source_line": {"description": "the line of the definition in that file"},
        "signature": {"description": "the call signature as text, e.g. (x: int) -> int"},
        "scheme": {"description": "JSON Schema of the artifact's config"},
        "blob_sha256": {"description": "set when the artifact is stored pickled"},
        "created_by": {"description": "user@host that registered this version"},
        "seal": {"description": "the writer's HMAC binding this version to its blob"},
    },
)
class Entry(BaseModel):
    """One stored version of an artifact."""


class EntryList(BaseModel):
    entries: list[Entry]


class EntryAnswer(BaseModel):
    entry: Entry | None = Field(description="null when nothing is registered under it")


@fields_of(
    base.Registration,
    nested={base.EntryRecord: Entry},
    all_required=True,
    options={
        "generation": {
            "description": "the namespace generation this registration wrote (0: nothing written)"
        }
    },
)
class Registration(BaseModel):
    pass


class IdentifierList(BaseModel):
    identifiers: list[str] = Field(description="every registered identifier, in order")


@fields_of(
    base.ChangeSet,
    nested={base.EntryRecord: Entry},
    all_required=True,
    options={
        "generation": {"description": "the generation a listener holds after applying it"},
        "cleared": {"description": "a clear ran after since: drop everything held first"},
        "added": {"description": "identifiers registered after since, in order"},
        "updated": {"description": "new current versions of identifiers held"},
        "removed": {"description": "identifiers unregistered after since"},
    },
)
class ChangeSet(BaseModel):
    """What changed in one namespace after generation ``since``."""


class NamespaceChanges(BaseModel):
    changes: ChangeSet


class BatchItem(BaseModel):
    """Exactly one of ``registration`` and ``error`` is present."""

    registration: Registration | None = None
    error: ErrorDetail | None = None


class BatchResults(BaseModel):
    results: list[BatchItem] = Field(description="one item per draft, in order")


class RemovedCount(BaseModel):
    removed: int


class RemovedFlag(BaseModel):
    removed: bool


@fields_of(
    base.BlobRecord,
    all_required=True,
    options={
        "data": {"description": "base64 of the pickled payload; never unpickled by the server"}
    },
)
class Blob(BaseModel):
    pass


class BlobAnswer(BaseModel):
    blob: Blob | None


class Generations(BaseModel):
    generations: dict[str, int] = Field(description="namespace -> change counter")


class Changes(Generations):
    token: str = Field(description="pass it back as since= to wait for the next change")


def json_response(data: Any, status_code: int = 200) -> Response:
    """A JSON answer of the server. Straight to bytes: the records are plain JSON already, so
    FastAPI's encoder would only add a second walk over them."""
    return Response(json_bytes(data), status_code, media_type="application/json")
