"""ASGI middleware of the registry server: the token gate, then the request body limits.

Order matters. :class:`TokenGate` runs first and refuses a request without a valid token once
its headers are in, before a byte of its body is read, so an unauthenticated client cannot make
the server buffer anything. :class:`BodyLimitMiddleware` then reads each body within a size
limit (413) and a deadline (408), under a byte budget shared by every request of the process,
so many large uploads at once wait for each other instead of filling memory.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.errors import PermissionDeniedError
from registry.server.auth import Scope as TokenScope
from registry.server.auth import TokenTable

__all__ = [
    "BodyBudget",
    "BodyLimitMiddleware",
    "TokenGate",
    "bearer_token",
    "error_body",
    "put_back",
    "route_path",
]

#: Routes of the HTTP API (bearer tokens); the web page's forms are everything else.
API_PREFIXES = ("/namespaces", "/blobs", "/stats", "/generations", "/changes")
#: Forms anyone may post: signing in and out of the web page.
PUBLIC_FORMS = frozenset({"/login", "/logout"})
#: Bodies up to this size are read without touching the shared budget.
_SMALL_BODY = 64 * 1024

T = TypeVar("T")


async def _within(awaitable: Awaitable[T], seconds: float) -> T:
    """``await`` with a deadline (raises ``asyncio.TimeoutError``).

    ``asyncio.timeout`` (3.11) arms a timer on the current task; ``wait_for`` on 3.11 wraps the
    awaitable in a task of its own, about 15-20 us more for every request with a body.
    """
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


def error_body(error_type: str, message: str, **context: Any) -> dict[str, Any]:
    """Return the JSON error body every non-2xx response of the server carries."""
    return {
        "error": {"type": error_type, "message": message, "suggestions": [], "context": context}
    }


async def _respond(
    send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Send a JSON response and ask for the connection to be closed after it."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _drain(receive: Receive, limit: int, timeout: float) -> bool:
    """Read and discard the request body, up to ``limit`` bytes within ``timeout`` seconds.

    A client still sending when the server closes gets a connection reset instead of the
    answer; draining a body of reasonable size first lets it read the 4xx. Return whether the
    whole body was read.
    """

    async def discard() -> bool:
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return False
            seen += len(message.get("body", b""))
            if seen > limit:
                return False
            if not message.get("more_body", False):
                return True

    try:
        return await _within(discard(), timeout)
    except asyncio.TimeoutError:
        return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


def route_path(scope: Scope) -> str:
    """The request's path below the app's ``root_path`` (where it is mounted behind a proxy)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def bearer_token(scope: Scope) -> str | None:
    """The token of the request's ``Authorization: Bearer`` header, if any."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


class TokenGate:
    """Checks the credentials of every request that carries a body before the body is read.

    Routes check tokens themselves too (and every ``GET``), but only once the body has been
    read; this gate keeps a client without a valid token from making the server buffer
    anything. API writes need a ``write`` bearer token; the web page's forms a bearer token or
    its session cookie; signing in and out needs nothing; a read-only app (``registry ui``)
    answers every API write 405. A refused request with a small body has it drained first, so
    the client reads the answer instead of a reset.
    """

    def __init__(
        self,
        app: ASGIApp,
        table: TokenTable,
        session_cookie: str | None = None,
        read_only: bool = False,
        drain_timeout: float = 5.0,
    ) -> None:
        self.app = app
        self.table = table
        self.session_cookie = session_cookie
        self.read_only = read_only
        self.drain_timeout = drain_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or not self.table.is_enabled
        ):
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path in PUBLIC_FORMS:
            await self.app(scope, receive, send)
            return
        if self.read_only and path.startswith(API_PREFIXES):
            await self._refuse(
                scope, receive, send, 405, error_body("ValidationError", "Method Not Allowed")
            )
            return
        try:
            if path.startswith(API_PREFIXES) or not self._has_session(scope):
                needed: TokenScope = "write" if path.startswith(API_PREFIXES) else "read"
                self.table.check(bearer_token(scope), needed)
        except PermissionDeniedError as error:
            status = 401 if error.context.get("status") == 401 else 403
            headers = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            answer = {"error": error.to_dict()}
            await self._refuse(scope, receive, send, status, answer, headers=headers)
            return
        await self.app(scope, receive, send)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        body: dict[str, Any],
        *,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        declared = _content_length(scope)
        if declared is not None and 0 < declared <= _SMALL_BODY:
            await _drain(receive, _SMALL_BODY, self.drain_timeout)
        await _respond(send, status, body, headers)

    def _has_session(self, scope: Scope) -> bool:
        if self.session_cookie is None:
            return False
        prefix = self.session_cookie.encode() + b"="
        for name, value in scope["headers"]:
            if name == b"cookie":
                for raw in value.split(b";"):
                    part = raw.strip()
                    if part.startswith(prefix):
                        return self.table.has_session(part[len(prefix) :].decode("latin-1"))
        return False


class BodyBudget:
    """Bytes of request bodies all requests of one process may hold at once."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._used = 0
        self._freed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._freed is None:  # made on first use, inside the server's event loop
            self._freed = asyncio.Condition()
        return self._freed

    async def acquire(self, size: int) -> None:
        """Wait until ``size`` bytes fit in the budget and take them."""
        size = min(size, self.total)
        freed = self._condition()
        async with freed:
            await freed.wait_for(lambda: self._used + size <= self.total)
            self._used += size

    async def release(self, size: int) -> None:
        size = min(size, self.total)
        freed = self._condition()
        async with freed:
            self._used -= size
            freed.notify_all()


class BodyLimitMiddleware:
    """Reads each request body up to ``max_body_bytes`` within ``body_timeout`` seconds.

    Too large: 413, after draining up to ``drain_limit`` bytes so the client reads the answer.
    Too slow: 408. The body is buffered here and replayed to the app, so an oversize chunked
    upload is refused as cleanly as one with an honest ``Content-Length``. Bodies larger than
    64 KiB first take their size from the shared ``budget``.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_timeout: float = 60.0,
        budget: BodyBudget | None = None,
        drain_limit: int | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.budget = budget or BodyBudget(max(4 * max_body_bytes, 64 * 1024 * 1024))
        self.drain_limit = (
            max(max_body_bytes, 16 * 1024 * 1024) if drain_limit is None else drain_limit
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared < 0:
            await _respond(
                send, 400, error_body("ValidationError", "Invalid Content-Length header")
            )
            return
        if declared is not None and declared > self.max_body_bytes:
            if declared <= self.drain_limit:
                await _drain(receive, self.drain_limit, self.body_timeout)
            await self._too_large(send)
            return
        if declared == 0 or (declared is None and scope["method"] in ("GET", "HEAD")):
            await self.app(scope, receive, send)
            return
        reserved = self.max_body_bytes if declared is None else declared
        if reserved <= _SMALL_BODY:
            reserved = 0
        try:
            body = await _within(self._read(receive, reserved), self.body_timeout)
        except _TooLarge:
            await self._too_large(send)
            return
        except asyncio.TimeoutError:
            await _respond(
                send,
                408,
                error_body(
                    "ValidationError",
                    f"The request body did not arrive within {self.body_timeout:g} s",
                    limit=self.body_timeout,
                ),
            )
            return
        if body is None:
            return  # the client went away
        whole = {"type": "http.request", "body": body, "more_body": False}
        try:
            await self.app(scope, put_back(whole, receive), send)
        finally:
            if reserved:
                await self.budget.release(reserved)

    async def _read(self, receive: Receive, reserved: int) -> bytes | None:
        """The whole body (``None``: the client went away), holding ``reserved`` bytes of the
        budget; they are released here unless the body is returned.

        Raises:
            _TooLarge: the body grew past the limit (what followed was drained).
        """
        if reserved:
            await self.budget.acquire(reserved)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body_bytes:
                    chunks.clear()
                    if message.get("more_body", False):  # else there is nothing left to wait for
                        await _drain(receive, self.drain_limit - size, self.body_timeout)
                    raise _TooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        except BaseException:
            if reserved:
                await self.budget.release(reserved)
            raise
        if reserved:
            await self.budget.release(reserved)
        return None

    async def _too_large(self, send: Send) -> None:
        await _respond(
            send,
            413,
            error_body(
                "ValidationError",
                f"Request body exceeds the server limit of {self.max_body_bytes} bytes",
                limit=self.max_body_bytes,
            ),
        )


class _TooLarge(Exception):
    """A chunked body grew past the limit while it was read."""


def put_back(message: Message, receive: Receive) -> Receive:
    """A ``receive`` that gives ``message`` (received already), then what ``receive`` gives."""
    given = False

    async def receive_again() -> Message:
        nonlocal given
        if not given:
            given = True
            return message
        return await receive()

    return receive_again
