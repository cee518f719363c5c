"""Running the registry server on uvicorn: ``serve(...)`` for Python and CLIs, ``main(argv)``
for ``python -m registry`` and ``python -m registry.server.run``.

Only the pieces that need FastAPI or uvicorn import them, inside the functions, so
``python -m registry --help`` works without the ``registry[server]`` extra.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from registry.errors import ValidationError
from registry.server.auth import Scope, load_tokens

if TYPE_CHECKING:
    from fastapi import FastAPI

    from registry.store.base import Store

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "app_from_environment",
    "check_listen_address",
    "main",
    "serve",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
HOST_ENV = "REGISTRY_SERVER_HOST"
PORT_ENV = "REGISTRY_SERVER_PORT"
#: How ``serve`` hands its settings to worker processes, which uvicorn starts by import path.
_CONFIG_ENV = "REGISTRY_SERVER_CONFIG"


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything: treat it as exposed


def check_listen_address(host: str, tokens: Mapping[str, Scope], insecure: bool) -> None:
    """Refuse to listen beyond loopback without tokens, unless ``insecure`` says so.

    Raises:
        ValidationError: ``host`` is exposed, no token is configured and ``insecure`` is false.
    """
    if tokens or insecure or is_loopback(host):
        return
    raise ValidationError(
        f"Refusing to listen on {host} without tokens: anyone who can reach it could write",
        suggestions=[
            "Give tokens with --token-file FILE (lines 'token:read' or 'token:write') "
            "or REGISTRY_SERVER_TOKENS",
            "Or listen on 127.0.0.1 behind a reverse proxy that authenticates",
            "Or pass --insecure on a network you trust completely",
        ],
        context={"host": host},
    )


def _open_backing_store(url: str | None) -> Store:
    from registry.store import open_store

    store = open_store(url)
    # By URL, not by class: open_store may wrap an HttpStore in the caching store.
    if store.url.startswith(("http://", "https://")):
        raise ValidationError(
            f"The registry server needs a database store, not another server ({store.url})",
            suggestions=["Pass --url sqlite:///path.db or --url postgresql+psycopg://host/db"],
            context={"url": store.url},
        )
    return store


def serve(
    url: str | None = None,
    host: str | None = None,
    port: int | None = None,
    *,
    workers: int = 1,
    tokens: Mapping[str, Scope] | None = None,
    token_file: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    max_body_bytes: int | None = None,
    log_level: str = "info",
    access_log: bool = True,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    max_connections: int | None = None,
    header_timeout: float | None = None,
    body_timeout: float | None = None,
) -> None:
    """Run the registry server until interrupted.

    Args:
        url: the store to serve (``sqlite:///...``, ``postgresql+psycopg://...``, ``memory://``);
            ``None`` means the default store that ``open_store(None)`` picks.
        host: interface to listen on; default ``REGISTRY_SERVER_HOST`` or 127.0.0.1.
        port: default ``REGISTRY_SERVER_PORT`` or 8001.
        workers: uvicorn worker processes; more than one needs a shared database store.
        tokens: bearer token -> ``"read"``/``"write"``, merged with ``token_file`` and the
            ``REGISTRY_SERVER_TOKENS`` variable.
        token_file: file of ``token:scope`` lines.
        insecure: allow a non-loopback ``host`` without tokens.
        max_body_bytes: request body limit (413 above it).
        log_level: uvicorn's log level.
        access_log: log one line per request (off for benchmarks and busy servers).
        ssl_certfile: serve HTTPS with this certificate (PEM) instead of behind a TLS proxy.
        ssl_keyfile: the certificate's private key (PEM).
        max_connections: open connections per worker (default 1024, kept below the open-file
            limit); at the cap the connection idle the longest is closed for a new one.
        header_timeout: seconds a request's headers may take (default 10).
        body_timeout: seconds a request's body may take (default 60).

    Raises:
        ValidationError: exposed host without tokens, bad token file, several workers over an
            in-process store, or the address cannot be bound.
    """
    host = host or os.environ.get(HOST_ENV) or DEFAULT_HOST
    port = port if port is not None else int(os.environ.get(PORT_ENV) or DEFAULT_PORT)
    check_listen_address(host, {**load_tokens(token_file), **(tokens or {})}, insecure)
    # Workers load the token file themselves, so only tokens given in code travel through the
    # environment handed to them.
    config: dict[str, Any] = {
        "url": url,
        "tokens": dict(tokens or {}),
        "token_file": None if token_file is None else os.fspath(token_file),
        "max_body_bytes": max_body_bytes,
        "body_timeout": body_timeout,
    }
    from registry.server.guard import DEFAULT_GUARD, GuardSettings, raise_open_file_limit

    raise_open_file_limit()  # before the workers start: they inherit it
    guard = GuardSettings(
        max_connections=max_connections or DEFAULT_GUARD.max_connections,
        header_timeout=header_timeout or DEFAULT_GUARD.header_timeout,
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "ssl_certfile": ssl_certfile,
        "ssl_keyfile": ssl_keyfile,
        "guard": guard,
    }
    if workers <= 1:
        _run_single(_build_app(config), options)
        return
    if (url or "").startswith("memory://"):
        raise ValidationError(
            "Several workers cannot share a memory:// store: each would hold its own",
            suggestions=["Use --workers 1, or a sqlite:/// or postgresql+psycopg:// store"],
            context={"url": url, "workers": workers},
        )
    from registry.server.workers import run_workers, uvicorn_config

    # Workers are fresh processes importing the app by path; they read the settings from the
    # environment this process hands down.
    os.environ[_CONFIG_ENV] = json.dumps(config)
    run_workers(
        uvicorn_config(
            "registry.server.run:app_from_environment", factory=True, workers=workers, **options
        )
    )


def _run_single(app: FastAPI, options: Mapping[str, Any]) -> None:
    import uvicorn

    from registry.server.workers import uvicorn_config

    server = uvicorn.Server(uvicorn_config(app, **options))
    # uvicorn exits the process when it cannot bind; a caller of serve() gets an error instead.
    with contextlib.suppress(SystemExit):
        server.run()
    if not server.started:
        raise ValidationError(
            f"The registry server could not listen on {options['host']}:{options['port']}",
            suggestions=["Is another process using that port? Pick another with --port"],
            context={"host": options["host"], "port": options["port"]},
        )


def app_from_environment() -> FastAPI:
    """Build the app in a uvicorn worker process from the settings ``serve`` handed down."""
    return _build_app(json.loads(os.environ.get(_CONFIG_ENV) or "{}"))


def _build_app(config: Mapping[str, Any]) -> FastAPI:
    from registry import settings
    from registry.server.app import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES, create_app
    from registry.server.guard import install_repeat_filter

    install_repeat_filter()
    store = _open_backing_store(config.get("url"))
    # This process serves one store: configs checked by the web page resolve their
    # "Namespace:name" references in it, not in whatever REGISTRY_URL says.
    settings.configure(url=store.url)
    tokens = {**load_tokens(config.get("token_file")), **(config.get("tokens") or {})}
    return create_app(
        store,
        tokens,
        max_body_bytes=config.get("max_body_bytes") or DEFAULT_MAX_BODY_BYTES,
        body_timeout=config.get("body_timeout") or DEFAULT_BODY_TIMEOUT,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m registry", description="Run the registry server."
    )
    parser.add_argument("--host", help=f"interface (default ${HOST_ENV} or {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, help=f"port (default ${PORT_ENV} or {DEFAULT_PORT})")
    parser.add_argument("--url", help="store URL (default: the configured store)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--token-file", help="file of 'token:read' / 'token:write' lines")
    parser.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback host without tokens"
    )
    parser.add_argument("--max-body-bytes", type=int, help="request body limit in bytes")
    parser.add_argument(
        "--max-connections", type=int, help="open connections per worker (default 1024)"
    )
    parser.add_argument(
        "--header-timeout", type=float, help="seconds for a request's headers (default 10)"
    )
    parser.add_argument(
        "--body-timeout", type=float, help="seconds for a request's body (default 60)"
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    parser.add_argument(
        "--no-access-log", action="store_true", help="do not log one line per request"
    )
    parser.add_argument("--ssl-certfile", help="serve HTTPS with this PEM certificate")
    parser.add_argument("--ssl-keyfile", help="the certificate's PEM private key")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m registry``; return the exit code (2 for a configuration error)."""
    args = _parser().parse_args(argv)
    try:
        serve(
            args.url,
            args.host,
            args.port,
            workers=args.workers,
            token_file=args.token_file,
            insecure=args.insecure,
            max_body_bytes=args.max_body_bytes,
            log_level=args.log_level,
            access_log=not args.no_access_log,
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
            max_connections=args.max_connections,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
        )
    except ValidationError as error:
        print(f"registry server: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
