"""Each record's fields are declared once (the dataclasses in ``store.base``): the wire form,
the server's request bodies and its response models all have exactly those fields."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from pydantic import BaseModel

from registry.server import responses, schemas
from registry.server.derived import fields_of
from registry.store import base, limits, wire

DATA = b"opaque pickled bytes"
BLOB = base.BlobRecord(DATA, hashlib.sha256(DATA).hexdigest(), "cloudpickle", "3.11", "3")
SEAL = base.Seal("key", "signature", 2)
RECORD = base.EntryRecord(
    "lab.losses",
    "focal",
    2,
    "lab.losses:focal",
    "hash",
    "(x)",
    {"type": "object"},
    "Doc.",
    BLOB.sha256,
    "3.11",
    "lab",
    "1.0",
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    "me@host",
    SEAL,
    {"note": 1},
    "/src/lab/losses.py",
    12,
)
DRAFT = base.EntryDraft(
    "focal",
    "lab.losses:focal",
    "hash",
    "(x)",
    {"type": "object"},
    "Doc.",
    base.BlobDraft(DATA, BLOB.sha256, "cloudpickle", "3.11", "3"),
    "3.11",
    "lab",
    "1.0",
    "me@host",
    datetime(2026, 1, 2, tzinfo=timezone.utc),
    SEAL,
    "/src/lab/losses.py",
    12,
    ((12, "hash"),),
)

# (record, its JSON form, the request body model or None, the response model or None)
SHAPES: list[tuple[Any, dict[str, Any], type[BaseModel] | None, type[BaseModel] | None]] = [
    (DRAFT, wire.draft_to_json(DRAFT), schemas.DraftBody, None),
    (DRAFT.blob, wire.blob_to_json(BLOB), schemas.BlobBody, responses.Blob),
    (SEAL, wire.entry_to_json(RECORD)["seal"], schemas.SealBody, responses.Seal),
    (RECORD, wire.entry_to_json(RECORD), None, responses.Entry),
    (
        base.NamespaceRecord("lab.losses", "function", 3, 1),
        wire.namespace_to_json(base.NamespaceRecord("lab.losses", "function", 3, 1)),
        None,  # PUT /namespaces/{name} sends only the kind (NamespaceBody)
        responses.Namespace,
    ),
    (
        base.Registration(RECORD, base.Outcome.CREATED, 3),
        wire.registration_to_json(base.Registration(RECORD, base.Outcome.CREATED, 3)),
        None,
        responses.Registration,
    ),
    (
        base.ChangeSet("lab.losses", 1, 3, False, (RECORD,), (), ("old",)),
        wire.changes_to_json(base.ChangeSet("lab.losses", 1, 3, False, (RECORD,), (), ("old",))),
        None,
        responses.ChangeSet,
    ),
]


def _names(record: Any) -> list[str]:
    return [field.name for field in dataclasses.fields(record)]


@pytest.mark.parametrize(
    ("record", "as_json", "request_model", "response_model"),
    SHAPES,
    ids=[type(shape[0]).__name__ for shape in SHAPES],
)
def test_wire_form_and_models_have_exactly_the_fields_of_the_record(
    record: Any,
    as_json: dict[str, Any],
    request_model: type[BaseModel] | None,
    response_model: type[BaseModel] | None,
) -> None:
    fields = _names(record)
    assert list(as_json) == fields  # same names, same order
    if response_model is not None:
        assert list(response_model.model_fields) == fields
        # Every key is always sent, so the description marks every one required.
        assert all(info.is_required() for info in response_model.model_fields.values())
        response_model.model_validate(json.loads(json.dumps(as_json)))
    if request_model is not None:
        assert list(request_model.model_fields) == fields
        request_model.model_validate(json.loads(json.dumps(as_json)))


def test_the_request_limits_are_the_store_limits() -> None:
    def max_length(model: type[BaseModel], name: str) -> int | None:
        for rule in model.model_fields[name].metadata:
            if hasattr(rule, "max_length"):
                return int(rule.max_length)
        return None

    for model, table in (
        (schemas.DraftBody, limits.DRAFT_TEXT),
        (schemas.BlobBody, limits.BLOB_TEXT),
        (schemas.SealBody, limits.SEAL_TEXT),
    ):
        for name, limit in table.items():
            assert max_length(model, name) == limit, (model.__name__, name)


def test_a_field_added_to_a_record_reaches_the_wire_and_the_models() -> None:
    @dataclasses.dataclass(frozen=True)
    class Grown(base.Seal):
        comment: str | None = None
        tags: tuple[str, ...] = ()

    grown = Grown("key", "signature", 1, "new", ("a",))
    as_json = wire._encoder(Grown)(grown)
    assert as_json == {
        "key_id": "key",
        "signature": "signature",
        "version": 1,
        "comment": "new",
        "tags": ["a"],
    }
    assert wire._decoder(Grown)(as_json) == grown

    @fields_of(Grown)
    class GrownBody(BaseModel):
        pass

    assert list(GrownBody.model_fields) == _names(Grown)
    assert GrownBody.model_validate({"key_id": "k", "signature": "s", "version": 1}).tags == []


def test_options_for_a_field_the_record_lacks_are_refused() -> None:
    with pytest.raises(TypeError, match="no field"):
        fields_of(base.Seal, options={"key": {"max_length": 3}})
