"""Request bodies of the registry server as pydantic models, so the OpenAPI description and
input validation come from one place. Responses are built by ``store.wire``. Every size limit
comes from ``store.limits``, the declaration the database columns use too."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from registry.errors import ValidationError
from registry.store import limits

__all__ = [
    "IDENTIFIER_PATTERN",
    "NAMESPACE_PATTERN",
    "BatchBody",
    "BlobBody",
    "DraftBody",
    "NamespaceBody",
    "SealBody",
]

NAMESPACE_PATTERN = f"^{limits.NAMESPACE_PATTERN}$"
#: Lone surrogates never get this far: pydantic refuses them as invalid strings.
IDENTIFIER_PATTERN = f"^{limits.IDENTIFIER_PATTERN}$"
#: ``module:qualname``; generous, since lambdas and locals have qualnames like ``f.<locals>.g``.
ORIGIN_PATTERN = r"^[^\s:\x00-\x1f]+:[^\s:\x00-\x1f]+$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NamespaceBody(_Body):
    """``PUT /namespaces/{name}``: the registry kind the namespace holds."""

    kind: Literal["function", "type", "scheme"]


class BlobBody(_Body):
    """A pickled artifact as opaque base64 bytes; the server never unpickles it."""

    data: str = Field(description="base64 of the payload")
    sha256: str = Field(pattern=SHA256_PATTERN, description="SHA-256 of the decoded payload")
    format: str = Field(max_length=limits.BLOB_FORMAT)
    python_version: str = Field(max_length=limits.PYTHON_VERSION)
    pickler_version: str = Field(max_length=limits.PICKLER_VERSION)

    @model_validator(mode="after")
    def _data_matches_hash(self) -> BlobBody:
        try:
            raw = base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("blob data is not valid base64") from exc
        if hashlib.sha256(raw).hexdigest() != self.sha256:
            raise ValueError("blob sha256 does not match its data")
        return self


class SealBody(_Body):
    """The writer's HMAC binding the entry version to its blob; the server never checks it."""

    key_id: str = Field(max_length=limits.KEY_ID)
    signature: str = Field(max_length=limits.SEAL)
    version: int = Field(ge=1)


class DraftBody(_Body):
    """One artifact to register (the JSON form of ``EntryDraft``)."""

    identifier: str = Field(pattern=IDENTIFIER_PATTERN)
    origin: str = Field(pattern=ORIGIN_PATTERN, max_length=limits.ORIGIN)
    source_hash: str | None = Field(default=None, max_length=limits.SOURCE_HASH)
    signature: str = Field(default="", max_length=limits.SIGNATURE_TEXT)
    scheme: dict[str, Any] | None = None
    doc: str = Field(default="", max_length=limits.DOC)
    blob: BlobBody | None = None
    python_version: str = Field(default="", max_length=limits.PYTHON_VERSION)
    package: str | None = Field(default=None, max_length=limits.PACKAGE)
    package_version: str | None = Field(default=None, max_length=limits.PACKAGE_VERSION)
    created_by: str | None = Field(default=None, max_length=limits.CREATED_BY)
    """``user@host`` of the client; kept as given (provenance, not authentication)."""
    created_at: datetime | None = None
    """Kept when given (imports from another store); otherwise the server's clock."""
    seal: SealBody | None = None

    @field_validator("scheme")
    @classmethod
    def _bounded_scheme(cls, scheme: dict[str, Any] | None) -> dict[str, Any] | None:
        if scheme is not None:
            try:
                limits.check_scheme(scheme, {})
            except ValidationError as error:
                raise ValueError(error.message) from None
        return scheme

    source_file: str | None = Field(default=None, max_length=limits.PATH)
    """Stored as its first ``limits.SOURCE_FILE`` characters."""
    source_line: int | None = Field(default=None, ge=1, le=limits.LINE)
    definitions: list[tuple[int, str | None]] = Field(default_factory=list, max_length=10_000)
    """``[line, source hash]`` of each definition of the same name in ``source_file`` (tells a
    second definition from a re-run)."""


class BatchBody(_Body):
    """``POST /namespaces/{name}/batch``: drafts registered in one store transaction."""

    drafts: list[DraftBody] = Field(max_length=10_000)
