"""In-process registry speed: hit, miss with suggestions, registration, import time.

Run: ``python benchmarks/bench_core.py`` (add ``--no-write`` to leave docs/benchmarks.md alone).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _report import machine, ns_per_call, ns_per_statement, today, write_section

from registry import FunctionalRegistry, RegistryError, SchemeRegistry, TypeRegistry

N = 1000


def make_module(kind: str) -> types.ModuleType:
    """A synthetic module with N functions or classes, so origins are real import paths."""
    module = types.ModuleType(f"bench_{kind}")
    sys.modules[module.__name__] = module
    body = []
    for i in range(N):
        if kind == "class":
            body.append(
                f"class C{i}:\n    def __init__(self, x: int, y: float = 1.0) -> None:\n        self.x = x\n"
            )
        else:
            body.append(f"def f{i}(x: int, y: float = 1.0) -> float:\n    return x * y\n")
    exec("\n".join(body), module.__dict__)
    return module


def bench_hit() -> tuple[float, float]:
    module = make_module("func")

    class Hits(FunctionalRegistry):
        pass

    Hits.register_module_functions(module)
    plain = {name: getattr(module, name) for name in Hits.iter_identifiers()}
    floor = ns_per_statement("plain.__getitem__('f500')", {"plain": plain}, 1_000_000)
    hit = ns_per_statement("Hits.get_artifact('f500')", {"Hits": Hits}, 1_000_000)
    return floor, hit


def bench_miss() -> float:
    module = make_module("func2")

    class Misses(FunctionalRegistry):
        pass

    Misses.register_module_functions(module)

    def miss() -> None:
        with contextlib.suppress(RegistryError):
            Misses.get_artifact("f5000x")

    miss()  # the first miss scans entry points once; measure the steady state
    return ns_per_call(miss, 200)


def bench_register(kind: str) -> float:
    module = make_module("class" if kind == "class" else f"reg_{kind}")
    members = [
        getattr(module, name) for name in vars(module) if name[:1] in "fC" and name[1:].isdigit()
    ]
    registry_class: type = {
        "function": FunctionalRegistry,
        "class": TypeRegistry,
        "scheme": SchemeRegistry,
    }[kind]
    best = float("inf")
    for _ in range(5):
        target = types.new_class("Target", (registry_class,))
        start = time.perf_counter()
        for member in members:
            target.register_artifact(member)
        best = min(best, (time.perf_counter() - start) / len(members) * 1e9)
    return best


def import_time(statement: str, runs: int = 7) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", statement],
            check=True,
            env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")},
        )
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main() -> None:
    floor, hit = bench_hit()
    miss = bench_miss()
    registrations = {kind: bench_register(kind) for kind in ("function", "class", "scheme")}
    bare = import_time("pass")
    imports = {
        "import registry": import_time("import registry"),
        "import pydantic": import_time("import pydantic"),
        "from pydantic import BaseModel": import_time("from pydantic import BaseModel"),
    }
    lines = [
        "## Core registries (`benchmarks/bench_core.py`)",
        "",
        f"Machine: {machine()}. Date: {today()}.",
        "",
        "| operation | result | target |",
        "| --- | --- | --- |",
        f"| `plain.__getitem__(key)` call (floor, same run) | {floor:.0f} ns | |",
        f"| `get_artifact` hit, 1,000 functions | {hit:.0f} ns ({hit / floor:.2f}x floor) | within 2x floor |",
        f"| `get_artifact` miss with suggestions, 1,000 names | {miss / 1e3:.0f} us | under 1 ms |",
    ]
    for kind, ns in registrations.items():
        lines.append(
            f"| `register_artifact`, 1,000 {kind}s | {ns / 1e3:.1f} us each | under 100 us |"
        )
    for label, ms in imports.items():
        lines.append(
            f"| `{label}` in a fresh interpreter | {ms - bare:.0f} ms (above a bare start of {bare:.0f} ms) | beside pydantic |"
        )
    body = "\n".join(lines)
    print(body)
    if "--no-write" not in sys.argv:
        write_section("core", body)


if __name__ == "__main__":
    main()
