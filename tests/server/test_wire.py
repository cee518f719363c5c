"""The JSON form of store records, and what the server package may import."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry import registries, validation
from registry.errors import RegistryError, ValidationError
from registry.server.schemas import IDENTIFIER_PATTERN, NAMESPACE_PATTERN
from registry.store import wire
from registry.store.base import BlobDraft, EntryDraft, EntryRecord, Outcome, Registration, Seal

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    identifier=st.text(min_size=1, max_size=30),
    doc=st.text(max_size=50),
    scheme=st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    data=st.binary(max_size=64),
)
def test_draft_round_trip(identifier: str, doc: str, scheme, data: bytes) -> None:
    blob = BlobDraft(data, hashlib.sha256(data).hexdigest(), "cloudpickle", "3.11", "3.0")
    draft = EntryDraft(
        identifier,
        "pkg.mod:f",
        "h",
        "(x)",
        scheme,
        doc,
        blob,
        "3.11",
        "pkg",
        "1",
        seal=Seal("k", "s", 2),
    )
    through_json = json.loads(json.dumps(wire.draft_to_json(draft)))
    assert wire.draft_from_json(through_json) == draft


def test_entry_and_registration_round_trip() -> None:
    record = EntryRecord(
        "lab.x",
        "f",
        3,
        "pkg.mod:f",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        created_by="me@host",
        seal=Seal("k", "s", 3),
        extra={"k": [1, 2]},
    )
    registration = Registration(record, Outcome.NEW_VERSION)
    data = json.loads(json.dumps(wire.registration_to_json(registration)))
    assert wire.registration_from_json(data) == registration


def test_batch_results_keep_errors() -> None:
    error = RegistryError("taken", ["rename"], {"identifier": "f"})
    back = wire.result_from_json(json.loads(json.dumps(wire.result_to_json(error))))
    assert isinstance(back, RegistryError)
    assert (back.message, back.suggestions, back.context) == (
        "taken",
        ["rename"],
        {"identifier": "f"},
    )


def test_change_token_depends_only_on_generations() -> None:
    assert wire.change_token({"a": 1, "b": 2}) == wire.change_token({"b": 2, "a": 1})
    assert wire.change_token({"a": 1}) != wire.change_token({"a": 2})
    assert wire.change_token({}) != wire.change_token({"a": 0})


@pytest.mark.parametrize(
    "identifier",
    [
        "ok",
        "resnet-50",
        "\u00e9t\u00e9",
        "a\U0001f600",
        "a b",
        "a\tb",
        "a\x00b",
        "a\x07",
        "a\x7f",
        "a\x85",
        "a\u2028",
        "a:b",
        "a@b",
        "a/b",
        "",
        "x" * 255,
        "x" * 256,
    ],
)
def test_the_server_accepts_exactly_the_identifiers_registries_accept(identifier: str) -> None:
    from pydantic import TypeAdapter, constr
    from pydantic import ValidationError as PydanticError

    server = TypeAdapter(constr(pattern=IDENTIFIER_PATTERN))
    try:
        server.validate_python(identifier)
        served = True
    except PydanticError:
        served = False
    try:
        validation.check_identifier(identifier, "R")
        registered = True
    except ValidationError:
        registered = False
    assert served == registered


def test_server_namespace_pattern_matches_the_registry_rule() -> None:
    assert NAMESPACE_PATTERN == f"^{registries._NAMESPACE.pattern}$"


def test_importing_registry_or_the_client_loads_no_server_dependency(python) -> None:
    result = python(
        "import sys, registry, registry.store.http\n"
        "print([m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules])"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_server_options_parse_without_fastapi(python) -> None:
    result = python(
        "import sys\n"
        "from registry.server.run import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print([m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules])"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert "--token-file" in result.stdout
