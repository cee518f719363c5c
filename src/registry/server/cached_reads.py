"""The server's most frequent request, answered before FastAPI sees it.

``GET /namespaces/{name}/entries/{identifier}`` is what every client's cache miss and every
uncached ``HttpStore.get_entry`` sends. Through FastAPI, its middleware stack, routing, the
bearer-token dependency and the two validated path parameters cost most of the time the app
spends on it (profiled under 16 concurrent clients; with the app called directly, FastAPI's own
middleware took 9 of the 16 us it spent on a cached read). The app (``server.app.RegistryApp``)
asks :class:`CachedEntryReads` first, and it answers that request itself when the answer is
plain: a GET without a body, with well-formed parameters, a token (if the server has tokens)
that grants reading, and a record the store holds in memory. Everything else (a database read, a
malformed parameter, a missing or refused token, any other request) goes on to FastAPI and the
documented route, so its answers and errors stay the only ones;
``tests/server/test_cached_reads.py`` checks that both answer alike, headers included (the
security headers are added here, as ``SecurityHeadersMiddleware`` adds them to the route's
answer). The body of each record is kept once encoded (a sixth of the time of a cached read went
to encoding it again): records are never changed in place, so a cached body is reused only while
the store still holds the very record it was made from. Imports ``server.auth``,
``server.middleware``, ``server.ui.headers``, ``store.base``, ``store.limits``, ``store.wire``.
"""

from __future__ import annotations

import re

from starlette.types import Scope, Send

from registry.server.auth import TokenTable
from registry.server.middleware import bearer_token, route_path
from registry.server.ui.headers import SECURITY_HEADERS
from registry.store import limits
from registry.store.base import EntryRecord, Store
from registry.store.wire import entry_to_json, json_bytes

__all__ = ["CachedEntryReads"]

_ENTRY_PATH = re.compile(rf"/namespaces/({limits.NAMESPACE_PATTERN})/entries/([^/]+)")
_JSON_HEADERS = [(b"content-type", b"application/json")]
#: Request headers that announce a body: such a request goes to FastAPI, whose body limits apply.
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
_NO_ENTRY = json_bytes({"entry": None})
#: Encoded bodies kept at most (then all are dropped and encoded again as they are asked for):
#: a few MiB for the entries a worker serves most.
BODIES_KEPT = 8192


class CachedEntryReads:
    """Answers ``GET /namespaces/{name}/entries/{identifier}`` from the store's memory."""

    def __init__(self, store: Store, table: TokenTable) -> None:
        self.store = store
        self.table = table
        # (namespace, identifier) -> (the record, its body); used from the event loop only.
        self._bodies: dict[tuple[str, str], tuple[EntryRecord, bytes]] = {}

    async def answer(self, scope: Scope, send: Send) -> bool:
        """Send the response to the request of ``scope`` and return True, or return False
        (having sent nothing) when FastAPI must answer it."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        body = self._answer(scope)
        if body is None:
            return False
        headers = [
            *_JSON_HEADERS,
            (b"content-length", str(len(body)).encode()),
            *SECURITY_HEADERS,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

    def _answer(self, scope: Scope) -> bytes | None:
        """The response body, or ``None`` when the documented route must answer."""
        if scope.get("query_string") or any(
            name in _BODY_HEADERS and value != b"0" for name, value in scope["headers"]
        ):
            return None
        found = _ENTRY_PATH.fullmatch(route_path(scope))
        if found is None or not limits.IDENTIFIER_RE.fullmatch(found[2]):
            return None
        if self.table.is_enabled and self.table.scope_of(bearer_token(scope)) is None:
            return None  # the route answers 401
        key = (found[1], found[2])
        known, record = self.store.cached_entry(*key)
        if not known:
            return None
        if record is None:
            return _NO_ENTRY
        kept = self._bodies.get(key)
        if kept is not None and kept[0] is record:
            return kept[1]
        # The documented route's response, built the same way (server.app._json).
        body = json_bytes({"entry": entry_to_json(record)})
        if len(self._bodies) >= BODIES_KEPT:
            self._bodies.clear()
        self._bodies[key] = (record, body)
        return body
