"""A bounded schemathesis run over the server's OpenAPI description: no input gives a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from .conftest import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed_server() -> Iterator[LiveServer]:
    live = LiveServer("memory://", None, ["--max-body-bytes", "65536"])
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: LiveServer):
    schema = schemathesis.openapi.from_url(fuzzed_server.url + "/openapi.json")
    schema.config.base_url = fuzzed_server.url
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_gives_a_server_error(case, fuzzed_server: LiveServer) -> None:
    if case.operation.path == "/changes":
        case.query = {**(case.query or {}), "timeout": 0}  # do not hold a worker for 20 s
    response = case.call(base_url=fuzzed_server.url, timeout=10)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, where + "\n" + response.text
    if response.status_code != 204:  # 204: a long-poll whose client hung up
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), where
