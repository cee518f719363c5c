"""An entry read answered before routing (``server.cached_reads``) is the documented route's
answer, byte for byte: same status, headers and body, for hits, misses, bad tokens and bad
parameters. A query string sends the same request through the route, which is the reference."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import (
    READ_TOKEN,
    WRITE_TOKEN,
    LiveServer,
    raw_request,
    request,
    sqlite_live_server,
)

NAMESPACE = "lab.cached"


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("cached_reads")
    live = sqlite_live_server(folder)
    live.start()
    draft = {"origin": "lab.mod:focal", "scheme": {"type": "object"}, "doc": "Focal loss."}
    assert (
        request(live, "PUT", f"/namespaces/{NAMESPACE}", {"kind": "function"}, token=WRITE_TOKEN)[0]
        == 200
    )
    for identifier in ("focal", "dice_ü"):
        body = {**draft, "identifier": identifier}
        status, _ = request(
            live, "POST", f"/namespaces/{NAMESPACE}/entries", body, token=WRITE_TOKEN
        )
        assert status == 200
    yield live
    live.stop()


def raw_get(
    server: LiveServer, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    return raw_request(server, "GET", path, headers, body)


AUTH = {
    "read token": {"Authorization": f"Bearer {READ_TOKEN}"},
    "write token": {"Authorization": f"Bearer {WRITE_TOKEN}"},
    "lower-case scheme": {"Authorization": f"bearer {READ_TOKEN}"},
    "no token": {},
    "unknown token": {"Authorization": "Bearer not-a-token"},
    "another scheme": {"Authorization": f"Basic {READ_TOKEN}"},
}
PATHS = [
    f"/namespaces/{NAMESPACE}/entries/focal",
    f"/namespaces/{NAMESPACE}/entries/dice_%C3%BC",
    f"/namespaces/{NAMESPACE}/entries/missing",
    "/namespaces/lab.nowhere/entries/focal",
    f"/namespaces/{NAMESPACE}/entries/bad:identifier",
    "/namespaces/bad%20namespace/entries/focal",
]


@pytest.mark.parametrize("auth", list(AUTH))
@pytest.mark.parametrize("path", PATHS)
def test_answers_like_the_documented_route(sqlite_server: LiveServer, path: str, auth: str) -> None:
    headers = AUTH[auth]
    raw_get(sqlite_server, path, AUTH["read token"])  # the server's view now holds the answer
    direct = raw_get(sqlite_server, path, headers)
    routed = raw_get(sqlite_server, path + "?through=route", headers)
    assert direct == routed


def test_a_change_is_answered_at_once(sqlite_server: LiveServer) -> None:
    path = f"/namespaces/{NAMESPACE}/entries/later"
    assert request(sqlite_server, "GET", path, token=READ_TOKEN) == (200, {"entry": None})
    body = {"identifier": "later", "origin": "lab.mod:later"}
    status, _ = request(
        sqlite_server, "POST", f"/namespaces/{NAMESPACE}/entries", body, token=WRITE_TOKEN
    )
    assert status == 200
    status, answer = request(sqlite_server, "GET", path, token=READ_TOKEN)
    assert status == 200 and answer["entry"]["origin"] == "lab.mod:later"


def test_a_kept_answer_follows_new_versions_and_unregistrations(sqlite_server: LiveServer) -> None:
    """The encoded answer is kept per record: a new version or an unregistration is answered
    at once, never the body kept for the record before it."""
    path = f"/namespaces/{NAMESPACE}/entries/versioned"
    entries = f"/namespaces/{NAMESPACE}/entries"
    for version in (1, 2):
        body = {"identifier": "versioned", "origin": "lab.mod:v", "source_hash": f"h{version}"}
        assert request(sqlite_server, "POST", entries, body, token=WRITE_TOKEN)[0] == 200
        for _ in range(2):  # the second answer is the kept one
            status, answer = request(sqlite_server, "GET", path, token=READ_TOKEN)
            assert status == 200
            entry = answer["entry"]
            assert (entry["version"], entry["source_hash"]) == (version, f"h{version}")
    assert request(sqlite_server, "DELETE", path, token=WRITE_TOKEN)[0] == 200
    assert request(sqlite_server, "GET", path, token=READ_TOKEN) == (200, {"entry": None})


@pytest.mark.parametrize(
    ("declared", "body"),
    [("3", b"abc"), ("1000000000000", None), ("-1", None)],
    ids=["small body", "over the limit", "malformed length"],
)
def test_a_read_that_declares_a_body_is_answered_by_the_route(
    sqlite_server: LiveServer, declared: str, body: bytes | None
) -> None:
    """The body limits apply to it as to any request: the shortcut leaves it to FastAPI."""
    path = f"/namespaces/{NAMESPACE}/entries/focal"
    headers = {**AUTH["read token"], "Content-Length": declared}
    raw_get(sqlite_server, path, AUTH["read token"])  # the server's view now holds the answer
    direct = raw_get(sqlite_server, path, headers, body)
    assert direct == raw_get(sqlite_server, path + "?through=route", headers, body)
    assert direct[0] == {"3": 200, "-1": 400}.get(declared, 413)
