"""A bounded schemathesis run against a PostgreSQL-backed server: no input gives a 5xx.

The memory-backed run (tests/server/test_fuzz.py) could not see what only PostgreSQL refuses:
fields longer than their columns, NUL characters in text. Before issue 14 those were 503s.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from registry.store import limits
from tests.server.conftest import LiveServer, request

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_server(pg_url: str) -> Iterator[LiveServer]:
    live = LiveServer(pg_url, None, ["--max-body-bytes", "65536"])
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def pg_api_schema(pg_server: LiveServer):
    schema = schemathesis.openapi.from_url(pg_server.url + "/openapi.json")
    schema.config.base_url = pg_server.url
    return schema


schema = schemathesis.pytest.from_fixture("pg_api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_postgres_server_gives_no_5xx(case, pg_server: LiveServer) -> None:
    if case.operation.path == "/changes":
        case.query = {**(case.query or {}), "timeout": 0}
    response = case.call(base_url=pg_server.url, timeout=10)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, where + "\n" + response.text


def _deep(levels: int) -> dict[str, object]:
    scheme: dict[str, object] = {}
    for _ in range(levels - 1):
        scheme = {"a": scheme}
    return scheme


#: Fields at their limit are stored; one character more, a NUL or a deep scheme is a 422.
BOUNDARY = [
    ({"origin": "m:" + "f" * (limits.ORIGIN - 2)}, 200),
    ({"origin": "m:" + "f" * (limits.ORIGIN - 1)}, 422),
    ({"origin": "m:" + "f" * 2000}, 422),
    ({"source_hash": "a" * limits.SOURCE_HASH}, 200),
    ({"source_hash": "a" * (limits.SOURCE_HASH + 1)}, 422),
    ({"python_version": "3" * (limits.PYTHON_VERSION + 1)}, 422),
    ({"package": "p" * (limits.PACKAGE + 1)}, 422),
    ({"package_version": "1" * (limits.PACKAGE_VERSION + 1)}, 422),
    ({"doc": "a\x00b"}, 422),
    ({"origin": "m:f\x00"}, 422),
    ({"identifier": "a\x00b"}, 422),
    ({"identifier": "\ud800"}, 422),
    ({"scheme": _deep(limits.SCHEME_DEPTH + 1)}, 422),
    (
        {
            "blob": {
                "data": "",
                "sha256": hashlib.sha256(b"").hexdigest(),
                "format": "f" * 33,
                "python_version": "3",
                "pickler_version": "3",
            }
        },
        422,
    ),
]


@pytest.mark.parametrize(("fields", "status"), BOUNDARY)
def test_column_limits_over_http_on_postgres(
    pg_server: LiveServer, fields: dict[str, object], status: int
) -> None:
    request(pg_server, "PUT", "/namespaces/lab.limits", {"kind": "function"})
    draft = {"identifier": f"f{uuid.uuid4().hex[:8]}", "origin": "m:f", **fields}
    answer, body = request(pg_server, "POST", "/namespaces/lab.limits/entries", draft)
    assert answer == status, body
