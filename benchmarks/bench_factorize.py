"""Factorization speed: hand-written constructor calls vs ``factorize_artifact`` for the same
graph, ``Outer(children=[Mid(leaf=Leaf(v=1)), Mid(leaf=Leaf(v=2))])`` (5 objects, 3 levels),
measured side by side in one run, with mmengine, confection and Hydra building the same graph
in their own environment (``peers.py``).

Run with ``python benchmarks/bench_factorize.py``; ``--write`` also replaces the
``factorize`` section of docs/benchmarks.md (``<!-- section:factorize -->`` markers, so other
benchmarks' sections stay untouched), ``--no-peers`` skips the peers, ``--max-load 1.5`` waits
for a quieter machine first, ``--instructions`` adds callgrind's instruction counts of the same
builds (valgrind; about two minutes more).
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _report import (
    DOC,
    interleaved_best_ns,
    load_average,
    machine,
    today,
    wait_for_quiet,
    write_section,
)

from registry import SchemeRegistry, speedups
from registry.factorize import lookup


class Leaf:
    def __init__(self, v: int) -> None:
        self.v = v


class Mid:
    def __init__(self, leaf: Leaf) -> None:
        self.leaf = leaf


class Outer:
    def __init__(self, children: list[Mid]) -> None:
        self.children = children


class Bench(SchemeRegistry):
    """The registry the benchmark builds from."""


for _artifact in (Leaf, Mid, Outer):
    Bench.register_artifact(_artifact)

TYPED_CONFIG: dict[str, Any] = {
    "children": [
        {"_type": "Mid", "leaf": {"_type": "Leaf", "v": 1}},
        {"_type": "Mid", "leaf": {"_type": "Leaf", "v": 2}},
    ]
}
# The same graph relying on class-typed parameters: Mid(leaf: Leaf) builds Leaf from a mapping.
ANNOTATED_CONFIG: dict[str, Any] = {
    "children": [{"_type": "Mid", "leaf": {"v": "1"}}, {"_type": "Mid", "leaf": {"v": "2"}}]
}


def hand_written() -> Outer:
    return Outer(children=[Mid(leaf=Leaf(v=1)), Mid(leaf=Leaf(v=2))])


def factorized() -> Any:
    return Bench.factorize_artifact("Outer", **TYPED_CONFIG)


def factorized_annotated() -> Any:
    return Bench.factorize_artifact("Outer", **ANNOTATED_CONFIG)


# Same shape, new values: configs made beforehand, and the hand-written calls with the same values.
NEW_VALUES = [
    {
        "children": [
            {"_type": "Mid", "leaf": {"_type": "Leaf", "v": n}},
            {"_type": "Mid", "leaf": {"_type": "Leaf", "v": n + 1}},
        ]
    }
    for n in range(1000)
]
_configs = itertools.cycle(NEW_VALUES)
_numbers = itertools.cycle(range(1000))


def hand_written_new_values() -> Outer:
    n = next(_numbers)
    return Outer(children=[Mid(leaf=Leaf(v=n)), Mid(leaf=Leaf(v=n + 1))])


def factorized_new_values() -> Any:
    return Bench.factorize_artifact("Outer", **next(_configs))


def general_path() -> Any:
    """A build on the general path: compile the whole config, then build it (plans, hints and
    validators stay warm; the generated builders are dropped first)."""
    found = lookup.lookup_for(Bench)
    found.builders.clear()
    found.shapes_seen.clear()
    return factorized()


# The benchmark's own classes, defined anew for each first build.
FRESH_ARTIFACTS = "\n".join(inspect.getsource(klass) for klass in (Leaf, Mid, Outer))


def fresh_registry(index: int) -> Any:
    """A new registry holding Leaf, Mid and Outer defined anew: its first build is the first
    this process makes of those artifacts."""
    namespace: dict[str, Any] = {"__name__": f"fresh_{index}"}
    exec(FRESH_ARTIFACTS, namespace)
    fresh: Any = type(f"Fresh{index}", (SchemeRegistry,), {})
    for name in ("Leaf", "Mid", "Outer"):
        fresh.register_artifact(namespace[name])
    return fresh


def first_build(fresh: Any) -> Any:
    return fresh.factorize_artifact("Outer", **TYPED_CONFIG)


def first_builds_ns(samples: int) -> list[float]:
    """The time of each of ``samples`` first builds, each from a :func:`fresh_registry`."""
    timings = []
    for index in range(samples):
        fresh = fresh_registry(index)
        start = time.perf_counter()
        first_build(fresh)
        timings.append((time.perf_counter() - start) * 1e9)
    return sorted(timings)


CASES = {
    "hand": hand_written,
    "repeated": factorized,
    "annotated": factorized_annotated,
    "hand_new": hand_written_new_values,
    "new_values": factorized_new_values,
}
#: The cases whose instructions ``--instructions`` counts.
COUNTED = ("hand", "repeated", "hand_new", "new_values")


def warm() -> None:
    for build in (factorized, factorized_annotated, factorized_new_values):
        build()
        build()  # the second build of a shape generates its builder


def measure(number: int, rounds: int) -> dict[str, float]:
    warm()
    best = interleaved_best_ns(
        {name: ("build()", {"build": build}) for name, build in CASES.items()}, number, rounds
    )
    best |= interleaved_best_ns(
        {
            "general": ("build()", {"build": general_path}),
            "hand_general": ("build()", {"build": hand_written}),
        },
        max(number // 10, 1),
        rounds,
    )
    return best


#: First builds counted (each needs artifacts defined anew, so fewer than the repeated builds).
FIRST_BUILDS_COUNTED = 50


def count_builds(case: str, number: int) -> None:
    """The process callgrind counts: warm up as :func:`measure` does, then build ``number``
    times (``number`` 0 gives the baseline every case shares). Case ``first`` makes ``number``
    fresh registries and builds from each; ``fresh`` only makes them (its baseline)."""
    warm()
    if case in ("first", "fresh"):
        registries = [fresh_registry(index) for index in range(number)]
        if case == "first":
            for fresh in registries:
                first_build(fresh)
        return
    build = CASES[case]
    for _ in range(number):
        build()


def instructions_per_build(number: int = 2_000) -> dict[str, float] | None:
    """Instructions each case executes per build, counted by callgrind (None without
    valgrind): the same process with ``number`` builds less the same with none."""
    if shutil.which("valgrind") is None:
        return None

    def counted(case: str, builds: int, **environ: str) -> int:
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--count-builds",
                case,
                str(builds),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **environ},
        )
        found = re.search(r"Collected : (\d+)", done.stderr)
        assert found is not None, done.stderr[-2000:]
        return int(found.group(1))

    baseline = counted("hand", 0)
    counts = {case: (counted(case, number) - baseline) / number for case in COUNTED}
    first = FIRST_BUILDS_COUNTED
    counts["first"] = (counted("first", first) - counted("fresh", first)) / first
    # What a machine without the C extension runs (provenance records kept in Python).
    python = {"REGISTRY_NO_SPEEDUPS": "1"}
    counts["repeated_python"] = (
        counted("repeated", number, **python) - counted("hand", 0, **python)
    ) / number
    return counts


def uname() -> str:
    try:
        done = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return " ".join(platform.uname())


def section(
    best: dict[str, float],
    firsts: list[float],
    peers: dict[str, Any] | None,
    load: str,
    rounds: int,
    instructions: dict[str, float] | None = None,
) -> str:
    hand, hand_new = best["hand"], best["hand_new"]
    first = statistics.median(firsts)
    rows = [
        ("hand-written constructors (the floor)", hand, hand, ""),
        ("repeated build, same config (`_type` everywhere)", best["repeated"], hand, "2.5x"),
        (
            "repeated build, class-typed `Leaf` given `'1'` (pydantic coerces it)",
            best["annotated"],
            hand,
            "",
        ),
        ("same shape, new values (`v` from 1,000 configs)", best["new_values"], hand_new, "6x"),
        ("new config: general path, compile + build", best["general"], best["hand_general"], ""),
    ]
    lines = [
        "## Factorization (`benchmarks/bench_factorize.py`)",
        "",
        "Building `Outer(children=[Mid(leaf=Leaf(v=1)), Mid(leaf=Leaf(v=2))])` (5 objects, 3 levels)",
        "from a config with full validation, each row beside its floor, hand-written constructor",
        f"calls, measured in the same run (best of {rounds} interleaved rounds). The new-values row's",
        "floor makes the same calls with the same values, read from the same cycle.",
        "",
        f"Machine: {machine()}. Date: {today()}. Load average (1/5/15 min): {load}.",
        f"`uname -a`: `{uname()}`",
        f"Hot paths served by: {speedups.DESCRIPTION}.",
        "",
        "| case | ns/op | floor ns/op (same run) | x floor | target |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {ns:,.0f} | {floor:,.0f} | {ns / floor:.2f} | {target} |"
        for name, ns, floor, target in rows
    ]
    lines.append(
        f"| first build, artifacts never built before in the process (median of {len(firsts)}, "
        f"fastest {firsts[0] / 1e3:,.0f} us) | {first:,.0f} | {hand:,.0f} | {first / hand:.0f} | 200 us |"
    )
    if instructions is not None:
        lines += [
            f"| {name} (callgrind: instructions per build) | {instructions[case]:,.0f} | "
            f"{instructions[floor]:,.0f} | {instructions[case] / instructions[floor]:.2f} | {target} |"
            for name, case, floor, target in (
                ("repeated build, same config", "repeated", "hand", "2.5x"),
                ("same shape, new values", "new_values", "hand_new", "6x"),
                (f"first build (of {FIRST_BUILDS_COUNTED})", "first", "hand", ""),
                (
                    "repeated build, same config, without the C extension",
                    "repeated_python",
                    "hand",
                    "",
                ),
            )
        ]
    if peers is not None:
        import peers as peer_module

        lines += peer_module.table_rows(
            peers, "(peer, own venv; floor: the same hand-written calls in its process)"
        )
    lines += [
        "",
        "A config shape (keys, `_type` names, containers; not the scalar values) compiled a second",
        "time gets a builder generated for it (`registry/factorize/shapes.py`): straight-line code that",
        "checks a config along the shape, checks scalars directly against plain annotations",
        "(pydantic validates the rest, as in the `'1'` row), checks that each `_type` still names",
        "the same artifact, calls the constructors and writes the weak provenance record that",
        "`to_config` reads (a weak reference per object in a table of the C extension; in pure",
        "Python, the last callgrind row, a dict entry too, the largest cost above the",
        "constructors). A config of a shape not seen before is compiled in Python with pydantic's",
        "validators (the general path), and the first build of an artifact also reads its",
        "signature into a plan; the pydantic scheme is built only for annotations that need it.",
        "Peers: mmengine builds one level per `Registry.build` (a recursive helper builds the",
        "nested configs), confection resolves `@` blocks (the list is a registered `*` function),",
        "Hydra instantiates `_target_` import paths. The machine is a shared 2-core VM; compare",
        "the ratios, each measured beside its floor, rather than absolute numbers across runs.",
        "The callgrind rows count the instructions the same builds execute (valgrind, one process",
        "per case less a process that only warms up): the same on a quiet or a busy machine, they",
        "show what a change did where the wall-clock ratios of two runs differ by more than it.",
        "A first build runs code and touches data no build has warmed, so its time is a larger",
        "multiple of the floor than its instruction count (compare its two rows).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=4_000, help="calls per timing round")
    parser.add_argument("--rounds", type=int, default=31, help="interleaved rounds, best kept")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--no-peers", action="store_true", help="skip mmengine, confection, Hydra")
    parser.add_argument("--max-load", type=float, help="wait for a lower 1-minute load first")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions with callgrind too"
    )
    parser.add_argument("--count-builds", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_builds:
        count_builds(args.count_builds[0], int(args.count_builds[1]))
        return
    assert vars(factorized().children[1].leaf) == vars(hand_written().children[1].leaf)
    wait_for_quiet(args.max_load)
    load_before = load_average()
    best = measure(args.number, args.rounds)
    firsts = first_builds_ns(31)
    peers = None
    if not args.no_peers:
        import peers as peer_module

        peers = peer_module.measure("build", number=args.number, rounds=args.rounds)
    load = f"{load_before} before, {load_average()} after"
    instructions = instructions_per_build() if args.instructions else None
    body = section(best, firsts, peers, load, args.rounds, instructions)
    print(body)
    if args.write:
        write_section("factorize", body)
        print(f"wrote the factorize section of {DOC}")


if __name__ == "__main__":
    main()
