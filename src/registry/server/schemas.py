"""Request bodies of the registry server as pydantic models, so the OpenAPI description and
input validation come from one place. Responses are built by ``store.wire``."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "IDENTIFIER_PATTERN",
    "NAMESPACE_PATTERN",
    "BatchBody",
    "BlobBody",
    "DraftBody",
    "NamespaceBody",
]

#: Mirrors ``registries._NAMESPACE`` (a test keeps them equal).
NAMESPACE_PATTERN = r"^[A-Za-z0-9_.\-]{1,255}$"
#: Mirrors ``validation._IDENTIFIER``: no whitespace, ':', '@' or '/' (a test keeps them equal).
IDENTIFIER_PATTERN = r"^[^\s:@/]{1,255}$"
#: ``module:qualname``; generous, since lambdas and locals have qualnames like ``f.<locals>.g``.
ORIGIN_PATTERN = r"^[^\s:]{1,1000}:[^\s:]{1,1000}$"
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
    format: str = Field(max_length=100)
    python_version: str = Field(max_length=100)
    pickler_version: str = Field(max_length=100)
    key_id: str | None = Field(default=None, max_length=200)
    signature: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _data_matches_hash(self) -> BlobBody:
        try:
            raw = base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("blob data is not valid base64") from exc
        if hashlib.sha256(raw).hexdigest() != self.sha256:
            raise ValueError("blob sha256 does not match its data")
        return self


class DraftBody(_Body):
    """One artifact to register (the JSON form of ``EntryDraft``)."""

    identifier: str = Field(pattern=IDENTIFIER_PATTERN)
    origin: str = Field(pattern=ORIGIN_PATTERN)
    source_hash: str | None = Field(default=None, max_length=200)
    signature: str = Field(default="", max_length=20_000)
    scheme: dict[str, Any] | None = None
    doc: str = Field(default="", max_length=200_000)
    blob: BlobBody | None = None
    python_version: str = Field(default="", max_length=100)
    package: str | None = Field(default=None, max_length=300)
    package_version: str | None = Field(default=None, max_length=100)
    created_by: str | None = Field(default=None, max_length=300)
    """``user@host`` of the client; kept as given (provenance, not authentication)."""
    created_at: datetime | None = None
    """Kept when given (imports from another store); otherwise the server's clock."""
    source_file: str | None = Field(default=None, max_length=4096)
    source_line: int | None = Field(default=None, ge=1)
    definitions: list[tuple[int, str | None]] = Field(default_factory=list, max_length=10_000)
    """``[line, source hash]`` of each definition of the same name in ``source_file`` (tells a
    second definition from a re-run)."""


class BatchBody(_Body):
    """``POST /namespaces/{name}/batch``: drafts registered in one store transaction."""

    drafts: list[DraftBody] = Field(max_length=10_000)
