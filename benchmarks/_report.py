"""Shared helpers for the benchmarks: machine description, timing, a free port for a server
process, and writing one section of docs/benchmarks.md without touching the others."""

from __future__ import annotations

import datetime
import os
import platform
import re
import socket
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Every number here was produced by a script under `benchmarks/` (run `make bench`, or one script
with `python benchmarks/<name>.py`). Each section records its machine and date. Compare ratios
measured side by side in one run, not absolute numbers across runs: these machines are noisy.
"""


def machine() -> str:
    """Return a one-line description of this machine and interpreter."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({sys.implementation.name})"
    )


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def ns_per_call(func: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Return the best of ``repeat`` runs, in nanoseconds per call."""
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number * 1e9


def ns_per_statement(
    stmt: str, namespace: dict[str, object], number: int, repeat: int = 5
) -> float:
    """Like :func:`ns_per_call` for a statement string (no extra call frame in the loop)."""
    return min(timeit.repeat(stmt, globals=namespace, number=number, repeat=repeat)) / number * 1e9


def wait_for_quiet(max_load: float | None, timeout: float = 600.0) -> None:
    """Wait (at most ``timeout`` seconds) until the 1-minute load average is below
    ``max_load``: other people's test runs share these cores."""
    if max_load is None:
        return
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        print(f"load {load_average()}, waiting for < {max_load}", file=sys.stderr)
        time.sleep(15)


def interleaved_best_ns(
    cases: dict[str, tuple[str, dict[str, object]]], number: int, rounds: int = 7
) -> dict[str, float]:
    """Time each ``(statement, namespace)`` case ``number`` times per round and return the
    best round of each, in ns per execution. Rounds alternate between the cases, so a noisy
    neighbour slows them alike; a statement adds no call frame of its own."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, (statement, namespace) in cases.items():
            seconds = timeit.timeit(statement, globals=namespace, number=number)
            best[name] = min(best[name], seconds / number * 1e9)
    return best


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md."""
    text = DOC.read_text() if DOC.exists() else HEADER
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(_with_block(text, f"section:{name}", body))


def write_figures(doc: Path, name: str, body: str) -> None:
    """Replace (or append) the block ``<!-- figures:name -->`` of another page of docs/, where
    a page quotes a benchmark's tables beside its text."""
    doc.write_text(_with_block(doc.read_text(), f"figures:{name}", body))


def _with_block(text: str, tag: str, body: str) -> str:
    """``text`` with the part between ``<!-- tag -->`` and ``<!-- /tag -->`` replaced by
    ``body`` (appended with its markers when there is none yet)."""
    block = f"<!-- {tag} -->\n{body.strip()}\n<!-- /{tag} -->"
    pattern = re.compile(rf"<!-- {re.escape(tag)} -->.*?<!-- /{re.escape(tag)} -->", re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + "\n\n" + block + "\n"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, for the record beside the numbers."""
    try:
        return " / ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now, for a server process to listen on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
