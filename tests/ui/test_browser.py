"""The web page in a real browser, against a real server over SQLite and over PostgreSQL.

The click-through follows a user: overview -> namespace -> search -> entry -> version history
-> config builder with an invalid value (the error appears next to the field) -> a valid
config whose downloaded YAML rebuilds the same object with ``registry build``. Screenshots of
each page go to docs/img/ (shown in docs/ui.md).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from registry import load_config_file
from tests.conftest import run_python
from tests.server.conftest import READ_TOKEN, LiveServer, child_env

from .conftest import new_context, screenshot, sign_in

pytestmark = pytest.mark.slow


def test_click_through(page: Page, lab_server: LiveServer, store_url: str, tmp_path: Path) -> None:
    # Overview: every namespace with kind, size and the last registration.
    row = page.locator("tr", has=page.get_by_role("link", name="lab.experiments", exact=True))
    expect(row).to_contain_text("scheme")
    expect(row.locator("td.num")).to_have_text("3")
    expect(row).to_contain_text("2025-09-11 08:03 UTC")
    expect(row).to_contain_text("ada@gpu-01")
    screenshot(page, "overview", store_url)

    # Namespace page, filtered as you type.
    page.get_by_role("link", name="lab.experiments", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("lab.experiments")
    table = page.locator("table.entries tbody")
    expect(table.locator("tr")).to_have_count(3)
    screenshot(page, "namespace", store_url)
    page.get_by_label("Filter entries").press_sequentially("sgd")
    expect(page.locator("#count")).to_contain_text("“sgd”")
    expect(table.locator("tr")).to_have_count(1)
    expect(table).to_contain_text("make_sgd")
    assert "q=sgd" in page.url  # the filtered view has its own address

    # Search across namespaces by a docstring word.
    page.goto(lab_server.url + "/")
    page.get_by_label("Search every namespace").press_sequentially("embeds")
    expect(page.locator("#results-title")).to_contain_text("“embeds”")  # the last keystroke
    hits = page.locator("section.results tbody tr")
    expect(hits).to_have_count(1)
    expect(hits).to_contain_text("lab.experiments")
    screenshot(page, "search", store_url)
    hits.get_by_role("link", name="Encoder").click()

    # Entry page: signature, docstring, fields, snippets, version history.
    expect(page.locator("#signature")).to_contain_text(
        "Encoder(hidden_dim: int, num_layers: int = 3"
    )
    expect(page.locator("#docstring")).to_have_text("Embeds token sequences.")
    fields = page.locator("table.fields tbody tr")
    expect(fields).to_have_count(4)
    expect(fields.first).to_contain_text("hidden_dim")
    expect(page.locator("#snippet-python")).to_contain_text(
        'registry.open("lab.experiments").get_artifact("Encoder")'
    )
    expect(page.locator("#snippet-shell")).to_have_text("registry show lab.experiments Encoder")
    skeleton = yaml.safe_load(page.locator("#snippet-yaml").inner_text())
    assert skeleton == {"_type": "lab.experiments:Encoder", "hidden_dim": 0}
    page.get_by_role("link", name="Version history (3)").click()
    versions = page.locator("ol.timeline > li")
    expect(versions).to_have_count(3)
    expect(versions.nth(0)).to_contain_text("Version 3")
    expect(versions.nth(0)).to_contain_text("source changed")
    expect(versions.nth(0)).to_contain_text("signature was (hidden_dim: int, num_layers: int = 3)")
    expect(versions.nth(2)).to_contain_text("first registered")
    expect(versions.nth(2)).to_contain_text("ada@gpu-01")
    expect(versions.nth(2)).to_contain_text("3.10.14")
    screenshot(page, "entry", store_url)

    # Config builder of an artifact with nested parts.
    page.goto(lab_server.url + "/browse/lab.experiments/Experiment")
    page.get_by_role("link", name="Open the config builder").click()
    form = page.locator("#builder")
    form.get_by_label("model").first.fill("Encoder")
    form.get_by_label("model").first.press("Tab")  # a change loads Encoder's fields
    hidden_dim = form.get_by_label("hidden_dim")
    hidden_dim.fill("wide")
    form.get_by_label("optimizer").first.fill("make_sgd")
    form.get_by_label("optimizer").first.press("Tab")
    form.get_by_label("learning_rate").fill("0.01")
    form.get_by_label("epochs").fill("5")
    page.get_by_role("button", name="Check config").click()
    error = page.locator('[data-error-for="model.hidden_dim"]')
    expect(error).to_be_visible()
    expect(error).to_contain_text("valid integer")
    expect(hidden_dim).to_have_attribute("aria-invalid", "true")
    field = page.locator('.field[data-path="model.hidden_dim"]')
    assert field.locator('[data-error-for="model.hidden_dim"]').count() == 1  # next to its field
    screenshot(page, "builder-error", store_url)

    hidden_dim.fill("64")
    page.get_by_role("button", name="Check config").click()
    expect(page.locator("#result-message")).to_have_text(
        "Valid config for lab.experiments:Experiment"
    )
    expect(error).to_be_hidden()
    screenshot(page, "builder-valid", store_url)
    expected = {
        "_type": "lab.experiments:Experiment",
        "model": {"_type": "Encoder", "hidden_dim": 64},
        "optimizer": {"_type": "make_sgd", "learning_rate": 0.01},
        "epochs": 5,
    }
    for suffix in ("yaml", "json", "toml"):
        with page.expect_download() as download:
            page.get_by_role("button", name=f"Download Experiment.{suffix}").click()
        downloaded = tmp_path / download.value.suggested_filename
        download.value.save_as(downloaded)
        assert downloaded.name == f"Experiment.{suffix}"
        assert load_config_file(downloaded) == expected
        # The file rebuilds the object: `registry build` saves the config of what it built.
        rebuilt = tmp_path / f"rebuilt-{suffix}.yaml"
        build = subprocess.run(
            [sys.executable, "-m", "registry", "build", str(downloaded), "-o", str(rebuilt)]
            + ["--url", store_url],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=60,
            check=False,
        )
        assert build.returncode == 0, build.stderr
        assert yaml.safe_load(rebuilt.read_text()) == _qualified(expected, "lab.experiments")


def _qualified(config: Any, namespace: str) -> Any:
    """``config`` with every ``_type`` written as ``namespace:name`` (as to_config writes it)."""
    if isinstance(config, dict):
        return {
            key: (value if ":" in value else f"{namespace}:{value}")
            if key == "_type"
            else _qualified(value, namespace)
            for key, value in config.items()
        }
    return config


def test_builder_offers_the_names_of_the_namespace(page: Page, lab_server: LiveServer) -> None:
    page.goto(lab_server.url + "/browse/lab.experiments/Experiment/build")
    options = page.locator("#registered-names option")
    expect(options).to_have_count(3)
    page.locator("#builder").get_by_label("model").first.press_sequentially("Enc")
    expect(options).to_have_count(1)
    expect(options).to_have_attribute("value", "Encoder")


def test_unknown_nested_name_is_reported_at_its_field(
    page: Page, lab_server: LiveServer, problems: list[str]
) -> None:
    page.goto(lab_server.url + "/browse/lab.experiments/Experiment/build")
    form = page.locator("#builder")
    form.get_by_label("model").first.fill("Encodr")
    form.get_by_label("optimizer").first.fill("make_sgd")
    form.get_by_label("optimizer").first.press("Tab")
    expect(form.get_by_label("learning_rate")).to_be_visible()  # the form stopped growing
    page.get_by_role("button", name="Check config").click()
    error = page.locator('[data-error-for="model"]')
    expect(error).to_contain_text("not registered")
    expect(page.locator("#form-error")).to_contain_text("Did you mean 'Encoder'?")
    # Loading Encodr's fields was answered 404, which the browser logs.
    assert len(problems) == 2 and "/ui/fields/lab.experiments?type=Encodr" in problems[0], problems
    problems.clear()


def test_registration_by_another_process_appears_without_reload(
    page: Page, lab_server: LiveServer, store_url: str
) -> None:
    page.goto(lab_server.url + "/browse/lab.metrics")
    rows = page.locator("table.entries tbody tr")
    expect(rows).to_have_count(2)
    page.evaluate("window.__not_reloaded = true")
    late = run_python(f"from tests.ui import lab; lab.register_late({store_url!r})")
    assert late.returncode == 0, late.stderr
    expect(page.get_by_role("link", name="f1_score")).to_be_visible()
    expect(page.locator("#live-status")).to_contain_text("lab.metrics changed")
    gone = run_python(f"from tests.ui import lab; lab.unregister({store_url!r}, 'f1_score')")
    assert gone.returncode == 0, gone.stderr
    expect(page.get_by_role("link", name="f1_score")).to_have_count(0)
    assert page.evaluate("window.__not_reloaded") is True


def test_an_open_page_follows_new_versions_unregisters_and_clears(
    page: Page, lab_server: LiveServer, store_url: str
) -> None:
    """The server brings its index up to date from what changed (new rows, new versions,
    removals, a clear) and the open page shows each change without a reload."""

    def change(*steps: tuple[str, ...]) -> None:
        done = run_python(f"from tests.ui import lab; lab.change_live({store_url!r}, *{steps!r})")
        assert done.returncode == 0, done.stderr

    change(("register", "alpha", "1"), ("register", "beta", "1"), ("register", "gamma", "1"))
    page.goto(lab_server.url + "/browse/lab.live?sort=version")
    rows = page.locator("table.entries tbody tr")
    expect(rows).to_have_count(3)
    page.evaluate("window.__not_reloaded = true")
    identifiers = rows.locator("td:first-child")
    versions = rows.locator("td.num")

    change(("register", "delta", "1"))
    expect(identifiers).to_have_text(["alpha", "beta", "delta", "gamma"])
    change(("register", "beta", "2"))  # a new version moves to the end (sorted by version)
    expect(identifiers).to_have_text(["alpha", "delta", "gamma", "beta"])
    expect(versions).to_have_text(["1", "1", "1", "2"])
    expect(page.locator("#count")).to_contain_text("4 in the namespace")
    change(("unregister", "alpha"), ("unregister", "gamma"))
    expect(identifiers).to_have_text(["delta", "beta"])
    change(("clear",))
    expect(page.locator("#count")).to_contain_text("This namespace is empty.")
    change(("register", "gamma", "3"))  # after a clear: only what came since
    expect(identifiers).to_have_text(["gamma"])
    expect(versions).to_have_text(["2"])  # the version numbers go on from the history
    assert page.evaluate("window.__not_reloaded") is True


def test_a_large_namespace_is_shown_before_the_server_has_read_it(
    page: Page, lab_server: LiveServer, store_url: str
) -> None:
    """The first visit gets the first page from the identifiers alone; the page script then
    asks for the whole of it, answered once the server has read the namespace."""
    page.goto(lab_server.url + "/browse/lab.metrics")  # an open overview would read it at once
    filled = run_python(
        f"from tests.ui import lab; lab.fill_large({store_url!r}, 'lab.many', 2500)"
    )
    assert filled.returncode == 0, filled.stderr
    first = page.goto(lab_server.url + "/browse/lab.many")
    assert first is not None and "reading the rest of it" in first.text()
    expect(page.locator("#count")).to_contain_text("last registration")
    expect(page.locator("table.entries tbody tr")).to_have_count(50)
    expect(page.locator("table.entries tbody tr").first).to_contain_text("metric_00000")
    page.get_by_label("Filter entries").fill("metric_0249")
    expect(page.locator("table.entries tbody tr")).to_have_count(10)


def test_open_overview_follows_new_namespaces(
    page: Page, lab_server: LiveServer, store_url: str
) -> None:
    code = (
        "from registry import FunctionalRegistry\n"
        f"class Late(FunctionalRegistry, logic_namespace='lab.late', url={store_url!r}): pass\n"
        "Late.register_artifact(len)\n"
    )
    expect(page.get_by_role("link", name="lab.late")).to_have_count(0)
    created = run_python(code)
    assert created.returncode == 0, created.stderr
    expect(page.get_by_role("link", name="lab.late")).to_be_visible()


def test_stored_markup_is_shown_as_text(page: Page, lab_server: LiveServer) -> None:
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    for path in ("/browse/lab.metrics/hostile", "/browse/lab.metrics", "/?q=bold"):
        page.goto(lab_server.url + path)
        expect(
            page.get_by_text('<script>window.__hostile = "script"</script>').first
        ).to_be_visible()
        assert page.evaluate("window.__hostile") is None, path
        assert page.locator("main script, main img").count() == 0, path
    expect(page.locator("#docstring")).to_have_count(0)  # the search page shows the summary only


def test_without_a_token_nothing_is_shown(browser: Browser, lab_server: LiveServer) -> None:
    context = new_context(browser)
    anonymous = context.new_page()
    for path in ("/", "/browse/lab.experiments", "/browse/lab.experiments/Encoder/build"):
        anonymous.goto(lab_server.url + path)
        expect(anonymous).to_have_url(re.compile(r"/login\?next="))
        expect(anonymous.locator("main")).not_to_contain_text("Encoder")
        expect(anonymous.locator("main")).not_to_contain_text("lab.experiments")
    for path in ("/ui/api/namespaces", "/ui/events", "/ui/fields/lab.experiments?type=Encoder"):
        answer = anonymous.request.get(lab_server.url + path)
        assert answer.status == 401, path
        assert "Encoder" not in answer.text()
    anonymous.get_by_label("Token").fill("not-a-token-of-this-server")
    anonymous.get_by_role("button", name="Sign in").click()
    expect(anonymous.get_by_role("alert")).to_have_text("This token is not known to the server.")
    context.close()


def test_signing_in_returns_to_the_page_asked_for(browser: Browser, lab_server: LiveServer) -> None:
    context = new_context(browser)
    visitor = context.new_page()
    visitor.goto(lab_server.url + "/browse/lab.experiments?q=enc")
    sign_in_url = visitor.url
    visitor.get_by_label("Token").fill(READ_TOKEN)
    visitor.get_by_role("button", name="Sign in").click()
    expect(visitor).to_have_url(lab_server.url + "/browse/lab.experiments?q=enc")
    assert "next=" in sign_in_url
    visitor.get_by_role("button", name="Sign out").click()
    visitor.goto(lab_server.url + "/")
    expect(visitor).to_have_url(re.compile(r"/login"))
    context.close()


def test_api_docs_work_offline(browser: Browser, lab_server: LiveServer, store_url: str) -> None:
    context = new_context(browser)
    outside: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(lab_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    docs = context.new_page()
    problems: list[str] = []
    docs.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    docs.goto(lab_server.url + "/docs")
    expect(docs.get_by_text("registry server").first).to_be_visible()
    expect(
        docs.locator(".opblock-summary-path", has_text="/namespaces/{name}/entries").first
    ).to_be_visible()
    expect(docs.get_by_text("/ui/api/search")).to_be_visible()
    screenshot(docs, "api-docs", store_url)
    assert outside == []
    assert problems == []
    context.close()


def test_keyboard_and_labels(page: Page, lab_server: LiveServer) -> None:
    for path in (
        "/",
        "/browse/lab.experiments",
        "/browse/lab.experiments/Encoder",
        "/browse/lab.experiments/Experiment/build",
    ):
        page.goto(lab_server.url + path)
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
                .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || e.textContent.trim()))
                .map((e) => e.outerHTML)"""
        )
        assert unlabelled == [], path
        page.keyboard.press("Tab")
        expect(page.locator(":focus")).to_have_text("Skip to content")
    page.goto(lab_server.url + "/browse/lab.experiments")
    page.locator("body").press("/")
    expect(page.get_by_label("Filter entries")).to_be_focused()
    page.keyboard.type("enc")
    expect(page.locator("table.entries tbody tr")).to_have_count(1)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_readable_on_a_phone(
    browser: Browser, lab_server: LiveServer, store_url: str, scheme: str
) -> None:
    context = new_context(browser, color_scheme=scheme)
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    sign_in(phone, lab_server)
    for path, name in (
        ("/browse/lab.experiments", "namespace"),
        ("/browse/lab.experiments/Encoder", "entry"),
    ):
        phone.goto(lab_server.url + path)
        width = phone.evaluate("document.documentElement.scrollWidth")
        too_wide = phone.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter((e) => !e.parentElement.closest('pre, .table-wrap'))  // they scroll
                .filter((e) => e.getBoundingClientRect().right > 390)
                .map((e) => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`)"""
        )
        assert width <= 390 and too_wide == [], (path, width, too_wide)
        if scheme == "dark":
            background = phone.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(20, 24, 29)"
            screenshot(phone, f"{name}-phone-dark", store_url)
    context.close()


def test_leaving_the_search_field_does_not_swap_the_results_again(
    page: Page, lab_server: LiveServer
) -> None:
    # Clicking a result blurs the field, which fires "change" for the text "input" already
    # searched; a second swap of the results between the press and the release of the button
    # swallowed the click now and then (the click-through failed so under load).
    fragments: list[str] = []
    page.on(
        "request",
        lambda request: (
            fragments.append(request.url) if request.headers.get("x-registry-fragment") else None
        ),
    )
    field = page.get_by_label("Search every namespace")
    field.press_sequentially("embeds")
    expect(page.locator("#results-title")).to_contain_text("“embeds”")
    asked = len(fragments)
    field.blur()
    page.wait_for_timeout(300)
    assert len(fragments) == asked
    page.locator("section.results tbody tr").get_by_role("link", name="Encoder").click()
    expect(page.locator("#signature")).to_contain_text("Encoder(")
