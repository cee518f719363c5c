"""Fixtures for the web page tests: Debian's chromium driven by Playwright, and real registry
servers on 127.0.0.1 over a real SQLite file and a real PostgreSQL database, filled by
``tests/ui/lab.py`` in another process.

Chromium comes from ``.ci/chromium.sh`` (run by ``make test``); Playwright's own browser
downloads are never used.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import run_python
from tests.server.conftest import READ_TOKEN, WRITE_TOKEN, LiveServer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("REGISTRY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "docs" / "img"


# Module scope, not session: while Playwright's sync API runs, its event loop is the main
# thread's running loop, and tests elsewhere that call asyncio.run() would fail after these.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `bash .ci/chromium.sh` (make test does)")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


def populate(url: str) -> None:
    result = run_python(f"from tests.ui import lab; lab.populate({url!r})")
    assert result.returncode == 0, result.stderr


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real store filled with the lab's namespaces: an SQLite file, then PostgreSQL."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('ui') / 'lab.db'}"
    populate(url)
    return url


@pytest.fixture(scope="module")
def lab_server(store_url: str) -> Iterator[LiveServer]:
    """A registry server with a read and a write token over the lab's store."""
    live = LiveServer(store_url, {READ_TOKEN: "read", WRITE_TOKEN: "write"}, [])
    live.start()
    yield live
    live.stop()


def new_context(browser: Browser, **options: object) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.set_default_timeout(10_000)
    return context


def sign_in(page: Page, server: LiveServer, token: str = READ_TOKEN) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/")


@pytest.fixture
def problems() -> list[str]:
    """Script errors and console errors (CSP reports, failed loads) of ``page``; a test that
    expects one removes it, any left fail the test."""
    return []


@pytest.fixture
def page(browser: Browser, lab_server: LiveServer, problems: list[str]) -> Iterator[Page]:
    """A signed-in page (read token) whose script errors and console errors fail the test."""
    context = new_context(browser)
    signed_in = context.new_page()
    signed_in.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    signed_in.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    signed_in.on(
        "response",
        lambda response: (
            problems.append(f"HTTP {response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    sign_in(signed_in, lab_server)
    yield signed_in
    context.close()
    assert not problems, problems


def screenshot(page: Page, name: str, store_url: str) -> None:
    """Save a screenshot for docs/ui.md (from the SQLite run, so each is taken once).

    The file is rewritten only when the picture changed: rounded corners come out a shade
    different from run to run, which should not leave a modified file behind every test run.
    """
    if not store_url.startswith("sqlite"):
        return
    # The footer names the store, a temporary file: hidden, so that runs give equal images
    # (by a DOM property: an injected style would break the page's content security policy).
    page.mouse.move(0, 0)  # no hover effects from where the last click left the pointer
    footers = page.locator("footer.bottom")
    footers.evaluate_all("found => found.forEach((element) => { element.hidden = true; })")
    picture = page.screenshot(full_page=True, animations="disabled")
    footers.evaluate_all("found => found.forEach((element) => { element.hidden = false; })")
    path = SCREENSHOTS / f"ui-{name}.png"
    if path.is_file() and same_picture(page, path.read_bytes(), picture):
        return
    SCREENSHOTS.mkdir(exist_ok=True)
    path.write_bytes(picture)


def same_picture(page: Page, old: bytes, new: bytes) -> bool:
    """Whether two PNGs show the same picture (no channel more than a few shades apart),
    decoded by the browser itself."""
    same: bool = page.evaluate(
        """async ([first, second]) => {
            const pixels = async (data) => {
                const image = new Image();
                image.src = "data:image/png;base64," + data;
                await image.decode();
                const canvas = document.createElement("canvas");
                canvas.width = image.width;
                canvas.height = image.height;
                const context = canvas.getContext("2d");
                context.drawImage(image, 0, 0);
                return context.getImageData(0, 0, image.width, image.height);
            };
            const [a, b] = [await pixels(first), await pixels(second)];
            if (a.width !== b.width || a.height !== b.height) return false;
            return a.data.every((value, i) => Math.abs(value - b.data[i]) <= 8);
        }""",
        [base64.b64encode(old).decode(), base64.b64encode(new).decode()],
    )
    return same
