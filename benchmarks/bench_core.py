"""In-process registry speed: hit (beside its floor and the peers' hits), miss with
suggestions, registration, import time.

Run: ``python benchmarks/bench_core.py`` (``--no-write`` leaves docs/benchmarks.md alone,
``--no-peers`` skips the peers' environment, ``--max-load 1.5`` first waits for a quiet machine).
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _report import (
    interleaved_best_ns,
    load_average,
    machine,
    ns_per_call,
    today,
    wait_for_quiet,
    write_section,
)

from registry import FunctionalRegistry, RegistryError, SchemeRegistry, TypeRegistry, speedups

N = 1000
HIT_STATEMENTS = 300_000
PLURAL = {"function": "functions", "class": "classes", "scheme": "schemes"}


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


class _Artifacts(dict):  # type: ignore[type-arg]
    """For the reference row only: what a bound ``dict.__getitem__`` as ``get_artifact`` costs."""

    def __missing__(self, key: object) -> object:
        raise KeyError(key)


def bench_hit(rounds: int) -> dict[str, float]:
    """The public hit beside its floor, a bound ``dict.__getitem__`` call on the same names."""
    module = make_module("func")

    class Hits(FunctionalRegistry):
        pass

    Hits.register_module_functions(module)
    plain = {name: getattr(module, name) for name in Hits.iter_identifiers()}

    class Bound:  # a class attribute, like get_artifact (a builtin method is not re-bound)
        get_artifact = _Artifacts(plain).__getitem__

    class InPython:  # the closure the C getter wraps: what runs without the extension
        pass

    # Set as the registry sets it: a plain function read from a class is not bound.
    InPython.get_artifact = getattr(Hits.get_artifact, "__wrapped__", Hits.get_artifact)  # type: ignore[attr-defined]

    return interleaved_best_ns(
        {
            "floor": ("plain.__getitem__('f500')", {"plain": plain}),
            "hit": ("Hits.get_artifact('f500')", {"Hits": Hits}),
            "bound": ("Bound.get_artifact('f500')", {"Bound": Bound}),
            "python": ("InPython.get_artifact('f500')", {"InPython": InPython}),
        },
        number=HIT_STATEMENTS,
        rounds=rounds,
    )


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument("--no-peers", action="store_true", help="skip fvcore, mmengine, catalogue")
    parser.add_argument("--max-load", type=float, help="wait for a lower 1-minute load first")
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds, best kept")
    args = parser.parse_args()
    wait_for_quiet(args.max_load)
    load_before = load_average()
    hits = bench_hit(args.rounds)
    peers = None
    if not args.no_peers:
        peers = _peers().measure("hit", number=HIT_STATEMENTS, rounds=args.rounds)
    miss = bench_miss()
    registrations = {kind: bench_register(kind) for kind in ("function", "class", "scheme")}
    bare = import_time("pass")
    imports = {
        "import registry": import_time("import registry"),
        "import pydantic": import_time("import pydantic"),
        "from pydantic import BaseModel": import_time("from pydantic import BaseModel"),
    }
    floor = hits["floor"]
    lines = [
        "## Core registries (`benchmarks/bench_core.py`)",
        "",
        f"Machine: {machine()}. Date: {today()}. Load average (1/5/15 min) before: "
        f"{load_before}, after: {load_average()}. Hits: best of {args.rounds} interleaved rounds "
        f"of {HIT_STATEMENTS:,} statements, each beside its floor in the same process. "
        f"Hot paths served by: {speedups.DESCRIPTION}.",
        "",
        "| operation | result | floor (same run) | x floor | target |",
        "| --- | --- | --- | --- | --- |",
        f"| `get_artifact` hit, 1,000 functions | {hits['hit']:.1f} ns | {floor:.1f} ns "
        f"(`plain.__getitem__(key)`) | {hits['hit'] / floor:.2f} | 1.1x |",
    ]
    lines += _peers().table_rows(
        peers, "`get`, 1,000 functions (peer, own venv; floor: same statement, its process)", " ns"
    )
    lines += [
        f"| reference, not the public call: a bound `dict.__getitem__` stored as `get_artifact` | "
        f"{hits['bound']:.1f} ns | {floor:.1f} ns | {hits['bound'] / floor:.2f} | |",
        f"| reference: the pure-Python getter, what runs without the C extension | "
        f"{hits['python']:.1f} ns | {floor:.1f} ns | {hits['python'] / floor:.2f} | |",
        f"| `get_artifact` miss with suggestions, 1,000 names | {miss / 1e3:.0f} us | | | under 1 ms |",
    ]
    for kind, ns in registrations.items():
        lines.append(
            f"| `register_artifact`, 1,000 {PLURAL[kind]} | {ns / 1e3:.1f} us each | | | under 100 us |"
        )
    for label, ms in imports.items():
        lines.append(
            f"| `{label}` in a fresh interpreter | {ms - bare:.0f} ms | bare start {bare:.0f} ms | | beside pydantic |"
        )
    lines += [
        "",
        "Where the C extension is built, the hit is served by its getter: a vectorcall object that looks the",
        "identifier up in the class's dict and returns it, and hands anything else (a miss, an",
        "unhashable identifier, a keyword) to the Python closure it wraps, which raises what it",
        "always raised (`CoercionError`, `RegistryError` with suggestions). It skips the bound",
        "method's argument parsing, so it costs less than the floor row. Without the extension the",
        "closure itself serves the hit (its row): one dict lookup in a `try` plus a Python call",
        "frame. A bound `dict.__getitem__` of a dict subclass with `__missing__` (the other",
        "reference row) cannot turn an unhashable key's `TypeError` into `CoercionError`, so it",
        "is not used.",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("core", body)


def _peers() -> types.ModuleType:
    import peers

    return peers


if __name__ == "__main__":
    main()
