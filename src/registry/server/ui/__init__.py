"""The registry's web page: browse, search, inspect versions and build configs in a browser.

Served by the registry server beside its API (``registry serve``: the page is at ``/``) and by
``registry ui`` for one user over any store. Server-rendered Jinja2 templates
(``templates/``) and one small hand-written script (``static/ui.js``), no build step; every
asset is served by the package, so the page and the API docs at ``/docs`` work offline.

Modules: ``catalog`` (namespace indexes, search), ``views`` (presentation and the JSON twins'
models), ``forms`` (config fields, snippets), ``checks`` (the config builder's validation),
``routes`` (the routes), ``headers`` (content security policy), ``local`` (``registry ui``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.server.ui.headers import SecurityHeadersMiddleware
    from registry.server.ui.routes import add_ui_routes

__all__ = ["SecurityHeadersMiddleware", "add_ui_routes"]


def __getattr__(name: str) -> Any:
    # Loaded on use: ``forms`` (the field table ``registry show`` prints too) needs neither
    # FastAPI nor Jinja2, which only the ``server`` extra installs.
    if name == "SecurityHeadersMiddleware":
        from registry.server.ui.headers import SecurityHeadersMiddleware

        return SecurityHeadersMiddleware
    if name == "add_ui_routes":
        from registry.server.ui.routes import add_ui_routes

        return add_ui_routes
    raise AttributeError(f"module 'registry.server.ui' has no attribute {name!r}")
