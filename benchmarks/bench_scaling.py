"""Propagation as a function of namespace size N and listening processes M (docs/scaling.md).

M listener processes (1, 8, 32) each hold persistent registries over three namespaces of
1k, 10k and 100k entries; this process registers entries into each namespace in turn and
every listener reports when its registry's view held each entry. Backends: PostgreSQL
(LISTEN/NOTIFY, one catch-up query per listener and change) and the registry server (one
uvicorn worker over PostgreSQL; listeners long-poll ``GET /changes`` and catch up through
``GET /namespaces/{name}/changes``). Also counts the PostgreSQL connections one idle listener
process holds.

Run ``python benchmarks/bench_scaling.py [--pg URL]``; writes the ``scaling`` section of
docs/benchmarks.md and the same table into docs/scaling.md unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import load_average, machine, median, percentile, today, write_figures, write_section
from bench_server import start_server
from bench_store import DEFAULT_PG, env, fill, pg_database

SCALING_DOC = Path(__file__).resolve().parent.parent / "docs" / "scaling.md"
SIZES = (1_000, 10_000, 100_000)
LISTENERS = (1, 8, 32)
WRITES = 20

LISTENER = r"""
import json, sys, time, types
from registry import FunctionalRegistry
url, names = sys.argv[1], sys.argv[2].split(",")
seen = {}
registries = []
for name in names:
    cls = types.new_class("L", (FunctionalRegistry,), {"logic_namespace": name, "url": url})
    cls.iter_identifiers()  # the listing is cached, as in a working process
    registries.append(cls)
    def arrived(changes, name=name):
        now = time.time()
        for record in getattr(changes, "records", ()):
            seen.setdefault(f"{name}/{record.identifier}", now)
    cls._store.watch_changes(name, arrived)
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(seen), flush=True)
"""


def namespace(size: int) -> str:
    return f"scale.n{size}"


def start_listeners(url: str, count: int) -> list[subprocess.Popen[str]]:
    names = ",".join(namespace(size) for size in SIZES)
    listeners = [
        subprocess.Popen(
            [sys.executable, "-c", LISTENER, url, names],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env(),
        )
        for _ in range(count)
    ]
    for listener in listeners:
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "ready"
    return listeners


def measure(store_url: str, listen_url: str, count: int, phase: str) -> dict[int, list[float]]:
    """Per size, the latencies (ms) of every write at every listener."""
    from registry.store import open_store
    from registry.store.base import EntryDraft

    listeners = start_listeners(listen_url, count)
    writer = open_store(store_url)
    commits: dict[str, tuple[int, float]] = {}
    try:
        time.sleep(0.5)
        for i in range(WRITES):
            for size in SIZES:
                identifier = f"{phase}{count}_{i}"  # new in every run: a real change
                writer.register(namespace(size), EntryDraft(identifier, f"lab.mod:{identifier}"))
                commits[f"{namespace(size)}/{identifier}"] = (size, time.time())
                time.sleep(0.03)
        time.sleep(1.0)
    finally:
        reports = []
        for listener in listeners:
            assert listener.stdin is not None
            assert listener.stdout is not None
            listener.stdin.write("\n")
            listener.stdin.flush()
            reports.append(json.loads(listener.stdout.readline()))
            listener.wait(30)
    latencies: dict[int, list[float]] = {size: [] for size in SIZES}
    for report in reports:
        for key, (size, committed) in commits.items():
            if key in report:
                latencies[size].append(max(0.0, report[key] - committed) * 1e3)
            else:
                latencies[size].append(float("inf"))  # never arrived
    return latencies


def pg_connections_per_listener(url: str) -> int:
    from sqlalchemy import text

    from registry.store.engines import get_engine

    (listener,) = start_listeners(url, 1)
    try:
        time.sleep(0.5)
        with get_engine(url).connect() as conn:
            count = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE :name "
                    "OR application_name LIKE :watch"
                ),
                {"name": f"registry@%:{listener.pid}", "watch": f"watch-registry@%:{listener.pid}"},
            ).scalar()
    finally:
        assert listener.stdin is not None
        listener.stdin.write("\n")
        listener.stdin.flush()
        listener.wait(30)
    return int(count or 0)


def row(label: str, size: int, count: int, samples: list[float]) -> str:
    lost = sum(1 for sample in samples if sample == float("inf"))
    arrived = [sample for sample in samples if sample != float("inf")]
    if not arrived:
        return f"| {label} | {size:,} | {count} | none arrived | 0/{len(samples)} |"
    return (
        f"| {label} | {size:,} | {count} | {median(arrived):.1f} / "
        f"{percentile(arrived, 0.99):.1f} ms | {len(arrived)}/{len(samples)}"
        + (f" ({lost} lost)" if lost else "")
        + " |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default=os.environ.get("REGISTRY_TEST_PG_URL", DEFAULT_PG))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = load_average()
    rows = [
        "| listeners reach the store through | entries N | listening processes M | "
        "propagation p50 / p99 | writes seen |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    with pg_database(args.pg) as url:
        for size in SIZES:
            fill(url, namespace(size), size, origin="lab.mod:filled")
        connections = pg_connections_per_listener(url)
        for count in LISTENERS:
            for size, samples in measure(url, url, count, "pg").items():
                rows.append(row("PostgreSQL (LISTEN)", size, count, samples))
        server, server_url = start_server(url, workers=1)
        try:
            for count in LISTENERS:
                for size, samples in measure(url, server_url, count, "http").items():
                    rows.append(row("registry server, 1 worker (long-poll)", size, count, samples))
        finally:
            server.terminate()
            server.wait(15)
    load_after = load_average()
    figures = [
        f"Propagation to M listening processes (run of {today()}, load average before "
        f"{load_before}, after {load_after}):",
        "",
        *rows,
    ]
    body = "\n".join(
        [
            "## Propagation against namespace size and listeners (`benchmarks/bench_scaling.py`)",
            "",
            f"Machine: {machine()}. Date: {today()}. Load average (1/5/15 min) before: "
            f"{load_before}; after: {load_after}. All M listener processes, the writer, PostgreSQL",
            "15 and the server share the same 2 cores, so latency at M = 32 includes waiting for",
            f"a core. {WRITES} writes per namespace, 30 ms apart, round-robin over the three",
            "namespaces; latency from the writer's commit to each listener's view holding the",
            f"entry. One idle listener process holds {connections} PostgreSQL connections (its",
            "pool's idle one and the LISTEN one).",
            "",
            *rows,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("scaling", body)
        write_figures(SCALING_DOC, "scaling", "\n".join(figures))


if __name__ == "__main__":
    main()
