"""The server's most frequent write, ``POST /namespaces/{name}/entries``, answered before
FastAPI's routing.

Every registration through the documented route pays for FastAPI's routing, its dependency
solving and its body parsing, on the event loop that also answers the worker's gets: with the
app called directly (SQLite), the loop spent 892 us of CPU per registration through the route
and 563-573 us through this shortcut. Under 16 clients with one registration in ten, one
worker served 15-38% more requests (docs/server.md).

:class:`DirectRegistrations` is the innermost middleware: a request reaching it has passed the
token gate (a ``write`` token when the server has tokens) and the body limits (its body is read).
It answers a registration whose path, content type and JSON body are well formed, through the
same :class:`~registry.server.writes.Registrations` as the route, and answers the route's errors
with the app's own exception handlers. Anything else (a malformed body or parameter, a query
string, any other request) goes on to FastAPI with its body, so those answers stay the documented
route's; ``tests/server/test_direct_writes.py`` checks that both answer alike. Imports
``server.middleware``, ``server.responses``, ``server.schemas``, ``server.writes``,
``store.limits``, ``store.wire``.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pydantic
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.server.middleware import put_back, route_path
from registry.server.responses import json_response
from registry.server.schemas import DraftBody
from registry.server.writes import Registrations
from registry.store import limits
from registry.store.base import EntryDraft
from registry.store.wire import draft_from_json, registration_to_json

__all__ = ["DirectRegistrations"]

_REGISTER_PATH = re.compile(rf"/namespaces/({limits.NAMESPACE_PATTERN})/entries")

#: A Starlette exception handler (the app's own are coroutines).
ErrorHandler = Callable[[Request, Any], "Response | Awaitable[Response]"]


class DirectRegistrations:
    """Answers well-formed registrations without FastAPI's routing (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        registrations: Registrations,
        error_handlers: Mapping[Any, ErrorHandler],
    ) -> None:
        self.app = app
        self.registrations = registrations
        # The app's own handlers (``FastAPI.exception_handlers``), read when an error happens.
        self.error_handlers = error_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        namespace = _namespace_of(scope)
        if namespace is None:
            await self.app(scope, receive, send)
            return
        message = await receive()  # the body limits replay the whole body in one message
        draft = None
        if message["type"] == "http.request" and not message.get("more_body", False):
            draft = _draft_of(message.get("body", b""))
        if draft is None:  # the route answers what is malformed, as documented
            await self.app(scope, put_back(message, receive), send)
            return
        try:
            registration = await self.registrations.register(namespace, draft)
        except Exception as error:
            response = await self._error_response(Request(scope, receive), error)
        else:
            response = json_response(registration_to_json(registration))
        await response(scope, receive, send)

    async def _error_response(self, request: Request, error: Exception) -> Response:
        """The answer the app's exception handlers give ``error`` (the most specific class)."""
        for klass in type(error).__mro__:
            handler = self.error_handlers.get(klass)
            if handler is not None:
                answer = handler(request, error)
                return await answer if inspect.isawaitable(answer) else answer
        raise error


def _namespace_of(scope: Scope) -> str | None:
    """The namespace of a registration this middleware answers, else ``None``."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
        return None
    found = _REGISTER_PATH.fullmatch(route_path(scope))
    if found is None:
        return None
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type = value.partition(b";")[0].strip().lower()
            return found[1] if media_type == b"application/json" else None
    return None


def _draft_of(body: bytes) -> EntryDraft | None:
    """The draft of a registration body, validated as the route validates it; ``None`` when
    the body is not a valid ``DraftBody``."""
    try:
        data = json.loads(body)
        validated = DraftBody.model_validate(data)
    except (ValueError, RecursionError, pydantic.ValidationError):  # json's are ValueErrors
        return None
    return draft_from_json(validated.model_dump(mode="json"))
