"""The OpenAPI description matches what the server really sends: response models and errors."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from pydantic import BaseModel

from registry.server import responses

from .conftest import READ_TOKEN, WRITE_TOKEN, LiveServer, request

ERROR_REF = "#/components/schemas/ErrorBody"


@pytest.fixture(scope="module")
def spec(server: LiveServer) -> dict[str, Any]:
    status, body = request(server, "GET", "/openapi.json")
    assert status == 200
    return body


def _model_of(spec: dict[str, Any], method: str, path: str, status: str) -> type[BaseModel]:
    answer = spec["paths"][path][method.lower()]["responses"][status]
    ref = answer["content"]["application/json"]["schema"]["$ref"]
    model: type[BaseModel] = getattr(responses, ref.rpartition("/")[2])
    return model


def _assert_matches(model: type[BaseModel], body: Any) -> None:
    """``body`` validates and has exactly the documented keys, at every nested model."""
    model.model_validate(body)
    assert set(body) == set(model.model_fields), (model.__name__, sorted(body))


def test_every_documented_error_is_the_error_body(spec: dict[str, Any]) -> None:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": ERROR_REF}, (method, path, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_routes_document_the_errors_they_can_send(spec: dict[str, Any]) -> None:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert "200" in documented
            assert "$ref" in operation["responses"]["200"]["content"]["application/json"]["schema"]
            if path == "/health":
                continue
            assert "401" in documented, (method, path)
            if method in ("put", "post", "delete") and not path.startswith("/ui/"):
                assert {"403", "422", "503"} <= documented, (method, path)
            if method in ("put", "post") and not path.startswith("/ui/"):
                assert {"400", "409", "413"} <= documented, (method, path)


def test_answers_match_their_response_models(
    server: LiveServer, spec: dict[str, Any], namespace: str
) -> None:
    data = b"opaque pickled bytes"
    blob = {
        "data": base64.b64encode(data).decode(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "format": "cloudpickle",
        "python_version": "3.11",
        "pickler_version": "3",
    }
    draft = {"identifier": "f", "origin": "pkg.mod:f", "doc": "F.", "blob": blob}
    ns = f"/namespaces/{namespace}"
    calls: list[tuple[str, str, str, Any]] = [
        ("PUT", ns, "/namespaces/{name}", {"kind": "function"}),
        ("POST", f"{ns}/entries", "/namespaces/{name}/entries", draft),
        (
            "POST",
            f"{ns}/batch",
            "/namespaces/{name}/batch",
            {"drafts": [{"identifier": "g", "origin": "pkg.mod:g"}, draft | {"origin": "x:y"}]},
        ),
        ("GET", "/health", "/health", None),
        ("GET", "/stats", "/stats", None),
        ("GET", "/namespaces", "/namespaces", None),
        ("GET", ns, "/namespaces/{name}", None),
        ("GET", f"{ns}/entries", "/namespaces/{name}/entries", None),
        ("GET", f"{ns}/entries/f", "/namespaces/{name}/entries/{identifier}", None),
        ("GET", f"{ns}/entries/f/history", "/namespaces/{name}/entries/{identifier}/history", None),
        ("GET", f"{ns}/identifiers", "/namespaces/{name}/identifiers", None),
        ("GET", f"{ns}/changes?since=0", "/namespaces/{name}/changes", None),
        ("GET", f"/blobs/{blob['sha256']}", "/blobs/{sha256}", None),
        ("GET", "/generations", "/generations", None),
        ("GET", "/changes?timeout=0", "/changes", None),
        ("DELETE", f"{ns}/entries/f", "/namespaces/{name}/entries/{identifier}", None),
        ("DELETE", f"{ns}/entries", "/namespaces/{name}/entries", None),
    ]
    for method, url, path, body in calls:
        status, answer = request(server, method, url, body, token=WRITE_TOKEN)
        assert status == 200, (method, url, answer)
        model = _model_of(spec, method, path, "200")
        _assert_matches(model, answer)
        if path == "/namespaces/{name}/batch":
            items = answer["results"]
            assert set(items[0]) == {"registration"} and set(items[1]) == {"error"}
            _assert_matches(responses.Registration, items[0]["registration"])
            _assert_matches(responses.ErrorDetail, items[1]["error"])
        if method == "GET" and path == "/namespaces/{name}/entries/{identifier}":
            _assert_matches(responses.Entry, answer["entry"])
        if path == "/namespaces/{name}/changes":
            _assert_matches(responses.ChangeSet, answer["changes"])
            _assert_matches(responses.Entry, answer["changes"]["added"][0])


@pytest.mark.parametrize(
    ("method", "url", "body", "token", "status"),
    [
        ("GET", "/namespaces", None, None, 401),
        ("PUT", "/namespaces/{ns}", {"kind": "function"}, READ_TOKEN, 403),
        ("PUT", "/namespaces/{ns}", {"kind": "type"}, WRITE_TOKEN, 409),
        ("GET", "/namespaces/bad%20name", None, READ_TOKEN, 422),
        ("GET", "/no/such/route", None, READ_TOKEN, 404),
        ("POST", "/namespaces/{ns}/entries", "oversize", WRITE_TOKEN, 413),
    ],
    ids=["401", "403", "409", "422", "404", "413"],
)
def test_error_answers_match_the_error_model(
    server: LiveServer, spec: dict[str, Any], namespace: str, method, url, body, token, status
) -> None:
    request(server, "PUT", f"/namespaces/{namespace}", {"kind": "function"}, token=WRITE_TOKEN)
    if body == "oversize":  # the declared length alone is refused, before any byte is read
        got, answer = request(
            server,
            method,
            url.format(ns=namespace),
            token=token,
            raw=b"{}",
            headers={"Content-Length": str(100 * 1024 * 1024)},
        )
    else:
        got, answer = request(server, method, url.format(ns=namespace), body, token=token)
    assert got == status, answer
    _assert_matches(responses.ErrorBody, answer)
    _assert_matches(responses.ErrorDetail, answer["error"])
