"""The registry server's ASGI app: HTTP routes to ``Store`` calls, errors to JSON bodies.

Stateless: every route is one call on the ``Store`` it was created with, so several workers
or servers can run behind one database. Imports ``errors``, ``store`` and ``server.*``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Receive, Send
from starlette.types import Scope as ASGIScope

from registry import settings
from registry.errors import (
    NotFoundError,
    PermissionDeniedError,
    RegistryError,
    StoreError,
    ValidationError,
    jsonable,
)
from registry.server.auth import Scope, TokenTable
from registry.server.cached_reads import CachedEntryReads
from registry.server.change_sets import ChangeSets
from registry.server.changes import ChangeHub
from registry.server.direct_writes import DirectRegistrations
from registry.server.middleware import BodyLimitMiddleware, TokenGate, error_body
from registry.server.responses import (
    BatchResults,
    BlobAnswer,
    Changes,
    EnsuredNamespace,
    EntryAnswer,
    EntryList,
    Generations,
    Health,
    IdentifierList,
    NamespaceAnswer,
    NamespaceChanges,
    NamespaceList,
    Registration,
    RemovedCount,
    RemovedFlag,
    Stats,
    error_responses,
    json_response,
)
from registry.server.schemas import (
    SHA256_PATTERN,
    BatchBody,
    DraftBody,
    Identifier,
    NamespaceBody,
    NamespaceName,
)
from registry.server.ui import SecurityHeadersMiddleware, add_ui_routes
from registry.server.ui.routes import SESSION_COOKIE
from registry.server.writes import Registrations
from registry.store.base import Store
from registry.store.wire import (
    blob_to_json,
    draft_from_json,
    entry_to_json,
    namespace_to_json,
    registration_to_json,
    result_to_json,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "SERVICE_NAME", "create_app"]

SERVICE_NAME = "registry-server"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
#: Seconds a request body may take to arrive (slow uploads get 408).
DEFAULT_BODY_TIMEOUT = 60.0
#: Longest long-poll a client may ask for; proxies often cut idle requests at 60 s.
MAX_CHANGE_WAIT = 55.0

_log = logging.getLogger("registry.server")

# The errors each kind of route documents in the OpenAPI description (see server.responses).
_LIST_ERRORS = error_responses(401, 503)
_READ_ERRORS = error_responses(401, 422, 503)
_WRITE_ERRORS = error_responses(400, 401, 403, 409, 413, 422, 503)
_DELETE_ERRORS = error_responses(401, 403, 422, 503)
_CHANGES_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_READ_ERRORS,
    204: {"description": "The client hung up before anything changed"},
}

BearerCredentials = Annotated[
    HTTPAuthorizationCredentials | None,
    Depends(HTTPBearer(auto_error=False, description="the client's REGISTRY_TOKEN")),
]


def _status_of(error: ValidationError) -> int:
    if isinstance(error, PermissionDeniedError):
        status = error.context.get("status")
        return status if status in (401, 403) else 403
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, RegistryError):
        return 409
    if isinstance(error, StoreError):
        return 503
    return 422


def create_app(
    store: Store,
    tokens: Mapping[str, Scope] | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    change_poll_interval: float = 0.05,
    read_only: bool = False,
) -> FastAPI:
    """Return the ASGI app serving ``store``.

    Args:
        store: any backend; the app keeps no state of its own.
        tokens: bearer token -> ``"read"`` or ``"write"``; none means every request is allowed.
        max_body_bytes: larger request bodies are refused with 413.
        body_timeout: seconds a request body may take to arrive (408 after).
        change_poll_interval: seconds between generation polls while change requests wait.
        read_only: leave out the write routes (``registry ui``).
    """
    table = TokenTable(tokens)
    hub = ChangeHub(store, change_poll_interval)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    instrumented = _instrumented(settings.opentelemetry_configured())
    app = RegistryApp(
        title="registry server",
        summary="Namespaces of registered artifacts, shared over HTTP",
        version="1",
        lifespan=lifespan,
        # The web page serves /docs from the package (offline); ReDoc would need a CDN.
        docs_url=None,
        redoc_url=None,
        **_telemetry_option(instrumented),
    )
    if not instrumented:  # with OpenTelemetry on, every request goes through FastAPI's spans
        app.entry_reads = CachedEntryReads(store, table)
    _install_error_handlers(app)
    # Concurrent registrations of a namespace go in arrival order, together (server/writes.py).
    registrations = Registrations(store, hub.notify)
    if not read_only and not instrumented:
        # Innermost: a registration reaching it has passed the token gate and the body limits.
        app.add_middleware(
            DirectRegistrations,
            registrations=registrations,
            error_handlers=app.exception_handlers,
        )
    app.add_middleware(
        BodyLimitMiddleware, max_body_bytes=max_body_bytes, body_timeout=body_timeout
    )
    app.add_middleware(SecurityHeadersMiddleware)
    # The last one added runs first: a request with a body is refused before the body is read.
    app.add_middleware(TokenGate, table=table, session_cookie=SESSION_COOKIE, read_only=read_only)
    read, write = _scope_dependencies(table)
    _add_service_routes(app, store, read)
    _add_read_routes(app, store, hub, read)
    if not read_only:
        _add_write_routes(app, store, hub, registrations, write)
    add_ui_routes(app, store, hub, table, read_only=read_only)
    return app


class RegistryApp(FastAPI):
    """The server's FastAPI app, which hands each request to :attr:`entry_reads` first."""

    entry_reads: CachedEntryReads | None = None
    """Answers the entry reads the store holds in memory before FastAPI's middleware and
    routing (``server/cached_reads.py``); everything else goes on to FastAPI."""

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        entry_reads = self.entry_reads
        if entry_reads is not None and await entry_reads.answer(scope, send):
            return
        await super().__call__(scope, receive, send)


_HAS_INSTRUMENTATION = "telemetry" in inspect.signature(FastAPI.__init__).parameters


def _instrumented(opentelemetry_configured: bool) -> bool:
    """Whether FastAPI's OpenTelemetry instrumentation stays on: when FastAPI has it (0.165
    and later) and the environment configures OpenTelemetry
    (:func:`registry.settings.opentelemetry_configured`)."""
    return _HAS_INSTRUMENTATION and opentelemetry_configured


def _telemetry_option(instrumented: bool) -> dict[str, Any]:
    """FastAPI's ``telemetry`` argument: its instrumentation switched off unless
    ``instrumented``. FastAPI asks on every request whether OpenTelemetry is configured: three
    provider lookups and environment reads, which took 40% of the time the app spent on a
    cached entry read. FastAPI versions without the instrumentation get nothing.
    """
    if instrumented or not _HAS_INSTRUMENTATION:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def _scope_dependencies(table: TokenTable) -> tuple[Any, Any]:
    def dependency(
        needed: Scope,
    ) -> Callable[[HTTPAuthorizationCredentials | None], Awaitable[None]]:
        async def check(credentials: BearerCredentials) -> None:
            table.check(None if credentials is None else credentials.credentials, needed)

        return check

    return Depends(dependency("read")), Depends(dependency("write"))


def _add_service_routes(app: FastAPI, store: Store, read: Any) -> None:
    @app.get("/health", tags=["service"], response_model=Health)
    async def health() -> dict[str, str]:
        """Liveness probe; needs no token."""
        return {"status": "healthy", "service": SERVICE_NAME}

    @app.get(
        "/stats",
        tags=["service"],
        dependencies=[read],
        response_model=Stats,
        responses=_LIST_ERRORS,
    )
    def stats() -> Response:
        """Namespaces, entries and per-namespace sizes."""
        spaces = store.list_namespaces()
        return json_response(
            {
                "namespaces": len(spaces),
                "entries": sum(space.size for space in spaces),
                "sizes": {space.name: space.size for space in spaces},
            }
        )


def _add_read_routes(app: FastAPI, store: Store, hub: ChangeHub, read: Any) -> None:
    change_sets = ChangeSets(store)

    @app.get(
        "/namespaces",
        tags=["read"],
        dependencies=[read],
        response_model=NamespaceList,
        responses=_LIST_ERRORS,
    )
    def list_namespaces() -> Response:
        return json_response(
            {"namespaces": [namespace_to_json(r) for r in store.list_namespaces()]}
        )

    @app.get(
        "/namespaces/{name}",
        tags=["read"],
        dependencies=[read],
        response_model=NamespaceAnswer,
        responses=_READ_ERRORS,
    )
    def get_namespace(name: NamespaceName) -> Response:
        """The namespace, or ``null``; a read never creates it."""
        record = store.get_namespace(name)
        return json_response({"namespace": None if record is None else namespace_to_json(record)})

    @app.get(
        "/namespaces/{name}/entries",
        tags=["read"],
        dependencies=[read],
        response_model=EntryList,
        responses=_READ_ERRORS,
    )
    def list_entries(name: NamespaceName) -> Response:
        return json_response({"entries": [entry_to_json(r) for r in store.list_entries(name)]})

    @app.get(
        "/namespaces/{name}/identifiers",
        tags=["read"],
        dependencies=[read],
        response_model=IdentifierList,
        responses=_READ_ERRORS,
    )
    def list_identifiers(name: NamespaceName) -> Response:
        """Every registered identifier, in registration order."""
        return json_response({"identifiers": store.list_identifiers(name)})

    @app.get(
        "/namespaces/{name}/changes",
        tags=["read"],
        dependencies=[read],
        response_model=NamespaceChanges,
        responses=_READ_ERRORS,
    )
    async def namespace_changes(
        name: NamespaceName,
        since: Annotated[int, Query(ge=0)] = 0,
        at_least: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        """What changed in the namespace after generation ``since`` (a listener's catch-up).

        ``at_least``: the generation the client knows the namespace reached; an answer read
        for another listener that reaches it may be shared (server/change_sets.py).
        """
        body = await change_sets.body(name, since, at_least)
        return Response(body, media_type="application/json")

    @app.get(
        "/namespaces/{name}/entries/{identifier}",
        tags=["read"],
        dependencies=[read],
        response_model=EntryAnswer,
        responses=_READ_ERRORS,
    )
    async def get_entry(name: NamespaceName, identifier: Identifier) -> Response:
        # A record the store holds in memory is usually answered before routing
        # (server.cached_reads); here, it is answered on the event loop, and a database read
        # goes to the thread pool, so it never blocks the loop.
        known, record = store.cached_entry(name, identifier)
        if not known:
            record = await run_in_threadpool(store.get_entry, name, identifier)
        return json_response({"entry": None if record is None else entry_to_json(record)})

    @app.get(
        "/namespaces/{name}/entries/{identifier}/history",
        tags=["read"],
        dependencies=[read],
        response_model=EntryList,
        responses=_READ_ERRORS,
    )
    def history(name: NamespaceName, identifier: Identifier) -> Response:
        return json_response(
            {"entries": [entry_to_json(r) for r in store.history(name, identifier)]}
        )

    @app.get(
        "/blobs/{sha256}",
        tags=["read"],
        dependencies=[read],
        response_model=BlobAnswer,
        responses=_READ_ERRORS,
    )
    def get_blob(sha256: Annotated[str, Path(pattern=SHA256_PATTERN)]) -> Response:
        """A pickled payload as opaque base64 bytes, or ``null``."""
        blob = store.get_blob(sha256)
        return json_response({"blob": None if blob is None else blob_to_json(blob)})

    @app.get(
        "/generations",
        tags=["read"],
        dependencies=[read],
        response_model=Generations,
        responses=_LIST_ERRORS,
    )
    def generations() -> Response:
        return json_response({"generations": store.generations()})

    @app.get(
        "/changes",
        tags=["read"],
        dependencies=[read],
        response_model=Changes,
        responses=_CHANGES_RESPONSES,
    )
    async def changes(
        request: Request,
        since: Annotated[str | None, Query(max_length=64)] = None,
        timeout: Annotated[float, Query(ge=0, le=MAX_CHANGE_WAIT)] = 20.0,
    ) -> Response:
        """Long-poll: answers once the change token differs from ``since`` (or at timeout)
        with the new token and every namespace generation."""
        waiting = asyncio.ensure_future(hub.wait(since, timeout))
        # A client that hangs up should not hold its poll open until the timeout.
        hangup = asyncio.ensure_future(_disconnected(request))
        await asyncio.wait({waiting, hangup}, return_when=asyncio.FIRST_COMPLETED)
        hangup.cancel()
        if not waiting.done():
            waiting.cancel()
            return Response(status_code=204)
        token, current = waiting.result()
        return json_response({"token": token, "generations": current})


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _add_write_routes(
    app: FastAPI, store: Store, hub: ChangeHub, registrations: Registrations, write: Any
) -> None:
    @app.put(
        "/namespaces/{name}",
        tags=["write"],
        dependencies=[write],
        response_model=EnsuredNamespace,
        responses=_WRITE_ERRORS,
    )
    def ensure_namespace(name: NamespaceName, body: NamespaceBody) -> Response:
        """Create the namespace with ``kind`` if missing (409 if it holds another kind)."""
        record = store.ensure_namespace(name, body.kind)
        hub.notify()
        return json_response({"namespace": namespace_to_json(record)})

    @app.post(
        "/namespaces/{name}/entries",
        tags=["write"],
        dependencies=[write],
        response_model=Registration,
        responses=_WRITE_ERRORS,
    )
    async def register(name: NamespaceName, body: DraftBody) -> Response:
        """Register one artifact; 409 when another artifact holds the identifier."""
        draft = draft_from_json(body.model_dump(mode="json"))
        registration = await registrations.register(name, draft)
        return json_response(registration_to_json(registration))

    @app.post(
        "/namespaces/{name}/batch",
        tags=["write"],
        dependencies=[write],
        response_model=BatchResults,
        responses=_WRITE_ERRORS,
    )
    def register_batch(name: NamespaceName, body: BatchBody) -> Response:
        """Register many artifacts in one store transaction, with a result per draft."""
        drafts = [draft_from_json(draft.model_dump(mode="json")) for draft in body.drafts]
        try:
            results = store.register_batch(name, drafts)
        finally:
            hub.notify()
        return json_response({"results": [result_to_json(r) for r in results]})

    @app.delete(
        "/namespaces/{name}/entries/{identifier}",
        tags=["write"],
        dependencies=[write],
        response_model=RemovedFlag,
        responses=_DELETE_ERRORS,
    )
    def unregister(name: NamespaceName, identifier: Identifier) -> Response:
        removed = store.unregister(name, identifier)
        hub.notify()
        return json_response({"removed": removed})

    @app.delete(
        "/namespaces/{name}/entries",
        tags=["write"],
        dependencies=[write],
        response_model=RemovedCount,
        responses=_DELETE_ERRORS,
    )
    def clear(name: NamespaceName) -> Response:
        removed = store.clear(name)
        hub.notify()
        return json_response({"removed": removed})


def _install_error_handlers(app: FastAPI) -> None:
    async def registry_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ValidationError)
        headers = {"WWW-Authenticate": "Bearer"} if _status_of(exc) == 401 else None
        response = json_response({"error": exc.to_dict()}, _status_of(exc))
        if headers:
            response.headers.update(headers)
        return response

    async def invalid_request(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        if any(p["type"] == "json_invalid" for p in problems):
            return json_response(
                error_body("ValidationError", "Malformed JSON body", errors=problems), 400
            )
        first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"])
        message = f"Invalid request: {where}: {first['msg']}" if where else "Invalid request"
        return json_response(error_body("ValidationError", message, errors=jsonable(problems)), 422)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return json_response(error_body("ValidationError", str(exc.detail)), exc.status_code)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Log the traceback here; the client gets a JSON body without internals.
        _log.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return json_response(error_body("StoreError", "Internal server error"), 500)

    app.add_exception_handler(ValidationError, registry_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
