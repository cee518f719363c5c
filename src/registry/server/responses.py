"""Response models of the registry server's JSON routes and its documented error answers.

They describe what the routes send for the OpenAPI description (``/openapi.json``, ``/docs``)
and for clients generated from it. The routes themselves build their JSON with ``store.wire``
and return it directly, so these models cost nothing per request; ``tests/server/
test_openapi.py`` checks that real answers validate against them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

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


class Namespace(BaseModel):
    name: str
    kind: Literal["function", "type", "scheme"]
    generation: int = Field(description="change counter, bumped by every write")
    size: int = Field(description="current entries")


class NamespaceList(BaseModel):
    namespaces: list[Namespace]


class NamespaceAnswer(BaseModel):
    namespace: Namespace | None = Field(description="null when it does not exist")


class EnsuredNamespace(BaseModel):
    namespace: Namespace


class Seal(BaseModel):
    """An HMAC over namespace, identifier, version and the blob, made by a key holder."""

    key_id: str
    signature: str
    version: int


class Entry(BaseModel):
    """One stored version of an artifact."""

    namespace: str
    identifier: str
    version: int
    origin: str = Field(description="module:qualname; the import path when importable")
    source_hash: str | None
    source_file: str | None = Field(description="the file that defined it, as registered")
    source_line: int | None = Field(description="the line of the definition in that file")
    signature: str = Field(description="the call signature as text, e.g. (x: int) -> int")
    scheme: dict[str, Any] | None = Field(description="JSON Schema of the artifact's config")
    doc: str
    blob_sha256: str | None = Field(description="set when the artifact is stored pickled")
    python_version: str
    package: str | None
    package_version: str | None
    created_at: datetime | None
    created_by: str = Field(description="user@host that registered this version")
    seal: Seal | None = Field(description="the writer's HMAC binding this version to its blob")
    extra: dict[str, Any]


class EntryList(BaseModel):
    entries: list[Entry]


class EntryAnswer(BaseModel):
    entry: Entry | None = Field(description="null when nothing is registered under it")


class Registration(BaseModel):
    record: Entry
    outcome: Literal["created", "unchanged", "new_version"]
    generation: int = Field(
        description="the namespace generation this registration wrote (0: nothing written)"
    )


class IdentifierList(BaseModel):
    identifiers: list[str] = Field(description="every registered identifier, in order")


class ChangeSet(BaseModel):
    """What changed in one namespace after generation ``since``."""

    namespace: str
    since: int
    generation: int = Field(description="the generation a listener holds after applying it")
    cleared: bool = Field(description="a clear ran after since: drop everything held first")
    added: list[Entry] = Field(description="identifiers registered after since, in order")
    updated: list[Entry] = Field(description="new current versions of identifiers held")
    removed: list[str] = Field(description="identifiers unregistered after since")


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


class Blob(BaseModel):
    data: str = Field(description="base64 of the pickled payload; never unpickled by the server")
    sha256: str
    format: str
    python_version: str
    pickler_version: str


class BlobAnswer(BaseModel):
    blob: Blob | None


class Generations(BaseModel):
    generations: dict[str, int] = Field(description="namespace -> change counter")


class Changes(Generations):
    token: str = Field(description="pass it back as since= to wait for the next change")
