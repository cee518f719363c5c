"""Running the registry server on uvicorn: ``serve(...)`` for Python and the ``registry serve``
command (which ``python -m registry --host H --port P`` and ``python -m registry.server.run``
also run).

Only the pieces that need FastAPI or uvicorn import them, inside the functions, so
``registry --help`` works without the ``server`` extra, and says to install it when needed.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from registry import settings
from registry.cli_base import run_command, url_option
from registry.errors import SettingsError, ValidationError
from registry.server.auth import Scope, load_tokens
from registry.version import install_hint

if TYPE_CHECKING:
    from fastapi import FastAPI

    from registry.store.base import Store

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "app_from_environment",
    "check_listen_address",
    "check_tls_files",
    "main",
    "require_server_extra",
    "serve",
    "serve_command",
]

DEFAULT_HOST = settings.DEFAULT_SERVER_HOST
DEFAULT_PORT = settings.DEFAULT_SERVER_PORT


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
        SettingsError: ``host`` is exposed, no token is configured and ``insecure`` is false.
    """
    if tokens or insecure or is_loopback(host):
        return
    raise SettingsError(
        f"Refusing to listen on {host} without tokens: anyone who can reach it could write",
        suggestions=[
            "Give tokens with --token-file FILE (lines 'token:read' or 'token:write') "
            "or REGISTRY_SERVER_TOKENS",
            "Or listen on 127.0.0.1 behind a reverse proxy that authenticates",
            "Or pass --insecure on a network you trust completely",
        ],
        context={"host": host},
    )


def require_server_extra() -> None:
    """Raise a clear error when FastAPI or uvicorn (the ``server`` extra) is missing."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise SettingsError(
            f"The registry server needs the 'server' extra, which is not installed "
            f"(No module named {exc.name!r})",
            suggestions=[f"Install it: {install_hint('server')}"],
            context={"missing_module": exc.name},
        ) from exc


def check_tls_files(certfile: str | None, keyfile: str | None) -> None:
    """Load the certificate and key once, so a bad file is an error before the server starts.

    Raises:
        SettingsError: a key without a certificate, a file that cannot be read, or one that is
            not a PEM certificate with its private key.
    """
    if certfile is None:
        if keyfile is not None:
            raise SettingsError(
                "A TLS key was given without its certificate",
                suggestions=["Pass --ssl-certfile CERT.pem with --ssl-keyfile KEY.pem"],
            )
        return
    import ssl  # here: `registry` imports this module for its serve command, ssl costs ~3 ms

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    files = {"certfile": certfile, "keyfile": keyfile}
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        raise SettingsError(
            f"Cannot use {certfile}{f' with {keyfile}' if keyfile else ''} for TLS: "
            f"{exc.reason or exc}",
            suggestions=[
                "Give a PEM certificate (--ssl-certfile) and its PEM private key (--ssl-keyfile)"
            ],
            context=files,
        ) from exc
    except OSError as exc:
        raise SettingsError(
            f"Cannot read the TLS file {exc.filename or certfile}: {exc.strerror or exc}",
            suggestions=["Check the path and that this user may read it"],
            context=files,
        ) from exc


def _open_backing_store(url: str | None) -> Store:
    from registry.store import open_store
    from registry.store.cached import CachedStore

    # REGISTRY_SERVER_HOST is where this server listens, not a store to forward to.
    store = open_store(settings.resolve_url(url, server_variables=False))
    # By URL, not by class: open_store may wrap an HttpStore in the caching store.
    if store.url.startswith(("http://", "https://")):
        raise ValidationError(
            f"The registry server needs a database store, not another server ({store.url})",
            suggestions=["Pass --url sqlite:///path.db or --url postgresql+psycopg://host/db"],
            context={"url": store.url},
        )
    if isinstance(store, CachedStore):
        store.keep_written = True
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
        SettingsError: the ``server`` extra is not installed, a ``REGISTRY_SERVER_*`` variable is
            malformed, the TLS files cannot be used, the host is exposed without tokens, or
            the address cannot be bound.
        ValidationError: a bad token file, or several workers over an in-process store.
    """
    require_server_extra()
    host = host or settings.server_host()
    port = port if port is not None else settings.server_port()
    check_tls_files(ssl_certfile, ssl_keyfile)
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
    settings.hand_down_worker_config(config)
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
        raise SettingsError(
            f"The registry server could not listen on {options['host']}:{options['port']}",
            suggestions=["Is another process using that port? Pick another with --port"],
            context={"host": options["host"], "port": options["port"]},
        )


def app_from_environment() -> FastAPI:
    """Build the app in a uvicorn worker process from the settings ``serve`` handed down."""
    return _build_app(settings.worker_config())


def _build_app(config: Mapping[str, Any]) -> FastAPI:
    from registry.server.app import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES, create_app
    from registry.server.guard import install_repeat_filter

    install_repeat_filter()
    store = _open_backing_store(config.get("url"))
    # This process serves one store: configs checked by the web page resolve their
    # "Namespace:name" references in it, not in whatever REGISTRY_URL says.
    settings.configure(url=store.url)
    tokens = {**load_tokens(config.get("token_file")), **(config.get("tokens") or {})}
    app = create_app(
        store,
        tokens,
        max_body_bytes=config.get("max_body_bytes") or DEFAULT_MAX_BODY_BYTES,
        body_timeout=config.get("body_timeout") or DEFAULT_BODY_TIMEOUT,
    )
    # What startup made (modules, pydantic models, routes: ~120,000 objects) lives as long as
    # the process. Frozen, the collector's full passes skip it: under 16 clients they paused
    # every request for 45-75 ms each, and 4-8 ms after.
    gc.collect()
    gc.freeze()
    return app


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", help="Interface (default $REGISTRY_SERVER_HOST or 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port, 1-65535 (default $REGISTRY_SERVER_PORT or 8001).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False),
    help="File of 'token:read' / 'token:write' lines.",
)
@click.option("--insecure", is_flag=True, help="Allow a non-loopback host without tokens.")
@click.option("--max-body-bytes", type=click.IntRange(min=1), help="Request body limit in bytes.")
@click.option(
    "--ssl-certfile",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve HTTPS with this PEM certificate.",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(exists=True, dir_okay=False),
    help="The certificate's PEM private key.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug", "trace"]),
    default="info",
    show_default=True,
    help="uvicorn's log level.",
)
@click.option("--no-access-log", is_flag=True, help="Do not log one line per request.")
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    help="Open connections per worker (default 1024).",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds for a request's headers (default 10).",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds for a request's body (default 60).",
)
@url_option
@click.pass_context
def serve_command(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int,
    token_file: str | None,
    insecure: bool,
    max_body_bytes: int | None,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    log_level: str,
    no_access_log: bool,
    max_connections: int | None,
    header_timeout: float | None,
    body_timeout: float | None,
) -> None:
    """Run the registry server over the store (see docs/server.md).

    `python -m registry --host H --port P` (the seed's form) runs this command too.
    """

    serve(
        ctx.ensure_object(dict).get("url"),
        host,
        port,
        workers=workers,
        token_file=token_file,
        insecure=insecure,
        max_body_bytes=max_body_bytes,
        log_level=log_level,
        access_log=not no_access_log,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        max_connections=max_connections,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m registry.server.run ARGS``: the same command as ``registry serve ARGS``."""
    return run_command(
        serve_command, list(sys.argv[1:] if argv is None else argv), "registry serve"
    )


if __name__ == "__main__":
    sys.exit(main())
