"""Request bodies of the registry server as pydantic models, so the OpenAPI description and
input validation come from one place. The fields of the record bodies come from the record
dataclasses in ``store.base`` (``server.derived``); every size limit comes from
``store.limits``, the declaration the database columns and every backend's checks use too.
Responses are built by ``store.wire``. The path parameters of the routes (namespace,
identifier) are declared here too, with the same patterns."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from registry.errors import ValidationError
from registry.server.derived import fields_of
from registry.store import base, limits

__all__ = [
    "IDENTIFIER_PATTERN",
    "NAMESPACE_PATTERN",
    "BatchBody",
    "BlobBody",
    "DraftBody",
    "Identifier",
    "NamespaceBody",
    "NamespaceName",
    "SealBody",
]

NAMESPACE_PATTERN = f"^{limits.NAMESPACE_PATTERN}$"
#: Lone surrogates never get this far: pydantic refuses them as invalid strings.
IDENTIFIER_PATTERN = f"^{limits.IDENTIFIER_PATTERN}$"
#: ``module:qualname``; generous, since lambdas and locals have qualnames like ``f.<locals>.g``.
ORIGIN_PATTERN = r"^[^\s:\x00-\x1f]+:[^\s:\x00-\x1f]+$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"

#: Path parameters of the API and the web page's JSON routes.
NamespaceName = Annotated[str, Path(pattern=NAMESPACE_PATTERN, description="logic_namespace")]
Identifier = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, description="artifact identifier")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NamespaceBody(_Body):
    """``PUT /namespaces/{name}``: the registry kind the namespace holds."""

    kind: base.NamespaceKind


def _options(text_limits: Mapping[str, int], **more: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``pydantic.Field`` options: ``max_length`` for each bounded text field, plus ``more``."""
    options: dict[str, dict[str, Any]] = {
        name: {"max_length": limit} for name, limit in text_limits.items()
    }
    for name, extra in more.items():
        options[name] = {**options.get(name, {}), **extra}
    return options


@fields_of(
    base.BlobDraft,
    options=_options(
        limits.BLOB_TEXT,
        data={"description": "base64 of the payload"},
        sha256={"pattern": SHA256_PATTERN, "description": "SHA-256 of the decoded payload"},
    ),
)
class BlobBody(_Body):
    """A pickled artifact as opaque base64 bytes; the server never unpickles it."""

    @model_validator(mode="after")
    def _data_matches_hash(self) -> BlobBody:
        blob = vars(self)  # the fields come from base.BlobDraft
        try:
            raw = base64.b64decode(blob["data"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("blob data is not valid base64") from exc
        if hashlib.sha256(raw).hexdigest() != blob["sha256"]:
            raise ValueError("blob sha256 does not match its data")
        return self


@fields_of(base.Seal, options=_options(limits.SEAL_TEXT, version={"ge": 1}))
class SealBody(_Body):
    """The writer's HMAC binding the entry version to its blob; the server never checks it."""


@fields_of(
    base.EntryDraft,
    nested={base.BlobDraft: BlobBody, base.Seal: SealBody},
    options=_options(
        limits.DRAFT_TEXT,
        identifier={"pattern": IDENTIFIER_PATTERN},
        origin={"pattern": ORIGIN_PATTERN},
        # The stored prefix is limits.SOURCE_FILE characters long.
        source_file={"max_length": limits.PATH},
        source_line={"ge": 1, "le": limits.LINE},
        definitions={"max_length": limits.DEFINITIONS},
    ),
)
class DraftBody(_Body):
    """One artifact to register (the JSON form of ``EntryDraft``)."""

    # created_by (the client's user@host) is kept as given: provenance, not authentication.
    # created_at is kept when given (imports from another store), else the server's clock.

    @field_validator("scheme", check_fields=False)
    @classmethod
    def _bounded_scheme(cls, scheme: dict[str, Any] | None) -> dict[str, Any] | None:
        if scheme is not None:
            try:
                limits.check_scheme(scheme, {})
            except ValidationError as error:
                raise ValueError(error.message) from None
        return scheme


class BatchBody(_Body):
    """``POST /namespaces/{name}/batch``: drafts registered in one store transaction."""

    drafts: list[DraftBody] = Field(max_length=limits.BATCH)
