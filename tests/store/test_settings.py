"""Store URL resolution order and the pickle opt-in settings."""

from __future__ import annotations

import pickle

import pytest

from registry import settings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("REGISTRY_URL", raising=False)
    monkeypatch.delenv("REGISTRY_ALLOW_PICKLE", raising=False)
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
