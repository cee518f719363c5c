"""Store benchmark: registration throughput, cold start, cross-process propagation, hit path.

Run ``python benchmarks/bench_store.py [--pg URL]`` from the repository top (PostgreSQL: the
server of ``.ci/postgres.sh``). Prints a Markdown table; each database is created in a temporary
directory (SQLite) or as a throw-away database (PostgreSQL) and removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import uuid
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, today, write_section  # noqa: E402

from registry.store.base import EntryDraft  # noqa: E402
from registry.store.cached import CachedStore  # noqa: E402
from registry.store.engines import dispose_engine  # noqa: E402
from registry.store.memory import MemoryStore  # noqa: E402
from registry.store.sql import SqlStore  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://registry:registry@127.0.0.1:5432/registry_test"
N = 1_000
COLD_ENTRIES = 10_000
PROPAGATION_WRITES = 60

WRITER = r"""
import json, sys, time
from registry.store import open_store
from registry.store.base import EntryDraft
url, ns, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = open_store(url)
time.sleep(0.5)
out = []
for i in range(n):
    store.register(ns, EntryDraft(f"p{i}", f"lab.mod:p{i}"))
    committed = time.time()
    out.append((store.generations()[ns], committed))
    time.sleep(0.03)
print(json.dumps(out))
"""

COLD = r"""
import sys, time
t0 = time.perf_counter()
from registry.store import open_store
store = open_store(sys.argv[1])
t1 = time.perf_counter()
entries = store.list_entries(sys.argv[2])
entry = store.get_entry(sys.argv[2], "e5000")
module, _, name = "json:dumps".partition(":")
import importlib
obj = getattr(importlib.import_module(module), name)
t2 = time.perf_counter()
print(len(entries), round((t1 - t0) * 1000, 1), round((t2 - t1) * 1000, 1))
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC)}


def drafts(prefix: str, count: int) -> list[EntryDraft]:
    return [
        EntryDraft(f"{prefix}{i}", f"lab.mod:{prefix}{i}", source_hash="h") for i in range(count)
    ]


def throughput(url: str) -> tuple[float, float]:
    store = CachedStore(SqlStore(url))
    store.ensure_namespace("bench.one", "function")
    store.ensure_namespace("bench.batch", "function")
    start = time.perf_counter()
    for draft in drafts("f", N):
        store.register("bench.one", draft)
    one_by_one = time.perf_counter() - start
    start = time.perf_counter()
    store.register_batch("bench.batch", drafts("g", N))
    batch = time.perf_counter() - start
    store.close()
    return N / one_by_one, N / batch


def cold_start(url: str) -> tuple[int, float, float, float]:
    store = SqlStore(url)
    store.ensure_namespace("bench.cold", "function")
    store.register_batch(
        "bench.cold", [EntryDraft(f"e{i}", f"lab.mod:e{i}") for i in range(COLD_ENTRIES)]
    )
    store.close()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", COLD, url, "bench.cold"],
        env=env(),
        capture_output=True,
        text=True,
        check=True,
    )
    wall = (time.perf_counter() - start) * 1000
    count, opened, first_hit = done.stdout.split()
    return int(count), float(opened), float(first_hit), wall


def propagation(url: str) -> tuple[float, float]:
    namespace = "bench.propagation"
    cached = CachedStore(SqlStore(url))
    inner = cached.inner
    cached.ensure_namespace(namespace, "function")
    seen: list[tuple[int, float]] = []
    lock = threading.Lock()

    def on_change(changed: frozenset[str] | None) -> None:
        now = time.time()
        if changed is None or namespace in changed:
            record = inner.get_namespace(namespace)
            with lock:
                seen.append((record.generation if record else -1, now))

    cached.watch(on_change)
    time.sleep(0.3)
    done = subprocess.run(
        [sys.executable, "-c", WRITER, url, namespace, str(PROPAGATION_WRITES)],
        env=env(),
        capture_output=True,
        text=True,
        check=True,
    )
    time.sleep(0.3)
    commits = json.loads(done.stdout)
    latencies = []
    for generation, committed in commits:
        arrivals = [t for g, t in seen if g >= generation]
        if arrivals:
            latencies.append(max(0.0, min(arrivals) - committed) * 1000)
    cached.close()
    quantiles = statistics.quantiles(latencies, n=100)
    return quantiles[49], quantiles[98]


def hit_path(url: str) -> tuple[float, float]:
    memory = MemoryStore()
    cached = CachedStore(SqlStore(url))
    for store in (memory, cached):
        store.ensure_namespace("bench.hit", "function")
        store.register_batch("bench.hit", drafts("h", 100))
        store.get_entry("bench.hit", "h50")
    results = []
    for store in (memory, cached):
        rounds = 200_000
        start = time.perf_counter()
        for _ in range(rounds):
            store.get_entry("bench.hit", "h50")
        results.append((time.perf_counter() - start) / rounds * 1e9)
    cached.close()
    return results[0], results[1]


def fresh_pg(admin_url: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url)
    name = f"registry_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        admin.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.set(database=name).render_as_string(hide_password=False)


def drop_pg(admin_url: str, url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    from registry.store import close_stores

    close_stores()  # stop the watchers before their database disappears
    dispose_engine(url)
    admin = make_url(admin_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def registry_hit_path(url: str) -> tuple[float, float]:
    """``get_artifact`` hit on a persistent registry vs an in-process one, same run (ns)."""
    import types

    from registry import FunctionalRegistry

    local = types.new_class("LocalHits", (FunctionalRegistry,))
    persistent = types.new_class(
        "PersistentHits",
        (FunctionalRegistry,),
        {"logic_namespace": "bench.registry_hits", "url": url},
    )
    for target in (local, persistent):
        target.register_artifact(json.dumps)
        target.get_artifact("dumps")
    stmt = "get('dumps')"
    local_ns = (
        min(timeit.repeat(stmt, globals={"get": local.get_artifact}, number=1_000_000, repeat=5))
        * 1e3
    )
    persistent_ns = (
        min(
            timeit.repeat(
                stmt, globals={"get": persistent.get_artifact}, number=1_000_000, repeat=5
            )
        )
        * 1e3
    )
    return local_ns, persistent_ns


def run(label: str, url: str) -> list[str]:
    one, batch = throughput(url)
    count, opened, first_hit, wall = cold_start(url)
    p50, p99 = propagation(url)
    memory_ns, cached_ns = hit_path(url)
    local_ns, persistent_ns = registry_hit_path(url)
    return [
        f"| {label}: `get_artifact` hit, persistent vs in-process registry (same run) | "
        f"{persistent_ns:.0f} ns vs {local_ns:.0f} ns ({persistent_ns / local_ns:.2f}x) |",
        f"| {label}: register {N:,} one by one | {one:,.0f} /s ({1000 / one:.2f} ms each) |",
        f"| {label}: register_batch of {N:,} | {batch:,.0f} /s ({1000 / batch * N:.0f} ms total) |",
        f"| {label}: cold start, {count:,} entries: open_store (imports + schema check) | {opened:.0f} ms |",
        f"| {label}: cold start: listing + first hit + lazy import | {first_hit:.0f} ms "
        f"(whole process {wall:.0f} ms) |",
        f"| {label}: propagation to another process, p50 / p99 | {p50:.1f} ms / {p99:.1f} ms |",
        f"| {label}: `get_entry` hit, CachedStore vs MemoryStore | {cached_ns:.0f} ns vs "
        f"{memory_ns:.0f} ns ({cached_ns / memory_ns:.2f}x) |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default=os.environ.get("REGISTRY_TEST_PG_URL", DEFAULT_PG))
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    args = parser.parse_args()
    rows = ["| measurement | result |", "| --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        rows += run("SQLite", url)
        dispose_engine(url)
    if not args.no_pg:
        url = fresh_pg(args.pg)
        try:
            rows += run("PostgreSQL", url)
        finally:
            drop_pg(args.pg, url)
    body = "\n".join(
        [
            "## Persistent store (`benchmarks/bench_store.py`)",
            "",
            f"Machine: {machine()}. Date: {today()}. SQLite in a temporary directory; PostgreSQL 15",
            "on 127.0.0.1 (a throw-away database). Cold start runs in a new process.",
            "",
            *rows,
        ]
    )
    print(body)
    if "--no-write" not in sys.argv:
        write_section("store", body)


if __name__ == "__main__":
    main()
