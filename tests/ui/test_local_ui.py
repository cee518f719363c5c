"""``registry ui``: the same page over any store, read-only, for one user on 127.0.0.1."""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from tests.server.conftest import READ_TOKEN, LiveServer, child_env, free_port

from .conftest import new_context, populate

pytestmark = pytest.mark.slow


class LocalUi:
    def __init__(self, process: subprocess.Popen[str], link: str) -> None:
        self.process = process
        self.link = link
        parts = urlsplit(link)
        self.port = parts.port or 0
        self.token = parts.query.removeprefix("token=")

    def request(self, method: str, path: str, headers: dict[str, str] | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            conn.close()


def start(*args: str) -> LocalUi:
    process = subprocess.Popen(
        [sys.executable, "-m", "registry", "ui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(2)]
    found = re.search(r"(http://127\.0\.0\.1:\d+/login\?token=\S+)", lines[1])
    assert found, (lines, process.stderr.read() if process.poll() is not None else "")
    return LocalUi(process, found.group(1))


@pytest.fixture(scope="module")
def local_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUi]:
    url = f"sqlite:///{tmp_path_factory.mktemp('local') / 'lab.db'}"
    populate(url)
    ui = start("--url", url)
    yield ui
    ui.process.terminate()
    ui.process.wait(10)


def test_prints_a_sign_in_link_that_opens_the_page(local_ui: LocalUi, browser: Browser) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.goto(local_ui.link)
    expect(page).to_have_url(f"http://127.0.0.1:{local_ui.port}/")
    expect(page.get_by_role("link", name="lab.experiments")).to_be_visible()
    expect(page.locator("footer")).to_contain_text("read-only")
    context.close()


def test_nothing_without_the_printed_token(local_ui: LocalUi) -> None:
    status, headers, body = local_ui.request("GET", "/")
    assert status == 303 and headers["location"].startswith("/login")
    assert "lab.experiments" not in body
    status, _headers, _body = local_ui.request("GET", "/login?token=guessed-token-0123456789")
    assert status == 401


def test_it_writes_nothing(local_ui: LocalUi) -> None:
    bearer = {"Authorization": f"Bearer {local_ui.token}"}
    assert local_ui.request("GET", "/namespaces", bearer)[0] == 200
    for method, path in (
        ("PUT", "/namespaces/lab.new"),
        ("POST", "/namespaces/lab.metrics/entries"),
        ("DELETE", "/namespaces/lab.metrics/entries/accuracy"),
        ("DELETE", "/namespaces/lab.metrics/entries"),
        ("POST", "/namespaces/lab.metrics/batch"),
    ):
        status = local_ui.request(method, path, bearer)[0]
        assert status in (404, 405), (method, path, status)


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    import socket

    from registry.store import close_stores, open_store

    open_store(f"sqlite:///{tmp_path / 'empty.db'}")  # `registry ui` never creates a store
    close_stores()

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        result = subprocess.run(
            [sys.executable, "-m", "registry", "ui", "--port", str(port)]
            + ["--url", f"sqlite:///{tmp_path / 'empty.db'}"],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_over_another_registry_server(tmp_path: Path) -> None:
    """`registry ui --url http://...` browses a lab server with the user's REGISTRY_TOKEN."""
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    populate(url)
    server = LiveServer(url, {READ_TOKEN: "read"}, [])
    server.start()
    process = subprocess.Popen(
        [sys.executable, "-m", "registry", "ui", "--url", server.url],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env({"REGISTRY_TOKEN": READ_TOKEN}),
    )
    try:
        assert process.stdout is not None
        link = re.search(r"http://\S+", [process.stdout.readline() for _ in range(2)][1])
        assert link
        ui = LocalUi(process, link.group(0))
        cookie = ui.request("GET", urlsplit(ui.link).path + "?" + urlsplit(ui.link).query)[1]
        session = {"Cookie": cookie["set-cookie"].split(";")[0]}
        status, _headers, body = ui.request("GET", "/browse/lab.experiments/Encoder", session)
        assert status == 200
        assert "Embeds token sequences." in body
    finally:
        process.terminate()
        process.wait(10)
        server.stop()
