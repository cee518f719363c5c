"""Registry server over loopback: remote register and get latency, cached get, server
throughput with 1 and 4 workers, and propagation latency between two client processes.

Run: ``python benchmarks/bench_server.py [--url STORE_URL]``. Writes the ``server`` section of
docs/benchmarks.md. Every run is bounded (counts and seconds below).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import (  # noqa: E402
    free_port,
    load_average,
    machine,
    median,
    ns_per_call,
    percentile,
    today,
    write_section,
)

from registry import FunctionalRegistry  # noqa: E402
from registry.store.base import EntryDraft  # noqa: E402
from registry.store.http import HttpStore  # noqa: E402

REGISTER_COUNT = 1000
GET_COUNT = 2000
LOAD_SECONDS = 3.0
LOAD_CLIENTS = 4
PROPAGATION_SAMPLES = 50


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT)) if p)
    for name in ("REGISTRY_TOKEN", "REGISTRY_SERVER_TOKENS", "REGISTRY_URL"):
        env.pop(name, None)
    return env


def start_server(store_url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server process; several workers over memory:// start the worker pool directly
    (``serve`` refuses that, since each worker would hold its own store)."""
    port = free_port()
    env = _env()
    if workers > 1 and store_url.startswith("memory://"):
        env["REGISTRY_SERVER_CONFIG"] = json.dumps({"url": store_url})
        launcher = (
            "from registry.server.workers import NoDelayConfig, run_workers\n"
            "run_workers(NoDelayConfig('registry.server.run:app_from_environment', factory=True,"
            f" workers={workers}, host='127.0.0.1', port={port}, log_level='warning'))"
        )
        command = [sys.executable, "-c", launcher]
    else:
        command = [sys.executable, "-m", "registry.server.run", "--host", "127.0.0.1"]
        command += ["--port", str(port)]
        command += ["--url", store_url, "--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:
                if response.status == 200:
                    time.sleep(0.5 if workers > 1 else 0)  # let every worker finish starting
                    return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


BARE_SERVER = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b'{"entry":null}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
from registry.server.workers import uvicorn_config
config = uvicorn_config(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
uvicorn.Server(config).run()
"""


def bench_bare_http(count: int) -> list[float]:
    """The floor: uvicorn with the registry server's settings, answering a constant body to
    the same client, with no application code at all."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)], env=_env())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        store = HttpStore(url)
        for _ in range(200):
            store.get_entry("bench.latency", "f0")
        samples = latencies_ms(lambda i: store.get_entry("bench.latency", "f0"), count)
        store.close()
        return samples
    finally:
        stop_server(process)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def latencies_ms(action, count: int) -> list[float]:
    samples = []
    for index in range(count):
        started = time.perf_counter()
        action(index)
        samples.append((time.perf_counter() - started) * 1e3)
    return samples


def bench_latency(url: str) -> dict[str, list[float]]:
    store = HttpStore(url)
    store.ensure_namespace("bench.latency", "function")
    for index in range(50):  # warm the connection and the server's code paths
        store.register("bench.latency", EntryDraft(f"warm{index}", f"bench.mod:warm{index}"))
    register = latencies_ms(
        lambda i: store.register("bench.latency", EntryDraft(f"f{i}", f"bench.mod:f{i}")),
        REGISTER_COUNT,
    )
    # The steady state of a running server: it answers from memory on its event loop (it keeps
    # what it wrote, and what it read).
    get = latencies_ms(
        lambda i: store.get_entry("bench.latency", f"f{i % REGISTER_COUNT}"), GET_COUNT
    )
    # The floor, same connection and client: an async route that does no store work.
    health = latencies_ms(lambda i: store.health(), GET_COUNT)
    store.close()
    return {"register": register, "get": get, "health": health}


def bench_first_reads(url: str) -> list[float]:
    """First read of each entry by a server started after they were written: its view reads
    each from the database (in the thread pool)."""
    store = HttpStore(url)
    store.get_entry("bench.latency", "warm0")  # the connection and the server's code paths
    first = latencies_ms(lambda i: store.get_entry("bench.latency", f"f{i}"), REGISTER_COUNT)
    store.close()
    return first


def bench_cached_get(url: str) -> tuple[float, float]:
    from registry.store import open_store

    def sample(x: int) -> int:
        return x

    sample.__module__ = "bench_server_sample"
    sample.__qualname__ = "sample"

    class Remote(FunctionalRegistry, logic_namespace="bench.cached", url=url): ...

    class Local(FunctionalRegistry): ...

    Remote.register_artifact("sample", sample)
    Local.register_artifact("sample", sample)
    remote_get, local_get = Remote.get_artifact, Local.get_artifact
    remote = ns_per_call(lambda: remote_get("sample"), 200_000)
    local = ns_per_call(lambda: local_get("sample"), 200_000)
    open_store(url).close()
    return remote, local


def _load_worker(url: str, identifier: str, seconds: float, results) -> None:
    store = HttpStore(url)
    store.get_entry("bench.load", identifier)
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        store.get_entry("bench.load", identifier)
        count += 1
    results.put(count)


def bench_throughput(store_url: str, workers: int) -> float:
    """Requests/s of uncached gets from LOAD_CLIENTS client processes for LOAD_SECONDS."""
    process, url = start_server(store_url, workers)
    try:
        shared = not store_url.startswith("memory://")
        identifier = "f"
        if shared:
            store = HttpStore(url)
            store.ensure_namespace("bench.load", "function")
            store.register("bench.load", EntryDraft(identifier, "bench.mod:f"))
            store.close()
        results: multiprocessing.Queue[int] = multiprocessing.Queue()
        clients = [
            multiprocessing.Process(
                target=_load_worker, args=(url, identifier, LOAD_SECONDS, results)
            )
            for _ in range(LOAD_CLIENTS)
        ]
        for client in clients:
            client.start()
        total = sum(results.get(timeout=LOAD_SECONDS + 30) for _ in clients)
        for client in clients:
            client.join()
        return total / LOAD_SECONDS
    finally:
        stop_server(process)


def bench_propagation(url: str) -> list[float]:
    """Milliseconds from a write by this process to the callback in another client process."""
    watcher_code = textwrap.dedent(
        f"""
        import sys
        from registry.store.http import HttpStore
        store = HttpStore({url!r})
        store.watch(lambda names: (sys.stdout.write("changed\\n"), sys.stdout.flush()))
        sys.stdout.write("ready\\n"); sys.stdout.flush()
        sys.stdin.readline()
        """
    )
    watcher = subprocess.Popen(
        [sys.executable, "-c", watcher_code],
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None
    assert watcher.stdin is not None
    assert watcher.stdout.readline().strip() == "ready"
    writer = HttpStore(url)
    writer.ensure_namespace("bench.propagation", "function")
    watcher.stdout.readline()  # the namespace creation itself
    samples = []
    for index in range(PROPAGATION_SAMPLES):
        started = time.perf_counter()
        if index % 2 == 0:
            writer.register("bench.propagation", EntryDraft("f", "bench.mod:f"))
        else:
            writer.unregister("bench.propagation", "f")
        watcher.stdout.readline()
        samples.append((time.perf_counter() - started) * 1e3)
        time.sleep(0.01)
    watcher.stdin.write("\n")
    watcher.stdin.flush()
    watcher.wait(10)
    writer.close()
    return samples


def default_store_url(tmp: str) -> str:
    if importlib.util.find_spec("registry.store.sql") is not None:
        return f"sqlite:///{tmp}/bench.db"
    return "memory://"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="store URL the server runs on (default: SQLite if available)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store_url = args.url or default_store_url(tmp)
        process, url = start_server(store_url, 1)
        try:
            latency = bench_latency(url)
            cached_remote, cached_local = bench_cached_get(url)
            propagation = bench_propagation(url)
        finally:
            stop_server(process)
        if not store_url.startswith("memory://"):  # a new server over the same database
            process, url = start_server(store_url, 1)
            try:
                latency["first"] = bench_first_reads(url)
            finally:
                stop_server(process)
        latency["bare"] = bench_bare_http(GET_COUNT)
        rps_1 = bench_throughput(store_url, 1)
        rps_4 = bench_throughput(store_url, 4)
    write_report(store_url, latency, cached_remote, cached_local, propagation, rps_1, rps_4)


def write_report(
    store_url: str,
    latency: dict[str, list[float]],
    cached_remote: float,
    cached_local: float,
    propagation: list[float],
    rps_1: float,
    rps_4: float,
) -> None:
    def p(samples: list[float]) -> str:
        return f"p50 {median(samples):.2f} ms, p99 {percentile(samples, 0.99):.2f} ms"

    backend = store_url.split(":", 1)[0]
    load_note = (
        "each worker holds its own empty memory store, so this measures HTTP, routing and "
        "auth only (a missing entry)"
        if backend == "memory"
        else "one shared database behind the workers"
    )
    body = f"""
## Registry server (`benchmarks/bench_server.py`)

Machine: {machine()}. Date: {today()}. Load average at the end: {load_average()}. Server: uvicorn
(h11), one process per worker, store `{backend}://`, over loopback; clients use `HttpStore`
(stdlib `http.client`, keep-alive).

| operation | result | target |
| --- | --- | --- |
| remote `register`, {REGISTER_COUNT:,} functions, one round trip each | {p(latency["register"])} | under 2 ms (seed: 8.5 ms) |
| remote `get_entry`, first read of each of {REGISTER_COUNT:,} entries by a server started after they were written (it reads the database) | {p(latency["first"]) if "first" in latency else "not measured on memory://"} | |
| remote uncached `get_entry` (no client cache; server warm), {GET_COUNT:,} lookups | {p(latency["get"])} | p50 under 0.35 ms, p99 under 1 ms |
| floor, same run: bare uvicorn answering a constant body to the same client | {p(latency["bare"])} | |
| `GET /health` (an async FastAPI route, no store work), same run | {p(latency["health"])} | |
| cached `get_artifact` hit, registry over HTTP | {cached_remote:.0f} ns | same as local |
| cached `get_artifact` hit, in-process registry (same run) | {cached_local:.0f} ns | |
| server throughput, 1 worker, {LOAD_CLIENTS} client processes, {LOAD_SECONDS:.0f} s | {rps_1:,.0f} requests/s | |
| server throughput, 4 workers, {LOAD_CLIENTS} client processes, {LOAD_SECONDS:.0f} s | {rps_4:,.0f} requests/s | |
| propagation: write in one client -> callback in another process, {PROPAGATION_SAMPLES} samples | {p(propagation)} | under 100 ms |

Throughput requests are uncached `get_entry` calls; {load_note}. An entry read whose record
the server's store holds in memory is answered before FastAPI sees it
(`server/cached_reads.py`: no FastAPI middleware, routing, token dependency or parameter
validation), which
is why it beats `GET /health`; a database read goes to the thread pool. The load generator (4
client processes) runs on the same {os.cpu_count()} cores as the server, so the 1- and
4-worker figures are bounded by the machine, not by the server: with 4 workers the
server processes and the clients compete for the same two cores. Propagation is long-poll: the server answers a waiting `GET /changes` as
soon as a write bumps a generation.
"""
    write_section("server", body)
    print(body)


if __name__ == "__main__":
    main()
