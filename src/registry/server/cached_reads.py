"""The server's most frequent request, answered before FastAPI routes it.

``GET /namespaces/{name}/entries/{identifier}`` is what every client's cache miss and every
uncached ``HttpStore.get_entry`` sends. Through FastAPI, the bearer-token dependency and the
two validated path parameters cost about 40 us of the ~90 us the app spends on it. This ASGI
middleware answers that request itself when the answer is plain: a GET with well-formed
parameters, a token (if the server has tokens) that grants reading, and a record the store holds
in memory. Everything else (a database read, a malformed parameter, a missing or refused token,
any other request) goes on to the documented route, so its answers and errors stay the only
ones; ``tests/server/test_cached_reads.py`` checks that both answer alike.
Imports ``server.auth``, ``server.schemas``, ``store.base``, ``store.wire``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.server.auth import TokenTable
from registry.server.schemas import IDENTIFIER_PATTERN, NAMESPACE_PATTERN
from registry.store.base import Store
from registry.store.wire import entry_to_json

__all__ = ["CachedEntryReads"]

_ENTRY_PATH = re.compile(
    "/namespaces/(?P<name>{})/entries/(?P<identifier>{})".format(
        NAMESPACE_PATTERN.strip("^$"), IDENTIFIER_PATTERN.strip("^$")
    )
)


class CachedEntryReads:
    """Answers ``GET /namespaces/{name}/entries/{identifier}`` from the store's memory."""

    def __init__(self, app: ASGIApp, store: Store, tokens: TokenTable) -> None:
        self.app = app
        self._store = store
        self._tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self._answer(scope) if scope["type"] == "http" else None
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    def _answer(self, scope: Scope) -> Response | None:
        """The response body, or ``None`` when the documented route must answer."""
        if scope["method"] != "GET" or scope.get("root_path") or scope.get("query_string"):
            return None
        found = _ENTRY_PATH.fullmatch(scope["path"])
        if found is None or not self._allowed(scope):
            return None
        known, record = self._store.cached_entry(found["name"], found["identifier"])
        if not known:
            return None
        data: dict[str, Any] = {"entry": None if record is None else entry_to_json(record)}
        # The documented route's response, built the same way (server.app._json).
        return Response(json.dumps(data, separators=(",", ":")), media_type="application/json")

    def _allowed(self, scope: Scope) -> bool:
        if not self._tokens.is_enabled:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                return scheme.lower() == "bearer" and self._tokens.scope_of(token) is not None
        return False
