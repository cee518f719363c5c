"""Store URL resolution order, and every environment variable read and parsed in one place."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from registry import settings
from registry.errors import SettingsError

SRC = Path(__file__).resolve().parents[2] / "src" / "registry"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in settings.ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings.reset()
    yield
    settings.reset()


def test_url_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert settings.resolve_url() == f"sqlite:///{tmp_path / 'data' / 'registry' / 'registry.db'}"
    monkeypatch.setenv("REGISTRY_URL", "sqlite:///from-env.db")
    assert settings.resolve_url() == "sqlite:///from-env.db"
    settings.configure(url="sqlite:///configured.db")
    assert settings.resolve_url() == "sqlite:///configured.db"
    assert settings.resolve_url("sqlite:///keyword.db") == "sqlite:///keyword.db"


def test_seed_server_variables_name_the_store_of_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    default = settings.resolve_url()
    monkeypatch.setenv("REGISTRY_SERVER_HOST", "lab")
    assert settings.resolve_url() == "http://lab:8001"
    assert settings.resolve_url(server_variables=False) == default  # the server's own store
    monkeypatch.setenv("REGISTRY_SERVER_PORT", "9")
    monkeypatch.setenv("REGISTRY_SERVER_HOST", "::1")
    assert settings.resolve_url() == "http://[::1]:9"
    monkeypatch.setenv("REGISTRY_URL", "sqlite:///explicit.db")
    assert settings.resolve_url() == "sqlite:///explicit.db"  # REGISTRY_URL wins


@pytest.mark.parametrize("spelling", ["1", "true", "TRUE", "Yes", "on", " On "])
def test_booleans_accept_every_usual_spelling(monkeypatch, spelling) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REGISTRY_ALLOW_PICKLE", spelling)
    assert settings.allow_pickle() is True


@pytest.mark.parametrize("spelling", ["0", "false", "No", "OFF", ""])
def test_booleans_refuse_pickles_when_off(monkeypatch, spelling) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REGISTRY_ALLOW_PICKLE", spelling)
    assert settings.allow_pickle() is False


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("REGISTRY_ALLOW_PICKLE", "maybe", settings.allow_pickle),
        ("REGISTRY_SERVER_PORT", "abc", settings.server_port),
        ("REGISTRY_SERVER_PORT", "99999", settings.server_port),
        ("REGISTRY_SERVER_PORT", "0", settings.server_port),
        ("REGISTRY_TIMEOUT", "soon", settings.client_timeout),
        ("REGISTRY_TIMEOUT", "-1", settings.client_timeout),
    ],
)
def test_garbage_is_a_settings_error_naming_the_variable(monkeypatch, name, value, read) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        read()
    assert caught.value.message.startswith(f"{name}={value!r}")
    assert caught.value.suggestions and name in caught.value.suggestions[0]


def test_defaults_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (settings.server_host(), settings.server_port()) == ("127.0.0.1", 8001)
    assert settings.client_timeout() == 10.0 and settings.client_token() is None
    monkeypatch.setenv("REGISTRY_SERVER_PORT", " 8123 ")
    monkeypatch.setenv("REGISTRY_TIMEOUT", "2.5")
    monkeypatch.setenv("REGISTRY_TOKEN", "t" * 20)
    assert settings.server_port() == 8123 and settings.client_timeout() == 2.5
    assert settings.client_token() == "t" * 20


def test_variables_in_force_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_URL", "postgresql://ana:hunter2@db.lab/registry")
    monkeypatch.setenv("REGISTRY_TOKEN", "t" * 20)
    monkeypatch.setenv("REGISTRY_SIGNING_KEY", "k" * 20)
    shown = settings.variables_in_force()
    assert shown == {
        "REGISTRY_URL": "postgresql://ana:***@db.lab/registry",
        "REGISTRY_TOKEN": "(set)",
        "REGISTRY_SIGNING_KEY": "(set)",
    }


def test_only_settings_reads_the_environment() -> None:
    """Every variable is read in settings.py, so each is parsed one way for every caller."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "settings.py":
            continue
        text = path.read_text()
        for pattern in (r"os\.environ", r"os\.getenv", r"\benviron\b", r"envvar="):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(SRC)}: {pattern}")
    assert offenders == [], "read environment variables through registry.settings"


def test_every_variable_is_documented() -> None:
    docs = (SRC.parents[1] / "docs" / "storage.md").read_text()
    missing = [name for name in settings.ENVIRONMENT_VARIABLES if f"`{name}`" not in docs]
    assert missing == [], "list them in docs/storage.md (Environment variables)"


def test_allow_pickle_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.allow_pickle() is False
    monkeypatch.setenv("REGISTRY_ALLOW_PICKLE", "yes")
    assert settings.allow_pickle() is True
    settings.configure(allow_pickle=False)
    assert settings.allow_pickle() is False
    assert settings.allow_pickle(True) is True


def test_sql_stores_pickle_by_url(sqlite_url: str) -> None:
    from registry.store import open_store

    store = open_store(sqlite_url)
    store.ensure_namespace("lab.p", "function")
    copy = pickle.loads(pickle.dumps(store))
    assert copy is not store and copy.url == sqlite_url
    assert copy.get_namespace("lab.p") is not None
    copy.close()
