"""Process-wide settings: which store URL to use, the pickle opt-in and the blob signing key.

Resolution order for the URL: a registry class keyword, then :func:`configure`, then the
``REGISTRY_URL`` environment variable, then an SQLite file in the user data directory.
Imports only ``errors`` (and ``platformdirs`` when the default file is needed).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from registry.errors import StoreError

__all__ = [
    "ALLOW_PICKLE_ENV",
    "SIGNING_KEY_ENV",
    "URL_ENV",
    "Settings",
    "allow_pickle",
    "configure",
    "current",
    "default_sqlite_path",
    "default_url",
    "is_default_url",
    "resolve_url",
    "signing_key",
]

URL_ENV = "REGISTRY_URL"
ALLOW_PICKLE_ENV = "REGISTRY_ALLOW_PICKLE"
SIGNING_KEY_ENV = "REGISTRY_SIGNING_KEY"

_TRUE = {"1", "true", "yes", "on"}


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


def default_sqlite_path() -> Path:
    """Return the default store file: ``<user data dir>/registry/registry.db``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("registry", appauthor=False)) / "registry.db"


def default_url() -> str:
    """Return the URL of the default store file, creating its directory on first use."""
    path = default_sqlite_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"Cannot create the directory of the default store {path.parent}: {exc}",
            suggestions=[f"Set {URL_ENV} to a writable location, e.g. sqlite:///./registry.db"],
            context={"path": str(path)},
        ) from exc
    return f"sqlite:///{path}"


def is_default_url(url: str) -> bool:
    """Return whether ``url`` is the default local SQLite file (the only auto-upgraded store)."""
    # Only a URL ending like the default file costs the platformdirs import.
    return url.endswith("/registry/registry.db") and url == f"sqlite:///{default_sqlite_path()}"


def resolve_url(explicit: str | None = None) -> str:
    """Return the store URL: ``explicit``, then :func:`configure`, ``REGISTRY_URL``, default."""
    if explicit:
        return explicit
    configured = _settings.url
    if configured:
        return configured
    from_env = os.environ.get(URL_ENV, "").strip()
    if from_env:
        return from_env
    return default_url()


def allow_pickle(explicit: bool | None = None) -> bool:
    """Return whether cloudpickle blobs may be loaded (off unless someone opted in)."""
    if explicit is not None:
        return explicit
    if _settings.allow_pickle is not None:
        return _settings.allow_pickle
    return os.environ.get(ALLOW_PICKLE_ENV, "").strip().lower() in _TRUE


def signing_key() -> bytes | None:
    """Return the HMAC key for blobs from ``REGISTRY_SIGNING_KEY`` (never stored in the DB)."""
    value = os.environ.get(SIGNING_KEY_ENV, "")
    return value.encode("utf-8") if value else None
