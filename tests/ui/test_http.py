"""The page's HTTP surface without a browser: JSON twins, sessions and security headers."""

from __future__ import annotations

import http.client
import json
import re
from typing import Any

import pytest

from registry.server.auth import session_value
from registry.server.ui import views
from registry.server.ui.headers import CONTENT_SECURITY_POLICY
from tests.server.conftest import READ_TOKEN, WRITE_TOKEN, LiveServer

pytestmark = pytest.mark.slow


def call(
    server: LiveServer,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        sent = dict(headers or {})
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None:
            sent["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read().decode(),
        )
    finally:
        conn.close()


READ = {"Authorization": f"Bearer {READ_TOKEN}"}
SESSION = {"Cookie": f"registry_session={session_value(READ_TOKEN)}"}


def test_overview_twin(lab_server: LiveServer) -> None:
    status, _, body = call(lab_server, "GET", "/ui/api/namespaces", headers=READ)
    assert status == 200
    overview = views.Overview.model_validate_json(body)
    experiments = next(n for n in overview.namespaces if n.name == "lab.experiments")
    assert (experiments.kind, experiments.size) == ("scheme", 3)
    assert experiments.last_registered_by == "ada@gpu-01"
    assert experiments.last_registered_at is not None
    assert experiments.last_registered_at.isoformat() == "2025-09-11T08:03:00+00:00"


def test_entries_twin_filters_sorts_and_pages(lab_server: LiveServer) -> None:
    path = "/ui/api/namespaces/lab.experiments/entries"
    status, _, body = call(
        lab_server, "GET", f"{path}?sort=created_at&order=desc&limit=2", headers=READ
    )
    assert status == 200
    page = views.EntryPage.model_validate_json(body)
    assert (page.total, page.limit) == (3, 2)
    assert [e.identifier for e in page.entries] == ["Encoder", "Experiment"]
    assert page.entries[0].drift == "revised" and page.entries[1].drift == "first version"
    status, _, body = call(lab_server, "GET", f"{path}?q=training+run", headers=READ)
    assert [e.identifier for e in views.EntryPage.model_validate_json(body).entries] == [
        "Experiment"
    ]
    assert call(lab_server, "GET", f"{path}?limit=0", headers=READ)[0] == 422
    status, _, body = call(lab_server, "GET", "/ui/api/namespaces/lab.none/entries", headers=READ)
    assert status == 404
    assert json.loads(body)["error"]["type"] == "RegistryError"


def test_search_twin(lab_server: LiveServer) -> None:
    status, _, body = call(lab_server, "GET", "/ui/api/search?q=sgd", headers=READ)
    results = views.SearchResults.model_validate_json(body)
    assert status == 200 and results.total == 1
    assert (results.hits[0].namespace, results.hits[0].entry.identifier) == (
        "lab.experiments",
        "make_sgd",
    )


def test_check_twin(lab_server: LiveServer) -> None:
    path = "/ui/api/namespaces/lab.experiments/entries/Encoder/check"
    status, _, body = call(lab_server, "POST", path, {"config": {"hidden_dim": "wide"}}, READ)
    answer = views.ConfigCheck.model_validate_json(body)
    assert status == 200 and not answer.valid
    assert [p.path for p in answer.problems] == ["hidden_dim"]
    assert answer.files == {} and answer.document is None

    config = {"hidden_dim": 8, "activation": "gelu"}
    status, _, body = call(lab_server, "POST", path, {"config": config}, SESSION)
    answer = views.ConfigCheck.model_validate_json(body)
    assert status == 200 and answer.valid
    assert answer.document == {"_type": "lab.experiments:Encoder", **config}
    assert json.loads(answer.files["json"]) == answer.document
    assert set(answer.files) == {"yaml", "json", "toml"}

    nullable = {"model": {"_type": "Encoder", "hidden_dim": 1}, "optimizer": {}, "tags": None}
    experiment = "/ui/api/namespaces/lab.experiments/entries/Experiment/check"
    answer = views.ConfigCheck.model_validate_json(
        call(lab_server, "POST", experiment, {"config": nullable}, READ)[2]
    )
    assert answer.valid and "toml" not in answer.files  # TOML has no null
    assert "None" in answer.unavailable["toml"]

    # "Namespace:name" resolves in the served store (not in the server's REGISTRY_URL).
    across = {
        "model": {"_type": "Encoder", "hidden_dim": 1},
        "optimizer": {"score": {"_type": "lab.metrics:accuracy", "_partial_": True}},
    }
    answer = views.ConfigCheck.model_validate_json(
        call(lab_server, "POST", experiment, {"config": across}, READ)[2]
    )
    assert answer.valid, answer.message

    missing = "/ui/api/namespaces/lab.experiments/entries/Nothing/check"
    assert call(lab_server, "POST", missing, {"config": {}}, READ)[0] == 404


def test_a_session_reads_the_page_only(lab_server: LiveServer) -> None:
    assert call(lab_server, "GET", "/ui/api/namespaces", headers=SESSION)[0] == 200
    assert call(lab_server, "GET", "/browse/lab.metrics", headers=SESSION)[0] == 200
    # The cookie is no bearer token: the API and its writes refuse it.
    cookie_as_bearer = {"Authorization": f"Bearer {session_value(READ_TOKEN)}"}
    assert call(lab_server, "GET", "/namespaces", headers=cookie_as_bearer)[0] == 401
    assert call(lab_server, "GET", "/namespaces", headers=SESSION)[0] == 401
    write_session = {"Cookie": f"registry_session={session_value(WRITE_TOKEN)}"}
    status = call(lab_server, "PUT", "/namespaces/lab.new", {"kind": "function"}, write_session)[0]
    assert status == 401


def test_sign_in_sets_a_strict_http_only_cookie_and_redirects_locally(
    lab_server: LiveServer,
) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    conn = http.client.HTTPConnection("127.0.0.1", lab_server.port, timeout=10)
    for target, expected in (
        ("/browse/lab.metrics", "/browse/lab.metrics"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
    ):
        conn.request("POST", "/login", body=f"token={READ_TOKEN}&next={target}", headers=form)
        response = conn.getresponse()
        response.read()
        assert response.status == 303
        assert response.getheader("location") == expected
        cookie = response.getheader("set-cookie") or ""
        assert cookie.startswith(f"registry_session={session_value(READ_TOKEN)};")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert READ_TOKEN not in cookie
    conn.close()


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/", SESSION),
        ("GET", "/login", {}),
        ("GET", "/browse/lab.experiments/Encoder", SESSION),
        ("GET", "/browse/lab.nothing", SESSION),
        ("GET", "/static/ui.js", {}),
        ("GET", "/docs", {}),
        ("GET", "/namespaces", READ),
        ("GET", "/namespaces", {}),
        ("GET", "/health", {}),
    ],
)
def test_every_answer_carries_the_content_security_policy(
    lab_server: LiveServer, method, path, headers
) -> None:
    _status, answer, _body = call(lab_server, method, path, headers=headers)
    assert answer["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert answer["x-content-type-options"] == "nosniff"
    assert answer["x-frame-options"] == "DENY"


def test_pages_never_embed_scripts_inline(lab_server: LiveServer) -> None:
    for path in (
        "/",
        "/browse/lab.metrics",
        "/browse/lab.metrics/hostile",
        "/browse/lab.experiments/Experiment/build",
        "/docs",
        "/login",
    ):
        body = call(lab_server, "GET", path, headers=SESSION)[2]
        scripts = [part.split(">", 1)[0] for part in body.split("<script")[1:]]
        assert all(' src="/static/' in tag for tag in scripts), (path, scripts)
        assert re.search(r"<[^>]*\son\w+\s*=", body) is None, path  # no inline handler
