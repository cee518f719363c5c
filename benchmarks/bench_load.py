"""Concurrency and load at lab scale (issue 14, item 9): many writers on one store, and a
registry server under 16 concurrent clients.

1. Writers: 8 processes each registering 500 functions one by one through ``register_artifact``,
   against one process registering all 4,000 (SQLite file and PostgreSQL). Target: 8 x 500
   within 5x the single process on PostgreSQL, 10x on SQLite.
2. Server load: 16 concurrent clients for ``--seconds`` (default 30), each on one keep-alive
   connection, 90% ``GET /namespaces/{ns}/entries/{id}`` of 1,000 stored entries and 10%
   ``POST`` registrations of new identifiers (one asyncio load process, so the generator takes
   little of the 2 cores the server runs on); 1 and 4 server workers; SQLite and PostgreSQL.
   Untimed first, each client reads every entry once on its connection: the entries are written
   through one worker, which keeps them, and the others would read each from the database.
   Targets: 0 errors, p99 get <= 10 ms, p99 register <= 50 ms, 4 workers >= 1.5x the
   throughput of 1.
3. The same mix driven by wrk (a load generator written in C; Debian package ``wrk``), when it
   is installed. Each row gives the CPU its generator spent per request: the Python one about
   two thirds of what the bare app it drives spends, wrk about a third of the Python one's; so
   wrk's rows show what the servers do with more of the 2 cores. wrk reports one latency
   distribution for gets and registrations together.

Run: ``python benchmarks/bench_load.py [--seconds 30] [--pg-url URL] [--skip-writers]``. Writes
the ``load`` section of docs/benchmarks.md and the figures table of docs/reliability.md. Needs the
PostgreSQL cluster of ``.ci/postgres.sh`` for the PostgreSQL rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import (  # noqa: E402
    free_port,
    load_average,
    machine,
    percentile,
    today,
    write_figures,
    write_section,
)
from bench_store import DEFAULT_PG, pg_database  # noqa: E402

WRITERS, PER_WRITER = 8, 500
CLIENTS, ENTRIES = 16, 1000
WARM_SECONDS = 5
RELIABILITY_DOC = ROOT / "docs" / "reliability.md"

WRITER = """
import sys, time, types
from registry import FunctionalRegistry

count, prefix, start = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])

class Ops(FunctionalRegistry, logic_namespace="bench.writers"):
    pass

module = types.ModuleType("bench_writer_functions")
functions = []
for index in range(count):
    exec(f"def {prefix}{index}(x: int) -> int:\\n    return x + {index}", module.__dict__)
    functions.append(module.__dict__[f"{prefix}{index}"])
while time.time() < start:
    time.sleep(0.001)
began = time.perf_counter()
for function in functions:
    Ops.register_artifact(function)
print(time.perf_counter() - began)
"""

#: One process drives every client: 16 asyncio connections, each sending its next request when
#: the previous answer is in. On a 2-core machine the load generator competes with the server
#: for CPU; one event loop costs it far less than 16 interpreters would.
CLIENT = """
import asyncio, json, random, sys, time
port, namespace, seconds, clients, entries = (
    int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
)

async def read_response(reader):
    head = await reader.readuntil(b"\\r\\n\\r\\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\\r\\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status

def get(identifier):
    return (f"GET /namespaces/{namespace}/entries/{identifier} HTTP/1.1\\r\\n"
            "Host: x\\r\\n\\r\\n").encode()

async def client(index, warmed, go, gets, registers, errors):
    rng = random.Random(index)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # Untimed: read every entry once on this connection, so each worker's cache holds what
    # its clients ask for (the timed part measures a warm server, as the one-worker run is).
    for number in range(entries):
        writer.write(get(f"e{number}"))
        await read_response(reader)
    warmed.append(index)
    if len(warmed) == clients:
        print("timed", flush=True)  # the parent starts counting CPU time
        timed_cpu.append(time.process_time())
        go.set_result(time.perf_counter() + seconds)
    deadline = await go
    written = 0
    while time.perf_counter() < deadline:
        if rng.random() < 0.1:
            written += 1
            name = f"c{index}_{written}"
            body = json.dumps({"identifier": name, "origin": f"bench.mod:{name}", "source_hash": "h"}).encode()
            request = (f"POST /namespaces/{namespace}/entries HTTP/1.1\\r\\nHost: x\\r\\n"
                       f"Content-Type: application/json\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n").encode() + body
            samples = registers
        else:
            request = get(f"e{rng.randrange(entries)}")
            samples = gets
        began = time.perf_counter()
        try:
            writer.write(request)
            status = await read_response(reader)
        except Exception as exc:
            errors.append(type(exc).__name__)
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        samples.append(time.perf_counter() - began)
        if status != 200:
            errors.append(status)
    writer.close()

async def main():
    gets, registers, errors = [], [], []
    go = asyncio.get_running_loop().create_future()
    warmed = []
    await asyncio.gather(
        *(client(i, warmed, go, gets, registers, errors) for i in range(clients))
    )
    cpu = time.process_time() - timed_cpu[0]
    print(json.dumps({"gets": gets, "registers": registers, "errors": errors, "cpu": cpu}))

timed_cpu = []
asyncio.run(main())
"""


#: The floor: a bare ASGI app on the same uvicorn (same protocol, same workers) answering every
#: request with a fixed JSON body, driven by the same generator in the same run.
FLOOR_APP = """
PAYLOAD = b'{"entry":null}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"14")]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": PAYLOAD})
"""


#: Serves the floor app exactly as ``registry serve`` serves the registry (same uvicorn settings,
#: protocol and guards, same worker launcher), so only the app differs.
FLOOR_LAUNCHER = """
import sys, uvicorn
from registry.server.workers import run_workers, uvicorn_config
folder, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
config = uvicorn_config(
    "floor:app", host="127.0.0.1", port=port, workers=workers, log_level="warning",
    access_log=False,
)
if workers > 1:
    run_workers(config)
else:
    uvicorn.Server(config).run()
"""


#: wrk's requests: the generator's mix, one thread driving every connection. ``MODE=warm`` reads
#: the entries in turn, for :data:`WARM_SECONDS` (after 16 passes over the 16 connections spread
#: across 4 workers, a worker has missed a given entry with a chance of (3/4)^16, 1%).
WRK_SCRIPT = """
local namespace, tag, mode = os.getenv("NAMESPACE"), os.getenv("TAG"), os.getenv("MODE")
local entries, written, next_entry = tonumber(os.getenv("ENTRIES")), 0, 0
math.randomseed(os.time())

request = function()
  if mode == "warm" then
    next_entry = (next_entry + 1) % entries
    return wrk.format("GET", "/namespaces/" .. namespace .. "/entries/e" .. next_entry)
  end
  if math.random() < 0.1 then
    written = written + 1
    local name = "k" .. tag .. "_" .. written
    local body = '{"identifier":"' .. name .. '","origin":"bench.mod:' .. name
      .. '","source_hash":"h"}'
    return wrk.format("POST", "/namespaces/" .. namespace .. "/entries",
      {["Content-Type"] = "application/json"}, body)
  end
  return wrk.format("GET", "/namespaces/" .. namespace .. "/entries/e"
    .. math.random(0, entries - 1))
end
"""


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_")}
    env["PYTHONPATH"] = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env.update(extra)
    return env


# --------------------------------------------------------------------------- writers


def _writers(url: str, processes: int, per_process: int) -> float:
    """Wall time for ``processes`` writers of ``per_process`` registrations each."""
    start = time.time() + 3.0  # every process imported and defined its functions by then
    running = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(per_process), f"w{index}_", str(start)],
            env=_env(REGISTRY_URL=url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(processes)
    ]
    durations = []
    for process in running:
        out, err = process.communicate(timeout=3600)
        if process.returncode != 0:
            raise RuntimeError(err)
        durations.append(float(out.strip().splitlines()[-1]))
    return max(durations)


def bench_writers(urls: dict[str, str]) -> list[dict[str, Any]]:
    from registry.store import open_store

    rows = []
    for backend, url in urls.items():
        single = _writers(url + "", 1, WRITERS * PER_WRITER)
        _clear(url)
        parallel = _writers(url, WRITERS, PER_WRITER)
        count = len(open_store(url).list_entries("bench.writers"))
        _clear(url)
        rows.append(
            {
                "backend": backend,
                "single": single,
                "parallel": parallel,
                "ratio": parallel / single,
                "target": 5.0 if backend == "PostgreSQL" else 10.0,
                "entries": count,
            }
        )
        print(f"writers {backend}: 1 x 4000 {single:.1f} s, 8 x 500 {parallel:.1f} s", flush=True)
    return rows


def _clear(url: str) -> None:
    from registry.store import open_store

    store = open_store(url)
    if store.get_namespace("bench.writers") is not None:
        store.clear("bench.writers")


# --------------------------------------------------------------------------- server load


def _start_server(store_url: str, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    """A registry server over ``store_url``, or the floor app when it is a directory holding
    ``floor.py``."""
    port = free_port()
    env = _env()
    if Path(store_url, "floor.py").exists():
        command = [sys.executable, "-c", FLOOR_LAUNCHER, store_url, str(port), str(workers)]
        env["PYTHONPATH"] = os.pathsep.join((store_url, env["PYTHONPATH"]))  # workers too
    else:
        command = [sys.executable, "-m", "registry.server.run", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--url", store_url, "--workers", str(workers)]
        command += ["--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                time.sleep(1.0 if workers > 1 else 0.2)  # every worker ready
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


def _fill(port: int, namespace: str) -> None:
    def call(method: str, path: str, body: Any) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()

    call("PUT", f"/namespaces/{namespace}", {"kind": "function"})
    drafts = [
        {"identifier": f"e{i}", "origin": f"bench.mod:e{i}", "source_hash": "h"}
        for i in range(ENTRIES)
    ]
    call("POST", f"/namespaces/{namespace}/batch", {"drafts": drafts})


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User and system CPU time each of the processes ``pids`` has used (Linux ``/proc``)."""
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def _processes() -> list[tuple[int, int, str]]:
    """``(pid, parent pid, command name)`` of every process (Linux ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                name, rest = (entry / "stat").read_text().split(" (", 1)[1].rsplit(")", 1)
                found.append((int(entry.name), int(rest.split()[1]), name))
    return found


def _cpu_now(server: int) -> dict[int, float]:
    """CPU time so far of each process :func:`_cpu_users` accounts for ``server``."""
    return _cpu_seconds([pid for pids in _cpu_users(server).values() for pid in pids])


def _cpu_used_since(server: int, before: dict[int, float]) -> dict[str, float]:
    """CPU seconds the server's processes and the database's used since :func:`_cpu_now` gave
    ``before`` (``{"server": ..., "database": ...}``); a process started meanwhile counts from
    its start."""
    return {
        kind: sum(now - before.get(pid, 0.0) for pid, now in _cpu_seconds(pids).items())
        for kind, pids in _cpu_users(server).items()
    }


def _cpu_users(server: int) -> dict[str, list[int]]:
    """The server's processes (``server`` and its descendants: the workers) and the database
    server's (every process named ``postgres``), whose CPU time a load run accounts."""
    processes = _processes()
    tree, grown = {server}, True
    while grown:
        before = len(tree)
        tree |= {pid for pid, parent, _ in processes if parent in tree}
        grown = len(tree) > before
    database = [pid for pid, _, name in processes if name.startswith("postgres")]
    return {"server": sorted(tree), "database": database}


def bench_server(url: str, workers: int, seconds: float) -> dict[str, Any]:
    process, port = _start_server(url, workers)
    namespace = f"bench.load{workers}_{uuid.uuid4().hex[:6]}"
    try:
        if not Path(url, "floor.py").exists():
            _fill(port, namespace)
        arguments = [str(port), namespace, str(seconds), str(CLIENTS), str(ENTRIES)]
        generator = subprocess.Popen(
            [sys.executable, "-c", CLIENT, *arguments],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert generator.stdout is not None
        # The CPU the server and the database spend while the clients run the timed part
        # (the generator's own is left out), to tell work per request apart from the
        # machine's speed. A database connection opened meanwhile counts from its start.
        generator.stdout.readline()  # "timed": every client has warmed up
        before = _cpu_now(process.pid)
        out, err = generator.communicate(timeout=seconds + 300)
        used = _cpu_used_since(process.pid, before)
        if generator.returncode != 0:
            raise subprocess.CalledProcessError(generator.returncode, "load generator", out, err)
        data = json.loads(out.strip().splitlines()[-1])
        gets, registers, errors = data["gets"], data["registers"], data["errors"]
    finally:
        process.terminate()
        process.wait(30)
    total = len(gets) + len(registers)
    uses_database = url.startswith("postgresql")
    return {
        "server_cpu_ms": used["server"] * 1000 / max(total, 1),
        "database_cpu_ms": used["database"] * 1000 / max(total, 1) if uses_database else None,
        "generator_cpu_ms": data["cpu"] * 1000 / max(total, 1),
        "workers": workers,
        "throughput": total / seconds,
        "get_p50": percentile(gets, 0.5) * 1000,
        "get_p99": percentile(gets, 0.99) * 1000,
        "register_p50": percentile(registers, 0.5) * 1000,
        "register_p99": percentile(registers, 0.99) * 1000,
        "errors": len(errors),
        "requests": total,
    }


def bench_server_wrk(url: str, workers: int, seconds: float, script: Path) -> dict[str, Any]:
    """The mix of :func:`bench_server` driven by wrk: throughput, latency of all requests, and
    the CPU per request of the server (and database) and of wrk itself."""
    process, port = _start_server(url, workers)
    namespace = f"bench.wrk{workers}_{uuid.uuid4().hex[:6]}"
    target = f"http://127.0.0.1:{port}"
    try:
        if not Path(url, "floor.py").exists():
            _fill(port, namespace)
        env = _env(NAMESPACE=namespace, ENTRIES=str(ENTRIES), TAG=uuid.uuid4().hex)
        connections = ["wrk", "-t1", f"-c{CLIENTS}", "-s", str(script)]
        warm = [*connections, f"-d{WARM_SECONDS}s", target]
        warmed = subprocess.run(
            warm, env={**env, "MODE": "warm"}, check=True, capture_output=True, text=True
        ).stdout
        before = _cpu_now(process.pid)
        generator_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        timed = [*connections, f"-d{seconds:g}s", "--latency", target]
        out = subprocess.run(
            timed, env={**env, "MODE": "mix"}, check=True, capture_output=True, text=True
        ).stdout
        generator_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = _cpu_used_since(process.pid, before)
    finally:
        process.terminate()
        process.wait(30)
    total = int(_wrk_figure(r"(\d+) requests in", out))
    generator_cpu = sum(
        getattr(generator_after, field) - getattr(generator_before, field)
        for field in ("ru_utime", "ru_stime")
    )
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = sum(map(int, errors.groups())) if errors else 0
    failed += int(_wrk_figure(r"Non-2xx or 3xx responses: (\d+)", out, default="0"))
    return {
        "workers": workers,
        "throughput": float(_wrk_figure(r"Requests/sec:\s+([\d.]+)", out)),
        "p50": _wrk_ms(_wrk_figure(r"\s50%\s+(\S+)", out)),
        "p99": _wrk_ms(_wrk_figure(r"\s99%\s+(\S+)", out)),
        "errors": failed,
        "server_cpu_ms": used["server"] * 1000 / max(total, 1),
        "database_cpu_ms": (
            used["database"] * 1000 / max(total, 1) if url.startswith("postgresql") else None
        ),
        "generator_cpu_ms": generator_cpu * 1000 / max(total, 1),
        "warm_passes": int(_wrk_figure(r"(\d+) requests in", warmed)) / ENTRIES,
    }


def _wrk_figure(pattern: str, out: str, default: str | None = None) -> str:
    found = re.search(pattern, out)
    if found is None:
        if default is None:
            raise RuntimeError(f"wrk printed no {pattern!r}:\n{out}")
        return default
    return found.group(1)


def _wrk_ms(figure: str) -> float:
    """Milliseconds of a wrk duration such as ``812.00us``, ``1.25ms`` or ``2.01s``."""
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", figure).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


# --------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--pg-url", default=os.environ.get("REGISTRY_TEST_PG_URL", DEFAULT_PG))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--skip-writers", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print, do not update the docs")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as databases:
        urls = {"SQLite": f"sqlite:///{Path(folder) / 'bench.db'}"}
        if not args.no_pg:
            urls["PostgreSQL"] = databases.enter_context(pg_database(args.pg_url))
        writers = [] if args.skip_writers else bench_writers(urls)
        loads: list[dict[str, Any]] = []
        wrk_loads: list[dict[str, Any]] | None = None if shutil.which("wrk") is None else []
        (Path(folder) / "floor.py").write_text(FLOOR_APP)
        script = Path(folder) / "mix.lua"
        script.write_text(WRK_SCRIPT)
        servers = {"floor (bare ASGI app)": folder, **urls}
        for backend, url in [] if args.skip_server else servers.items():
            for workers in (1, 4):
                row = bench_server(url, workers, args.seconds)
                row["backend"] = backend
                loads.append(row)
                print(
                    f"load {backend} x{workers}: {row['throughput']:.0f} req/s, get p99 "
                    f"{row['get_p99']:.1f} ms, register p99 {row['register_p99']:.1f} ms, "
                    f"{row['errors']} errors",
                    flush=True,
                )
                if wrk_loads is not None:
                    row = bench_server_wrk(url, workers, min(args.seconds, 10.0), script)
                    row["backend"] = backend
                    wrk_loads.append(row)
                    print(
                        f"wrk {backend} x{workers}: {row['throughput']:.0f} req/s, p99 "
                        f"{row['p99']:.1f} ms, {row['errors']} errors",
                        flush=True,
                    )
    load_after = load_average()
    body = _report(writers, loads, args.seconds, load_before, load_after)
    wrk_part = _wrk_report(wrk_loads, min(args.seconds, 10.0))
    if wrk_part:
        body += "\n\n" + wrk_part
    print(body)
    if not args.no_write:
        write_section("load", body)
        write_figures(RELIABILITY_DOC, "load", body)


def _report(
    writers: list[dict[str, Any]],
    loads: list[dict[str, Any]],
    seconds: float,
    load_before: str,
    load_after: str,
) -> str:
    lines = [
        "## Concurrency and load (`benchmarks/bench_load.py`)",
        "",
        f"{machine()}; {today()}; load average {load_before} before, {load_after} after. The "
        "clients run on the same 2 cores as the server, so these are upper bounds.",
        "",
    ]
    if writers:
        lines += [
            f"Writers: {WRITERS} processes each registering {PER_WRITER} functions one by one "
            f"with `register_artifact`, against one process registering all "
            f"{WRITERS * PER_WRITER} (wall time of the slowest process).",
            "",
            "| store | 1 x 4,000 | 8 x 500 | ratio | target | entries after |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in writers:
            lines.append(
                f"| {row['backend']} | {row['single']:.1f} s | {row['parallel']:.1f} s | "
                f"{row['ratio']:.1f}x | <= {row['target']:.0f}x | {row['entries']} |"
            )
        lines.append("")
    lines += [
        f"Server: {CLIENTS} concurrent clients for {seconds:g} s (one asyncio process, one "
        f"keep-alive connection each, the next request sent when the answer is in), "
        f"90% `GET` of one of {ENTRIES} entries, 10% registrations of new identifiers; before "
        "the timed part each client reads every entry once, so every worker's cache is warm. "
        "Targets: 0 errors, p99 get <= 10 ms, p99 register <= 50 ms, 4 workers >= 1.5x one. "
        "The floor row is a bare ASGI app on the same uvicorn and generator in the same run: "
        "what this machine gives any Python server at that moment.",
        "",
        "| store | workers | requests/s | get p50 / p99 | register p50 / p99 | errors "
        "| CPU per request: server / database | CPU per request: generator |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in loads:
        lines.append(
            f"| {row['backend']} | {row['workers']} | {row['throughput']:.0f} | "
            f"{row['get_p50']:.1f} / {row['get_p99']:.1f} ms | "
            f"{row['register_p50']:.1f} / {row['register_p99']:.1f} ms | {row['errors']} | "
            f"{_cpu_cells(row)} |"
        )
    ratios = _worker_ratios(loads)
    if ratios:
        lines += ["", f"4 workers against 1: {ratios}."]
    lines += [
        "",
        "CPU per request: the CPU time the server's processes (its workers) and, on PostgreSQL,",
        "the database's processes used while the clients ran, divided by the requests answered.",
        "It moves less with the machine's speed than the throughput does, and shows what sharing",
        "2 cores costs: with 4 workers (more processes than cores) the bare app's requests take",
        "more CPU each too, in wake-ups and context switches.",
    ]
    return "\n".join(lines)


def _cpu_cells(row: dict[str, Any]) -> str:
    """The two CPU-per-request cells of a row: server (/ database), and the load generator."""
    database = row["database_cpu_ms"]
    server = f"{row['server_cpu_ms']:.3f}" + ("" if database is None else f" / {database:.3f}")
    return f"{server} ms | {row['generator_cpu_ms']:.3f} ms"


def _worker_ratios(rows: list[dict[str, Any]]) -> str:
    """``throughput <name> 0.91x, ...; server CPU per request <name> 1.80x, ...`` of the
    backends measured with both 1 and 4 workers (empty if none)."""
    by_backend: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        by_backend.setdefault(row["backend"], {})[row["workers"]] = row
    pairs = [
        (backend, runs[1], runs[4]) for backend, runs in by_backend.items() if {1, 4} <= set(runs)
    ]
    if not pairs:
        return ""
    throughput = [
        f"{name} {four['throughput'] / one['throughput']:.2f}x" for name, one, four in pairs
    ]
    cpu = [
        f"{name} {four['server_cpu_ms'] / one['server_cpu_ms']:.2f}x" for name, one, four in pairs
    ]
    return "throughput " + ", ".join(throughput) + "; server CPU per request " + ", ".join(cpu)


def _wrk_report(rows: list[dict[str, Any]] | None, seconds: float) -> str:
    if rows is None:
        return (
            "The same mix driven by wrk was skipped: wrk is not installed "
            "(Debian: `apt-get install wrk`)."
        )
    if not rows:
        return ""
    lines = [
        f"The same mix driven by wrk (C; one thread, {CLIENTS} connections, {seconds:g} s), after "
        f"{WARM_SECONDS} s of reading the entries in turn (at least "
        f"{min(row['warm_passes'] for row in rows):.0f} passes over them): the generator takes "
        "a fraction of the CPU per request the Python one does (last column of each table), so "
        "the server has more of the 2 cores. Its latencies are of gets and registrations "
        "together.",
        "",
        "| store | workers | requests/s | p50 / p99 | errors | CPU per request: server / "
        "database | CPU per request: wrk |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['backend']} | {row['workers']} | {row['throughput']:.0f} | "
            f"{row['p50']:.1f} / {row['p99']:.1f} ms | {row['errors']} | {_cpu_cells(row)} |"
        )
    ratios = _worker_ratios(rows)
    if ratios:
        lines += ["", f"4 workers against 1, driven by wrk: {ratios}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
