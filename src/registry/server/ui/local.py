"""``registry ui``: the web page over any store, read-only, for one user on 127.0.0.1.

Like a notebook server, it makes up a read token and prints a sign-in link carrying it, so that
other accounts on a shared lab machine cannot browse through the port. The store may be a
database or another registry server (``http(s)://...``, with ``REGISTRY_TOKEN``).
"""

from __future__ import annotations

import secrets
import socket
import sys
import webbrowser
from collections.abc import Callable

from registry.errors import ValidationError

__all__ = ["serve_ui"]

HOST = "127.0.0.1"


def _bind(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
    except OSError as exc:
        listener.close()
        raise ValidationError(
            f"Cannot listen on {HOST}:{port}: {exc.strerror or exc}",
            suggestions=["Pick another port with --port, or leave it out to take a free one"],
            context={"host": HOST, "port": port},
        ) from exc
    listener.listen(128)
    return listener


def serve_ui(
    url: str | None = None,
    port: int = 0,
    *,
    open_browser: bool = False,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the web page over the store at ``url`` until interrupted.

    Args:
        url: any store URL; ``None`` means the configured default store.
        port: the port on 127.0.0.1; 0 takes a free one.
        open_browser: open the sign-in link in the default browser.
        announce: where the sign-in link is written (stdout).

    Raises:
        ValidationError: the port is taken or the store cannot be opened.
        SettingsError: the ``server`` extra is not installed.
        StoreError: there is no store at ``url`` (the page never creates one).
    """
    from registry.server.run import require_server_extra

    require_server_extra()
    import uvicorn

    from registry import settings
    from registry.server.app import create_app
    from registry.server.ui.views import store_label
    from registry.server.workers import uvicorn_config
    from registry.store import open_existing_store

    store = open_existing_store(url)
    if url:
        # Nested "Namespace:name" references in the config builder resolve in this store.
        settings.configure(url=url)
    token = secrets.token_urlsafe(24)
    remote = store.url.startswith(("http://", "https://"))
    # A remote server pushes its changes to our store watcher; polling it every 50 ms would
    # only load it.
    app = create_app(
        store, {token: "read"}, read_only=True, change_poll_interval=1.0 if remote else 0.05
    )
    listener = _bind(port)
    address = f"http://{HOST}:{listener.getsockname()[1]}"
    link = f"{address}/login?token={token}"
    announce(f"registry web page for {store_label(store.url)} (read-only) at {address}/")
    announce(f"open this link to sign in: {link}")
    announce("press Ctrl+C to stop")
    sys.stdout.flush()
    if open_browser:
        webbrowser.open(link)
    config = uvicorn_config(app, log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        listener.close()
