"""A registration answered before routing (``server.direct_writes``) is the documented route's
answer: same status, headers and body, for new, unchanged and conflicting registrations and for
every kind of bad request. A query string sends the same request through the route, which is
the reference; the two sides write to namespaces whose names have the same length."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from registry.server.direct_writes import DirectRegistrations
from registry.server.writes import Registrations
from registry.store import open_store
from tests.server.conftest import (
    READ_TOKEN,
    WRITE_TOKEN,
    LiveServer,
    raw_request,
    sqlite_live_server,
)

DIRECT, ROUTED = "lab.direct", "lab.routed"  # the same length: the same Content-Length
DRAFT = {"identifier": "focal", "origin": "lab.mod:focal", "doc": "Focal loss.", "scheme": {}}
JSON = {"Content-Type": "application/json"}
WRITE = {**JSON, "Authorization": f"Bearer {WRITE_TOKEN}"}


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("direct_writes")
    live = sqlite_live_server(folder)
    live.start()
    for namespace in (DIRECT, ROUTED):
        status, _, _ = post(live, f"/namespaces/{namespace}", b'{"kind": "function"}', WRITE, "PUT")
        assert status == 200
    yield live
    live.stop()


def post(
    server: LiveServer, path: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    return raw_request(server, method, path, headers, body)


def both(
    server: LiveServer, body: bytes, headers: dict[str, str], namespace: str = ""
) -> tuple[Any, Any]:
    """The answers of the shortcut and of the route to the same registration, each in its
    namespace (or both in ``namespace``'s two spellings), made comparable: the routed
    namespace's name and the creation times are replaced."""

    def answer(name: str, query: str) -> Any:
        status, headers_got, raw = post(server, f"/namespaces/{name}/entries{query}", body, headers)
        text = re.sub(r'"created_at": ?"[^"]*"', '"created_at": "T"', raw.decode())
        text = text.replace(ROUTED, DIRECT)
        assert int(headers_got.pop("content-length")) == len(raw)
        return status, headers_got, text

    direct_name, routed_name = (namespace, namespace) if namespace else (DIRECT, ROUTED)
    return answer(direct_name, ""), answer(routed_name, "?through=route")


def encoded(draft: dict[str, Any]) -> bytes:
    return json.dumps(draft).encode()


CASES: dict[str, tuple[bytes, dict[str, str]]] = {
    "new": (encoded({**DRAFT, "identifier": "fresh"}), WRITE),
    "charset": (
        encoded({**DRAFT, "identifier": "charset"}),
        {**WRITE, "Content-Type": "application/json; charset=utf-8"},
    ),
    "malformed JSON": (b'{"identifier": ', WRITE),
    "not an object": (b"[1, 2]", WRITE),
    "missing origin": (encoded({"identifier": "lonely"}), WRITE),
    "unknown field": (encoded({**DRAFT, "identifier": "extra", "colour": "red"}), WRITE),
    "NUL in identifier": (encoded({**DRAFT, "identifier": "a\x00b"}), WRITE),
    "bad identifier": (encoded({**DRAFT, "identifier": "bad:name"}), WRITE),
    "origin too long": (
        encoded({**DRAFT, "identifier": "long", "origin": "m:" + "x" * 2001}),
        WRITE,
    ),
    "scheme 400 deep": (
        encoded({**DRAFT, "identifier": "deep", "scheme": json.loads("[" * 400 + "]" * 400)}),
        WRITE,
    ),
    "not valid UTF-8": (b'{"identifier": "\xff"}', WRITE),
    "text/plain": (
        encoded({**DRAFT, "identifier": "plain"}),
        {**WRITE, "Content-Type": "text/plain"},
    ),
    "no content type": (
        encoded({**DRAFT, "identifier": "untyped"}),
        {"Authorization": f"Bearer {WRITE_TOKEN}"},
    ),
    "read token": (
        encoded({**DRAFT, "identifier": "reader"}),
        {**JSON, "Authorization": f"Bearer {READ_TOKEN}"},
    ),
    "no token": (encoded({**DRAFT, "identifier": "anonymous"}), JSON),
}


@pytest.mark.parametrize("case", list(CASES))
def test_answers_like_the_documented_route(sqlite_server: LiveServer, case: str) -> None:
    body, headers = CASES[case]
    direct, routed = both(sqlite_server, body, headers)
    assert direct == routed
    assert direct[0] == (200 if case in ("new", "charset") else direct[0])


def test_unchanged_and_conflicting_registrations(sqlite_server: LiveServer) -> None:
    first = encoded({**DRAFT, "identifier": "twice"})
    direct, routed = both(sqlite_server, first, WRITE)
    assert direct == routed and direct[0] == 200
    again = both(sqlite_server, first, WRITE)  # the same draft: unchanged
    assert again[0] == again[1] and again[0][0] == 200
    assert json.loads(again[0][2])["outcome"] != json.loads(direct[2])["outcome"]
    other = encoded({**DRAFT, "identifier": "twice", "origin": "lab.other:twice"})
    conflict = both(sqlite_server, other, WRITE)
    assert conflict[0] == conflict[1] and conflict[0][0] == 409


def test_a_missing_namespace_and_a_malformed_name(sqlite_server: LiveServer) -> None:
    body = encoded({**DRAFT, "identifier": "nowhere"})
    missing = both(sqlite_server, body, WRITE, namespace="lab.nowhere")
    assert missing[0] == missing[1] and missing[0][0] == 404
    malformed = both(sqlite_server, body, WRITE, namespace="bad%20name")
    assert malformed[0] == malformed[1] and malformed[0][0] == 422


# --------------------------------------------------------------- the shortcut itself


def call(app: DirectRegistrations, path: str, body: bytes) -> list[Message]:
    """Run one POST through ``app``; return what it sent."""
    sent: list[Message] = []
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


reached: list[bytes] = []  # the bodies the inner app was given


async def inner(scope: Scope, receive: Receive, send: Send) -> None:
    """The app behind the shortcut (FastAPI in the server): records the body it is given."""
    message = await receive()
    reached.append(message["body"])
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_a_well_formed_registration_is_answered_without_the_route() -> None:
    store = open_store("memory://")
    store.ensure_namespace("lab.short", "function")
    notified: list[None] = []
    app = DirectRegistrations(
        inner, Registrations(store, lambda: notified.append(None)), error_handlers={}
    )
    reached.clear()
    sent = call(app, "/namespaces/lab.short/entries", encoded(DRAFT))
    assert reached == [] and sent[0]["status"] == 200 and notified
    assert store.get_entry("lab.short", "focal") is not None
    malformed = b'{"identifier": 1}'
    sent = call(app, "/namespaces/lab.short/entries", malformed)
    assert reached == [malformed] and sent[0]["status"] == 299  # the route gets it whole
    sent = call(app, "/namespaces/lab.short/other", encoded(DRAFT))
    assert reached == [malformed, encoded(DRAFT)]
