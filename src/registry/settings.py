"""Process-wide settings, and the one place that reads ``REGISTRY_*`` environment variables.

Every variable is parsed here, the same way for every caller: booleans accept
``1/true/yes/on`` and ``0/false/no/off`` (any case), ports are 1-65535, and anything else is a
:class:`~registry.errors.SettingsError` naming the variable, never a silent default.

Resolution order for the store URL: a registry class keyword, then :func:`configure`, then
``REGISTRY_URL``, then a registry server named by ``REGISTRY_SERVER_HOST`` (and
``REGISTRY_SERVER_PORT``, as the seed's clients found theirs), then an SQLite file in the user
data directory. Imports only ``errors`` (and ``platformdirs`` when the default file is needed).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from registry.errors import SettingsError

__all__ = [
    "ALLOW_PICKLE_ENV",
    "DEFAULT_SERVER_HOST",
    "DEFAULT_SERVER_PORT",
    "ENVIRONMENT_VARIABLES",
    "NO_SPEEDUPS_ENV",
    "SERVER_HOST_ENV",
    "SERVER_PORT_ENV",
    "SERVER_TOKENS_ENV",
    "SIGNING_KEY_ENV",
    "TIMEOUT_ENV",
    "TOKEN_ENV",
    "URL_ENV",
    "Settings",
    "allow_pickle",
    "client_timeout",
    "client_token",
    "configure",
    "current",
    "default_sqlite_path",
    "default_url",
    "hand_down_worker_config",
    "is_default_url",
    "parse_bool",
    "parse_port",
    "resolve_url",
    "server_host",
    "server_port",
    "server_tokens",
    "server_url",
    "signing_key",
    "speedups_wanted",
    "variables_in_force",
    "worker_config",
]

URL_ENV = "REGISTRY_URL"
ALLOW_PICKLE_ENV = "REGISTRY_ALLOW_PICKLE"
SIGNING_KEY_ENV = "REGISTRY_SIGNING_KEY"
TOKEN_ENV = "REGISTRY_TOKEN"
TIMEOUT_ENV = "REGISTRY_TIMEOUT"
SERVER_HOST_ENV = "REGISTRY_SERVER_HOST"
SERVER_PORT_ENV = "REGISTRY_SERVER_PORT"
SERVER_TOKENS_ENV = "REGISTRY_SERVER_TOKENS"
NO_SPEEDUPS_ENV = "REGISTRY_NO_SPEEDUPS"
#: How ``registry serve --workers N`` hands its settings to the worker processes uvicorn starts
#: by import path (internal: not for users to set).
_WORKER_CONFIG_ENV = "REGISTRY_SERVER_CONFIG"

#: What each variable does (docs/storage.md lists them all: a test checks).
ENVIRONMENT_VARIABLES: Mapping[str, str] = {
    URL_ENV: "store URL: sqlite:///file.db, postgresql+psycopg://..., http(s)://server",
    SERVER_HOST_ENV: "registry server host: clients connect to it, `registry serve` listens on it",
    SERVER_PORT_ENV: "registry server port (default 8001)",
    TOKEN_ENV: "bearer token a client sends to the registry server",
    TIMEOUT_ENV: "seconds a client waits for the registry server (default 10)",
    SERVER_TOKENS_ENV: "tokens the server accepts: 'token:read,token:write'",
    ALLOW_PICKLE_ENV: "allow loading cloudpickle blobs (1/true/yes/on)",
    SIGNING_KEY_ENV: "HMAC key that signs and verifies pickled blobs",
    NO_SPEEDUPS_ENV: "use the pure-Python hot paths, not the C extension (1/true/yes/on)",
}

#: Variables whose values are secrets: shown as "(set)" only.
_SECRETS = frozenset({TOKEN_ENV, SERVER_TOKENS_ENV, SIGNING_KEY_ENV})

DEFAULT_SERVER_HOST = "127.0.0.1"
DEFAULT_SERVER_PORT = 8001
DEFAULT_TIMEOUT_S = 10.0

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    """What :func:`configure` set; ``None`` means "not set here, fall back further"."""

    url: str | None = None
    allow_pickle: bool | None = None


_settings = Settings()
_settings_lock = threading.Lock()


def configure(*, url: str | None = None, allow_pickle: bool | None = None) -> Settings:
    """Set process-wide defaults (``registry.configure``); return the settings now in force.

    Args:
        url: store URL for registries without their own ``url=`` keyword.
        allow_pickle: allow loading cloudpickle blobs (overrides ``REGISTRY_ALLOW_PICKLE``).
    """
    global _settings
    with _settings_lock:
        changes: dict[str, object] = {}
        if url is not None:
            changes["url"] = url
        if allow_pickle is not None:
            changes["allow_pickle"] = allow_pickle
        _settings = replace(_settings, **changes)  # type: ignore[arg-type]
        return _settings


def current() -> Settings:
    """Return what :func:`configure` set so far."""
    return _settings


def reset() -> None:
    """Forget everything :func:`configure` set (for tests)."""
    global _settings
    with _settings_lock:
        _settings = Settings()


# -- parsing, one way for every variable ---------------------------------------------------------


def _read(name: str) -> str | None:
    """Return the variable's value without surrounding blanks; ``None`` when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def parse_bool(name: str, value: str) -> bool:
    """Parse a boolean setting: 1/true/yes/on or 0/false/no/off, in any case.

    Raises:
        SettingsError: any other spelling.
    """
    folded = value.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise SettingsError(
        f"{name}={value!r} is not a boolean",
        suggestions=[f"Set {name} to one of 1, true, yes, on (or 0, false, no, off)"],
        context={"variable": name, "value": value},
    )


def parse_port(name: str, value: str) -> int:
    """Parse a TCP port number (1-65535).

    Raises:
        SettingsError: not a whole number in that range.
    """
    try:
        port = int(value.strip())
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise SettingsError(
            f"{name}={value!r} is not a port number",
            suggestions=[f"Set {name} to a whole number from 1 to 65535, e.g. 8001"],
            context={"variable": name, "value": value},
        )
    return port


def _parse_seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise SettingsError(
            f"{name}={value!r} is not a number of seconds",
            suggestions=[f"Set {name} to a positive number, e.g. 10 or 2.5"],
            context={"variable": name, "value": value},
        )
    return seconds


# -- the store URL -------------------------------------------------------------------------------


def default_sqlite_path() -> Path:
    """Return the default store file: ``<user data dir>/registry/registry.db``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("registry", appauthor=False)) / "registry.db"


def default_url() -> str:
    """Return the URL of the default store file (its directory is created on first write)."""
    return f"sqlite:///{default_sqlite_path()}"


def is_default_url(url: str) -> bool:
    """Return whether ``url`` is the default local SQLite file (the only auto-upgraded store)."""
    # Only a URL ending like the default file costs the platformdirs import.
    return url.endswith("/registry/registry.db") and url == default_url()


def server_url() -> str | None:
    """Return ``http://HOST:PORT`` when ``REGISTRY_SERVER_HOST`` names a registry server."""
    host = _read(SERVER_HOST_ENV)
    if host is None:
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{server_port()}"


def resolve_url(explicit: str | None = None, *, server_variables: bool = True) -> str:
    """Return the store URL: ``explicit``, :func:`configure`, ``REGISTRY_URL``, the server
    named by ``REGISTRY_SERVER_HOST`` (unless ``server_variables`` is false: the server itself
    listens there), then the default SQLite file."""
    if explicit:
        return explicit
    configured = _settings.url
    if configured:
        return configured
    from_env = _read(URL_ENV)
    if from_env:
        return from_env
    if server_variables:
        from_server = server_url()
        if from_server:
            return from_server
    return default_url()


# -- pickles -------------------------------------------------------------------------------------


def allow_pickle(explicit: bool | None = None) -> bool:
    """Return whether cloudpickle blobs may be loaded (off unless someone opted in)."""
    if explicit is not None:
        return explicit
    if _settings.allow_pickle is not None:
        return _settings.allow_pickle
    value = _read(ALLOW_PICKLE_ENV)
    return parse_bool(ALLOW_PICKLE_ENV, value) if value is not None else False


def speedups_wanted() -> bool:
    """Return whether the C extension may serve the hot paths (yes unless switched off)."""
    value = _read(NO_SPEEDUPS_ENV)
    return not parse_bool(NO_SPEEDUPS_ENV, value) if value is not None else True


def signing_key() -> bytes | None:
    """Return the HMAC key for blobs from ``REGISTRY_SIGNING_KEY`` (never stored in the DB)."""
    value = os.environ.get(SIGNING_KEY_ENV, "")
    return value.encode("utf-8") if value else None


# -- the registry server and its clients ---------------------------------------------------------


def client_token() -> str | None:
    """Return the bearer token clients send (``REGISTRY_TOKEN``)."""
    return _read(TOKEN_ENV)


def client_timeout() -> float:
    """Return the seconds a client waits for the server (``REGISTRY_TIMEOUT``, default 10)."""
    value = _read(TIMEOUT_ENV)
    return DEFAULT_TIMEOUT_S if value is None else _parse_seconds(TIMEOUT_ENV, value)


def server_host() -> str:
    """Return the interface ``registry serve`` listens on by default."""
    return _read(SERVER_HOST_ENV) or DEFAULT_SERVER_HOST


def server_port() -> int:
    """Return the registry server port (``REGISTRY_SERVER_PORT``, default 8001)."""
    value = _read(SERVER_PORT_ENV)
    return DEFAULT_SERVER_PORT if value is None else parse_port(SERVER_PORT_ENV, value)


def server_tokens() -> str | None:
    """Return the token list the server accepts from the environment (parsed by the server)."""
    return _read(SERVER_TOKENS_ENV)


def opentelemetry_configured(environment: Mapping[str, str] | None = None) -> bool:
    """Whether ``environment`` (default: the process's) configures OpenTelemetry: an ``OTEL_*``
    variable, as ``opentelemetry-instrument`` and the exporters read, or FastAPI's
    ``FASTAPI_OTEL_AUTO_CONFIGURE=true``. The server keeps FastAPI's instrumentation on then."""
    found = os.environ if environment is None else environment
    return found.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").strip().lower() == "true" or any(
        name.startswith("OTEL_") for name in found
    )


def variables_in_force() -> dict[str, str]:
    """Return the ``REGISTRY_*`` variables that are set, secrets masked (``registry doctor``)."""
    shown = {}
    for name in ENVIRONMENT_VARIABLES:
        value = _read(name)
        if value is not None:
            shown[name] = "(set)" if name in _SECRETS else _without_password(value)
    return shown


def _without_password(value: str) -> str:
    scheme, separator, rest = value.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not (separator and at and ":" in credentials):
        return value
    return f"{scheme}://{credentials.partition(':')[0]}:***@{host}"


def hand_down_worker_config(config: Mapping[str, Any]) -> None:
    """Put the server settings where worker processes started by import path find them."""
    os.environ[_WORKER_CONFIG_ENV] = json.dumps(dict(config))


def worker_config() -> dict[str, Any]:
    """Return the server settings :func:`hand_down_worker_config` handed to this process."""
    config: dict[str, Any] = json.loads(os.environ.get(_WORKER_CONFIG_ENV) or "{}")
    return config
