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

from registry.server.ui.headers import SecurityHeadersMiddleware
from registry.server.ui.routes import add_ui_routes

__all__ = ["SecurityHeadersMiddleware", "add_ui_routes"]
