"""The web page's routes: HTML pages, their JSON twins, the live event stream, sign-in, the
offline API docs and the static assets.

Pages are rendered on the server (Jinja2, autoescaped: stored strings are always text). The
page script asks for the same URL with ``X-Registry-Fragment: live`` to replace the changing
part of a page (filter as you type, live updates), so there is one renderer for each view.
Every route only reads the store.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.staticfiles import StaticFiles

from registry.errors import PermissionDeniedError, RegistryError, closest_names, did_you_mean
from registry.refs import drift_state
from registry.server.auth import TokenTable, session_value
from registry.server.changes import ChangeHub
from registry.server.middleware import bearer_token
from registry.server.responses import error_responses
from registry.server.schemas import NAMESPACE_PATTERN, Identifier, NamespaceName
from registry.server.ui import checks, forms, views
from registry.server.ui.catalog import (
    SORT_KEYS,
    Catalog,
    NamespaceIndex,
    Outline,
    SortKey,
    words_of,
)
from registry.store.base import EntryRecord, Store

__all__ = ["SESSION_COOKIE", "add_ui_routes"]

SESSION_COOKIE = "registry_session"
#: The header the page script sends to get only the changing part of a page.
FRAGMENT_HEADER = "x-registry-fragment"
PAGE_SIZE = 50
#: Seconds between keep-alive comments on the event stream (proxies drop silent streams).
HEARTBEAT = 15.0
SESSION_DAYS = 30

_SORT_LABELS: dict[SortKey, str] = {
    "identifier": "Identifier",
    "origin": "Import path",
    "version": "Version",
    "created_by": "Registered by",
    "created_at": "Registered at",
}
_NAMESPACE = re.compile(NAMESPACE_PATTERN)
_V = TypeVar("_V", bound="NamespaceIndex | Outline")

# Declared for the OpenAPI description (Swagger's "Authorize"); the page itself uses a session.
BearerCredentials = Annotated[
    HTTPAuthorizationCredentials | None,
    Depends(HTTPBearer(auto_error=False, description="a read token")),
]


def _package_version() -> str:
    try:
        return version("registry")
    except PackageNotFoundError:  # running from a source tree
        return "dev"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("registry.server.ui", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    stamp = _package_version()
    env.globals.update(
        browse_url=views.browse_url,
        drift_of=views.drift_of,
        summary_of=views.summary_of,
        when=views.when,
        static=lambda name: f"/static/{name}?v={stamp}",
        package_version=stamp,
    )
    return env


class _Ui:
    """What every route of the page needs: the store, its indexes, access rules, templates."""

    def __init__(self, store: Store, hub: ChangeHub, table: TokenTable, read_only: bool) -> None:
        self.store = store
        self.hub = hub
        self.table = table
        self.catalog = Catalog(store)
        self.env = _environment()
        self.common = {
            "store_label": views.store_label(store.url),
            "read_only": read_only,
            "signed_in": table.is_enabled,
            "live_mode": "refresh",
            "watch": {},
        }

    # -- access: anyone without tokens; else a bearer token or the page's session cookie

    def allowed(self, request: Request) -> bool:
        if not self.table.is_enabled:
            return True
        if self.table.scope_of(bearer_token(request.scope)) is not None:
            return True
        return self.table.has_session(request.cookies.get(SESSION_COOKIE))

    def require(self, request: Request) -> None:
        """Raise the 401 error unless ``request`` may read."""
        if not self.allowed(request):
            raise PermissionDeniedError(
                "Missing or unknown token: sign in on the page or send a bearer token",
                suggestions=["Open /login in the browser, or set REGISTRY_TOKEN"],
                context={"status": 401},
            )

    # -- rendering

    def render(
        self, request: Request, template: str, context: Mapping[str, Any], status_code: int = 200
    ) -> HTMLResponse:
        """Render a page, or only its ``live`` block when the page script asks for it."""
        page = self.env.get_template(template)
        values = {**self.common, **context}
        if request.headers.get(FRAGMENT_HEADER) == "live":
            html = "".join(page.blocks["live"](page.new_context(values)))
        else:
            html = page.render(values)
        return HTMLResponse(html, status_code, headers={"Cache-Control": "no-store"})

    def not_found(self, request: Request, heading: str, message: str, **extra: Any) -> HTMLResponse:
        context = {
            "title": heading,
            "heading": heading,
            "message": message,
            "suggestions": [],
            "back_url": "/",
            "back_label": "All namespaces",
            **extra,
        }
        return self.render(request, "message.html", context, status_code=404)

    # -- lookups for pages: they answer the sign-in redirect or a 404 page instead

    def namespace(self, request: Request, name: str) -> NamespaceIndex | Response:
        return self._found(request, name, self.catalog.namespace)

    def preview(self, request: Request, name: str) -> NamespaceIndex | Outline | Response:
        """The index of ``name``, or an outline of a large namespace not read yet."""
        return self._found(request, name, self.catalog.preview)

    def _found(
        self, request: Request, name: str, read: Callable[[str], _V | None]
    ) -> _V | Response:
        if not self.allowed(request):
            return _sign_in_redirect(request)
        index = read(name) if _NAMESPACE.fullmatch(name) else None
        if index is not None:
            return index
        close = closest_names(name, [n.name for n in self.store.list_namespaces()])
        return self.not_found(
            request,
            "No such namespace",
            f"The store holds no namespace called “{name}”.",
            suggestions=[did_you_mean(close)] if close else [],
        )

    def entry(
        self, request: Request, name: str, identifier: str
    ) -> tuple[NamespaceIndex, EntryRecord] | Response:
        index = self.namespace(request, name)
        if isinstance(index, Response):
            return index
        record = index.get(identifier)
        if record is not None:
            return index, record
        close = closest_names(identifier, [e.identifier for e in index.entries])
        return self.not_found(
            request,
            "No such entry",
            f"Nothing is registered as “{identifier}” in {name} (any more).",
            suggestions=[did_you_mean(close)] if close else [],
            back_url=views.browse_url(name),
            back_label=f"All of {name}",
        )


def _sign_in_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _local_target(candidate: str | None) -> str:
    """Return ``candidate`` if it is a path on this server (no open redirect), else ``/``."""
    if candidate and candidate.startswith("/") and not candidate.startswith(("//", "/\\")):
        return candidate
    return "/"


def _first_look(request: Request) -> bool:
    """Whether a whole page is asked for: it may show an outline of a large namespace not read
    yet. The page script then asks for the live part, and those requests wait for the index."""
    return request.headers.get(FRAGMENT_HEADER) != "live"


def _watch(*indexes: NamespaceIndex | Outline, every: bool = False) -> dict[str, Any]:
    """What the page script compares with the change events: these namespaces' generations,
    and whether any other namespace appearing matters too (the overview)."""
    return {"all": every, "namespaces": {i.record.name: i.record.generation for i in indexes}}


def _page_number(value: str | None, pages: int) -> int:
    try:
        number = int(value or 1)
    except ValueError:
        number = 1
    return max(1, min(pages, number))


def add_ui_routes(
    app: FastAPI, store: Store, hub: ChangeHub, table: TokenTable, *, read_only: bool
) -> None:
    """Add the web page to ``app``: pages, sign-in, live events, JSON twins, docs, assets."""
    ui = _Ui(store, hub, table, read_only)
    _add_browse_pages(app, ui)
    _add_builder_pages(app, ui)
    _add_sign_in(app, ui)
    _add_events(app, ui)
    _add_json_twins(app, ui)
    _add_docs_and_assets(app, ui)


def _add_browse_pages(app: FastAPI, ui: _Ui) -> None:
    @app.get("/", include_in_schema=False)
    def overview(request: Request, q: str = "") -> Response:
        if not ui.allowed(request):
            return _sign_in_redirect(request)
        total, hits = ui.catalog.search(q) if q.strip() else (0, [])
        quick = _first_look(request) and not q.strip()
        indexes = ui.catalog.previews() if quick else ui.catalog.namespaces()
        context = {
            "title": "Namespaces",
            "namespaces": indexes,
            "query": q,
            "total": total,
            "hits": hits,
            "watch": _watch(*indexes, every=True),
        }
        return ui.render(request, "overview.html", context)

    @app.get("/browse/{name}", include_in_schema=False)
    def namespace_page(request: Request, name: str) -> Response:
        params = request.query_params
        query = params.get("q", "")
        sort: SortKey = next((k for k in SORT_KEYS if k == params.get("sort")), "identifier")
        descending = params.get("order") == "desc"
        quick = _first_look(request) and not words_of(query) and sort == "identifier"
        index = ui.preview(request, name) if quick else ui.namespace(request, name)
        if isinstance(index, Response):
            return index
        total = index.page(query, sort=sort, descending=descending, limit=0).total
        pages = max(1, math.ceil(total / PAGE_SIZE))
        number = _page_number(params.get("page"), pages)
        page = index.page(
            query,
            sort=sort,
            descending=descending,
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        context = {
            "title": name,
            "index": index,
            "page": page,
            "query": query,
            "sort": sort,
            "order": "desc" if descending else "asc",
            "descending": descending,
            "page_number": number,
            "pages": pages,
            "sort_labels": _SORT_LABELS,
            "narrow_hidden": ("origin", "created_by", "created_at"),
            "watch": _watch(index),
        }
        return ui.render(request, "namespace.html", context)

    @app.get("/browse/{name}/{identifier}", include_in_schema=False)
    def entry_page(request: Request, name: str, identifier: str) -> Response:
        found = ui.entry(request, name, identifier)
        if isinstance(found, Response):
            return found
        index, record = found
        context = {
            "title": f"{identifier} · {name}",
            "entry": record,
            "kind": index.record.kind,
            "fields": forms.config_fields(record.scheme),
            "snippets": forms.snippets(record),
            "versions": views.timeline(ui.catalog.store.history(name, identifier)),
            "drift_here": drift_state(record),
            "watch": _watch(index),
        }
        return ui.render(request, "entry.html", context)


def _add_builder_pages(app: FastAPI, ui: _Ui) -> None:
    @app.get("/browse/{name}/{identifier}/build", include_in_schema=False)
    def builder_page(request: Request, name: str, identifier: str) -> Response:
        found = ui.entry(request, name, identifier)
        if isinstance(found, Response):
            return found
        index, record = found
        context = {
            "title": f"Config builder · {identifier}",
            "entry": record,
            "namespace": name,
            "fields": forms.config_fields(record.scheme),
            "scheme_known": record.scheme is not None,
            "names": [index.entries[i].identifier for i in index.order("identifier")[:200]],
            "formats": checks.FORMATS,
            "check_url": views.api_url(name, identifier, "check"),
            "fields_url": f"/ui/fields/{quote(name, safe='')}",
            "names_url": views.api_url(name),
            "watch": _watch(index),
            "live_mode": "banner",
        }
        return ui.render(request, "builder.html", context)

    @app.get("/ui/fields/{name}", include_in_schema=False)
    def fields_fragment(request: Request, name: str, type: str = "", prefix: str = "") -> Response:
        """The inputs of artifact ``type``'s config under ``prefix`` (a nested _type field)."""
        ui.require(request)
        found = ui.entry(request, name, type)
        if isinstance(found, Response):
            return found
        record = found[1]
        html = ui.env.get_template("fields.html").render(
            fields=forms.config_fields(record.scheme, prefix),
            scheme_known=record.scheme is not None,
            namespace=name,
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def _add_sign_in(app: FastAPI, ui: _Ui) -> None:
    def sign_in(request: Request, token: str, target: str) -> Response:
        if ui.table.scope_of(token) is None:
            context = {
                "title": "Sign in",
                "next_url": target,
                "error": "This token is not known to the server.",
            }
            return ui.render(request, "login.html", context, status_code=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_value(token),
            max_age=SESSION_DAYS * 24 * 3600,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request, token: str = "", next: str = "/") -> Response:
        target = _local_target(next)
        if not ui.table.is_enabled:
            return RedirectResponse(target, status_code=303)
        if token:  # the link `registry ui` prints
            return sign_in(request, token, target)
        context = {"title": "Sign in", "next_url": target, "error": ""}
        return ui.render(request, "login.html", context)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        return sign_in(request, token, _local_target((form.get("next") or ["/"])[0]))

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return response


def _add_events(app: FastAPI, ui: _Ui) -> None:
    @app.get("/ui/events", include_in_schema=False)
    async def events(request: Request) -> Response:
        """Server-sent events from the server's change channel (``ChangeHub``): the change
        token and every namespace generation, at connection and after every change."""
        ui.require(request)

        async def stream() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"
            token: str | None = None
            while True:
                current, generations = await ui.hub.wait(token, HEARTBEAT)
                if current == token:
                    yield ": keep-alive\n\n"
                    continue
                token = current
                data = json.dumps({"token": token, "generations": generations})
                yield f"event: change\ndata: {data}\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


def _add_json_twins(app: FastAPI, ui: _Ui) -> None:
    async def may_read(request: Request, _credentials: BearerCredentials) -> None:
        ui.require(request)

    reader = [Depends(may_read)]

    @app.get(
        "/ui/api/namespaces",
        tags=["web page"],
        dependencies=reader,
        response_model=views.Overview,
        responses=error_responses(401, 503),
    )
    def namespace_overview() -> views.Overview:
        """Every namespace with its size and newest registration (the overview page's data)."""
        summaries = [views.namespace_summary(i) for i in ui.catalog.namespaces()]
        return views.Overview(namespaces=summaries)

    @app.get(
        "/ui/api/namespaces/{name}/entries",
        tags=["web page"],
        dependencies=reader,
        response_model=views.EntryPage,
        responses=error_responses(401, 404, 422, 503),
    )
    def namespace_entries(
        name: NamespaceName,
        *,
        q: Annotated[str, Query(max_length=500, description="words to find")] = "",
        sort: SortKey = "identifier",
        order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
    ) -> views.EntryPage | Response:
        """One page of a namespace's entries, filtered and sorted (the namespace page's data)."""
        index = ui.catalog.namespace(name)
        if index is None:
            return _no_namespace(name)
        descending = order == "desc"
        page = index.page(q, sort=sort, descending=descending, offset=offset, limit=limit)
        return views.entry_page(index, page, q, sort, descending)

    @app.get(
        "/ui/api/search",
        tags=["web page"],
        dependencies=reader,
        response_model=views.SearchResults,
        responses=error_responses(401, 422, 503),
    )
    def search_entries(
        q: Annotated[str, Query(max_length=500, description="words to find")],
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> views.SearchResults:
        """Entries of every namespace containing all the words (identifier, import path,
        docstring); identifier matches first (the overview's search)."""
        total, hits = ui.catalog.search(q, limit)
        return views.search_results(q, total, hits)

    @app.post(
        "/ui/api/namespaces/{name}/entries/{identifier}/check",
        tags=["web page"],
        dependencies=reader,
        response_model=views.ConfigCheck,
        responses=error_responses(400, 401, 404, 413, 422, 503),
    )
    def check_config_tree(
        name: NamespaceName, identifier: Identifier, body: views.CheckBody
    ) -> views.ConfigCheck | Response:
        """Validate a config tree with ``check_config`` (nothing is called) and write it as
        YAML, JSON and TOML when valid. A read token is enough: nothing is stored."""
        index = ui.catalog.namespace(name)
        if index is None:
            return _no_namespace(name)
        if index.get(identifier) is None:
            return _not_found(
                RegistryError(
                    f"{identifier!r} is not registered in {name!r}",
                    suggestions=[f"List them with GET /namespaces/{name}/entries"],
                    context={"registry_name": name, "identifier": identifier},
                )
            )
        return checks.check_config(ui.store, name, identifier, body.config)


def _add_docs_and_assets(app: FastAPI, ui: _Ui) -> None:
    @app.get("/docs", include_in_schema=False)
    def api_docs() -> Response:
        """Swagger UI from the package's own copy: works offline, no CDN."""
        html = ui.env.get_template("docs.html").render(openapi_url=app.openapi_url)
        return HTMLResponse(html)

    app.mount("/static", StaticFiles(packages=[("registry.server.ui", "static")]), name="static")


def _not_found(error: RegistryError) -> Response:
    return JSONResponse({"error": error.to_dict()}, status_code=404)


def _no_namespace(name: str) -> Response:
    return _not_found(
        RegistryError(
            f"Namespace {name!r} does not exist",
            suggestions=["List namespaces with GET /namespaces"],
            context={"registry_name": name},
        )
    )
