"""The web page: namespace page with 10k and 100k entries, search as you type, and the time from
a registration (and an unregistration) in another process to the change on an open page in a
real browser.

Run: ``python benchmarks/bench_ui.py [--sizes 10000 100000]``. Writes the ``ui`` section of
docs/benchmarks.md. A registry server runs in its own process over an SQLite file filled
beforehand; requests go over loopback with keep-alive, so each time is a round trip and
``GET /health`` in the same run is the floor (HTTP and uvicorn alone). The browser is Debian's
chromium driven by Playwright (``.ci/chromium.sh`` installs it). Every loop is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import (  # noqa: E402
    free_port,
    load_average,
    machine,
    median,
    percentile,
    today,
    write_section,
)

from registry.store import close_stores, open_store  # noqa: E402
from registry.store.base import EntryDraft  # noqa: E402

NAMESPACE = "bench.big"
WORDS = ["loss", "metric", "encoder", "decoder", "focal", "smooth", "cross", "entropy", "dice"]
WORDS += ["margin", "triplet", "contrastive"]
#: What a user types, one keystroke at a time (each prefix is one request).
TYPED = ["focal dice 00", "contrastive_margin_01", "smooth entropy", "triplet_loss_002", "zz"]
PAGE_REQUESTS = 50
HEALTH_REQUESTS = 200
LIVE_SAMPLES = 8
LIVE_TIMEOUT = 30.0
CHROMIUM = "/usr/bin/chromium"


def fill(url: str, count: int) -> float:
    """Register ``count`` functions in one namespace through the store (setup); return seconds."""
    store = open_store(url)
    store.ensure_namespace(NAMESPACE, "function")
    rng = random.Random(1)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    began = time.perf_counter()
    for chunk in range(0, count, 5000):
        drafts = []
        for number in range(chunk, min(count, chunk + 5000)):
            first, second = rng.choice(WORDS), rng.choice(WORDS)
            name = f"{first}_{second}_{number:06d}"
            drafts.append(
                EntryDraft(
                    identifier=name,
                    origin=f"lab.{first}.{second}:{name}",
                    source_hash=f"{number:064x}",
                    signature="(y_true: float, y_pred: float) -> float",
                    scheme={
                        "type": "object",
                        "properties": {"y_true": {"type": "number"}, "y_pred": {"type": "number"}},
                        "required": ["y_true", "y_pred"],
                    },
                    doc=f"The {first} {second} of predictions, variant {number}.",
                    python_version="3.11.7",
                    package="lab",
                    package_version="1.0",
                    created_by=f"{rng.choice(['ada', 'grace', 'linus'])}@gpu-{rng.randint(1, 8)}",
                    created_at=start + timedelta(seconds=number * 37),
                )
            )
        store.register_batch(NAMESPACE, drafts)
    close_stores()
    return time.perf_counter() - began


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    for name in ("REGISTRY_TOKEN", "REGISTRY_SERVER_TOKENS", "REGISTRY_URL"):
        env.pop(name, None)
    return env


class Server:
    """A registry server process over ``url`` (no tokens, loopback) and one keep-alive client."""

    def __init__(self, url: str) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "registry.server.run", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--url", url, "--log-level", "warning"]
        command += ["--no-access-log"]
        self.process = subprocess.Popen(command, env=_env())
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                self.get("/health")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def get(self, path: str, fragment: bool = False) -> float:
        """Return the milliseconds of one GET round trip (the answer must be 200)."""
        headers = {"X-Registry-Fragment": "live"} if fragment else {}
        began = time.perf_counter()
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - began) * 1e3
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        return elapsed

    def stop(self) -> None:
        self.conn.close()
        self.process.terminate()
        self.process.wait(15)


def typing(server: Server, path: str) -> list[float]:
    """Round trips of one request per keystroke while typing each of TYPED."""
    samples = []
    for text in TYPED:
        for end in range(1, len(text) + 1):
            separator = "&" if "?" in path else "?"
            samples.append(server.get(f"{path}{separator}q={quote(text[:end])}", fragment=True))
    return samples


#: Another process of the lab: registers each name it reads, unregisters a name read as "-name",
#: and prints when it started each.
WRITER = textwrap.dedent(
    """
    import posixpath, sys, time
    from registry import FunctionalRegistry
    class Big(FunctionalRegistry, logic_namespace={namespace!r}, url={url!r}):
        pass
    for line in sys.stdin:
        name = line.strip()
        started = time.time()
        if name.startswith("-"):
            Big.unregister_identifier(name[1:])
        else:
            Big.register_artifact(name, posixpath.join)
        print(started, flush=True)
    """
)


def changes_to_page(server: Server, url: str) -> tuple[list[float], list[float]]:
    """Milliseconds from the start of ``register_artifact`` (then of ``unregister_identifier``)
    in another process to the row appearing on (then leaving) a namespace page open in
    chromium, as a MutationObserver in the page saw it."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        subprocess.run(["bash", str(ROOT / ".ci" / "chromium.sh")], check=True)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(namespace=NAMESPACE, url=url)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert writer.stdin is not None
    assert writer.stdout is not None
    added: list[float] = []
    removed: list[float] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        page = browser.new_page()
        page.goto(server.base + f"/browse/{NAMESPACE}")
        page.evaluate(
            """() => {
                window.__seen = {};
                window.__gone = {};
                new MutationObserver(() => {
                    const shown = new Set();
                    for (const link of document.querySelectorAll('#live tbody a')) {
                        shown.add(link.textContent);
                        window.__seen[link.textContent] ??= Date.now();
                    }
                    for (const name of Object.keys(window.__seen)) {
                        if (!shown.has(name)) window.__gone[name] ??= Date.now();
                    }
                }).observe(document.getElementById('live'), {childList: true, subtree: true});
            }"""
        )
        page.wait_for_timeout(1000)  # the event stream is connected
        for number in range(LIVE_SAMPLES):
            name = f"aaa_late_{number:03d}"  # sorts first: it lands on the open first page
            for line, seen_in, samples in (
                (name, "__seen", added),
                ("-" + name, "__gone", removed),
            ):
                writer.stdin.write(line + "\n")
                writer.stdin.flush()
                started = float(writer.stdout.readline())
                # Polled from here: the page's policy forbids the eval that wait_for_function
                # uses. The time comes from the page's observer: polling adds nothing to it.
                deadline = time.monotonic() + LIVE_TIMEOUT
                seen = None
                while seen is None and time.monotonic() < deadline:
                    page.wait_for_timeout(10)
                    seen = page.evaluate(f"(name) => window.{seen_in}[name]", name)
                if seen is None:
                    raise RuntimeError(f"{line} did not show within {LIVE_TIMEOUT} s")
                samples.append(seen - started * 1e3)
                page.wait_for_timeout(300)
        browser.close()
    writer.stdin.close()
    writer.wait(30)
    return added, removed


def catalog_costs(url: str) -> dict[str, float]:
    """Lower level, in this process: milliseconds of the catalog alone for the first index of
    the namespace (``list_entries``), then for bringing it up to date after one registration
    by another store (``changes_since``), with the first page sorted by identifier and date."""
    from registry.server.ui.catalog import Catalog
    from registry.store.sql import SqlStore

    writer = SqlStore(url)  # another engine on the file, as another process would write
    catalog = Catalog(open_store(url))
    began = time.perf_counter()
    index = catalog.namespace(NAMESPACE)
    read = (time.perf_counter() - began) * 1e3
    assert index is not None
    index.order("identifier"), index.order("created_at")
    updates = []
    for number in range(20):
        writer.register(
            NAMESPACE, EntryDraft(identifier=f"zzz_{number}", origin=f"lab:zzz_{number}")
        )
        began = time.perf_counter()
        index = catalog.namespace(NAMESPACE)
        assert index is not None
        index.page(sort="created_at", descending=True)
        updates.append((time.perf_counter() - began) * 1e3)
    for number in range(20):
        writer.unregister(NAMESPACE, f"zzz_{number}")
    writer.close()
    close_stores()
    return {"read": read, "update": median(updates)}


def measure(size: int, folder: str) -> dict[str, object]:
    url = f"sqlite:///{folder}/ui-{size}.db"
    result: dict[str, object] = {"size": size, "fill": fill(url, size)}
    result["catalog"] = catalog_costs(url)
    server = Server(url)
    try:
        page = f"/browse/{NAMESPACE}"
        result["cold"] = server.get(page)
        # What the page script asks for next: the whole live part, once the index is read.
        result["cold_whole"] = server.get(page, fragment=True)
        result["health"] = [server.get("/health") for _ in range(HEALTH_REQUESTS)]
        result["first"] = [server.get(page) for _ in range(PAGE_REQUESTS)]
        deep = f"{page}?sort=created_at&order=desc&page={size // 100}"
        server.get(deep)  # the first request sorts by created_at once
        result["deep"] = [server.get(deep) for _ in range(PAGE_REQUESTS)]
        result["typing"] = typing(server, page)
        result["search"] = typing(server, "/")
        result["live"], result["live_gone"] = changes_to_page(server, url)
    finally:
        server.stop()
    return result


def ms(samples: object) -> str:
    values = list(samples)  # type: ignore[call-overload]
    return f"p50 {median(values):.1f} ms, p99 {percentile(values, 0.99):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as folder:
        results = [measure(size, folder) for size in args.sizes]
    rows = []
    for r in results:
        size = f"{r['size']:,}"
        rows += [
            f"| {size} | `GET /health` (the floor: HTTP and uvicorn alone) | {ms(r['health'])} | |",
            f"| {size} | namespace page, first request after start (an outline: the identifiers, and the 50 entries shown) | {r['cold']:.0f} ms | |",
            f"| {size} | the same page whole, which the page script asks for next (the server reads the namespace, builds the index) | {r['cold'] + r['cold_whole']:.0f} ms after the first request | |",
            f"| {size} | namespace page, first page, {PAGE_REQUESTS} requests | {ms(r['first'])} | ≤ 100 ms |",
            f"| {size} | namespace page {r['size'] // 100:,}, sorted by date, descending | {ms(r['deep'])} | ≤ 100 ms |",
            f"| {size} | filter as you type, one request per keystroke ({len(r['typing'])} keystrokes) | {ms(r['typing'])} | ≤ 50 ms |",
            f"| {size} | search every namespace as you type ({len(r['search'])} keystrokes) | {ms(r['search'])} | ≤ 50 ms |",
            f"| {size} | registration in another process -> row on the open page ({len(r['live'])} samples) | p50 {median(r['live']):.0f} ms, max {max(r['live']):.0f} ms | ≤ 1 s |",  # type: ignore[arg-type]
            f"| {size} | unregistration in another process -> row gone from the open page ({len(r['live_gone'])} samples) | p50 {median(r['live_gone']):.0f} ms, max {max(r['live_gone']):.0f} ms | ≤ 1 s |",  # type: ignore[arg-type]
            f"| {size} | lower level, the catalog alone: first index of the namespace (`list_entries`) | {r['catalog']['read']:.0f} ms | |",  # type: ignore[index]
            f"| {size} | lower level, the catalog alone: index brought up to date after one registration (`changes_since`, median of 20) | {r['catalog']['update']:.1f} ms | |",  # type: ignore[index]
        ]
    fills = ", ".join(f"{r['size']:,} in {r['fill']:.0f} s" for r in results)
    biggest: dict[str, Any] = results[-1]
    body = f"""
## Web page (`benchmarks/bench_ui.py`)

Machine: {machine()}. Date: {today()}. Load average before: {load_before}; after: {load_average()}.
Server: one uvicorn process over an SQLite file holding one namespace of N entries (filled
through `register_batch` beforehand: {fills}), no access log; requests over loopback with
keep-alive, each time a whole round trip. Browser: Debian's chromium, headless, via Playwright.

| entries | what | result | target |
| --- | --- | --- | --- |
{chr(10).join(rows)}

Typing sends one request per keystroke (the page sends them as you type, dropping answers that
a newer keystroke overtook) for {len(TYPED)} phrases such as "{TYPED[0]}"; the filter answers
with the re-rendered table (`X-Registry-Fragment: live`), the search with the overview's
results. Each keystroke after the first of a phrase scans only what the previous one found.
A registration in another process reaches the server through the store's change signal or
its generation poll (every 50 ms while a page listens); the page, told by `/ui/events`, asks
for its re-rendered table, and the server brings its index up to date from what changed since
the index's generation (`changes_since`: the changed rows, not the namespace). The catalog
alone does that in {biggest["catalog"]["update"]:.1f} ms at {biggest["size"]:,} entries, against {biggest["catalog"]["read"]:.0f} ms
for reading the namespace whole (the lower-level rows, same run: {biggest["catalog"]["read"] / biggest["catalog"]["update"]:.0f} times less).
Reading a namespace whole remains, once per server start: the first visit is answered from
an outline (the identifiers alone, and the 50 entries shown) while the server reads the rest
in the background, and the page script's next request, for the whole page, waits for it.
"""
    write_section("ui", body)
    print(body)


if __name__ == "__main__":
    main()
