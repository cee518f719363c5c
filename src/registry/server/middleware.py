"""ASGI middleware of the registry server: the request body size limit (413)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "error_body"]


def error_body(error_type: str, message: str, **context: Any) -> dict[str, Any]:
    """Return the JSON error body every non-2xx response of the server carries."""
    return {
        "error": {"type": error_type, "message": message, "suggestions": [], "context": context}
    }


class BodyLimitMiddleware:
    """Reads each request body up to ``max_body_bytes`` and answers 413 past it.

    The body is buffered here and replayed to the app, so an oversize chunked upload is refused
    as cleanly as one with an honest ``Content-Length``.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and (declared < 0 or declared > self.max_body_bytes):
            await self._refuse(send, declared)
            return
        chunks: list[bytes] = []
        size = 0
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(send, size)
                return
            chunks.append(chunk)
            more_body = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: int) -> None:
        status = 413 if size >= 0 else 400
        message = (
            f"Request body exceeds the server limit of {self.max_body_bytes} bytes"
            if status == 413
            else "Invalid Content-Length header"
        )
        payload = json.dumps(
            error_body("ValidationError", message, limit=self.max_body_bytes)
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None
