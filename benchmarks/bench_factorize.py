"""Factorization speed: hand-written constructor calls vs ``factorize_artifact`` for the same
graph, ``Outer(children=[Mid(leaf=Leaf(v=1)), Mid(leaf=Leaf(v=2))])`` (5 objects, 3 levels),
measured side by side in one run.

Run with ``python benchmarks/bench_factorize.py``; ``--write`` also replaces the
``factorize`` section of docs/benchmarks.md (``<!-- section:factorize -->`` markers, so other
benchmarks' sections stay untouched).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _report import DOC, machine, today, write_section

from registry import SchemeRegistry


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


def interleaved_best_ns(cases: list[Any], number: int, repeat: int = 9) -> list[float]:
    """Best of ``repeat`` rounds of ``number`` calls per case, in ns per call. Rounds alternate
    between the cases so that a noisy neighbour slows them alike."""
    best = [float("inf")] * len(cases)
    for _ in range(repeat):
        for index, func in enumerate(cases):
            best[index] = min(best[index], timeit.timeit(func, number=number) / number * 1e9)
    return best


def first_build_ns() -> float:
    """A build with cold caches: plans and validators are compiled on this call."""
    from registry import hints, lookup, plans

    def cold() -> None:
        lookup._LOOKUPS.clear()
        hints._HINTS.clear()
        plans._CLASS_PLANS.clear()
        Bench._schemes.clear()

    timings = []
    for _ in range(5):
        cold()
        timings.append(timeit.timeit(factorized, number=1) * 1e9)
    return min(timings)


def uncached() -> Any:
    """A build whose compiled tree is not reused (plans, validators and hints stay warm)."""
    from registry import lookup

    found = lookup.lookup_for(Bench)
    found.builders.clear()
    found.shapes_seen.clear()
    return factorized()


def measure(number: int) -> list[tuple[str, float]]:
    first = first_build_ns()
    hand, typed, annotated, compiled = interleaved_best_ns(
        [hand_written, factorized, factorized_annotated, uncached], number
    )
    return [
        ("hand-written constructors", hand),
        ("factorize, first build (every cache cold)", first),
        ("factorize, new config (plans warm, compile + build)", compiled),
        ("factorize, repeated build (_type everywhere)", typed),
        ("factorize, repeated build (class-typed Leaf, '1' -> 1)", annotated),
    ]


def uname() -> str:
    try:
        done = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return " ".join(platform.uname())


def table(rows: list[tuple[str, float]]) -> str:
    hand = rows[0][1]
    lines = [f"{'case':<58} {'ns/op':>12} {'x hand':>8}"]
    lines += [f"{name:<58} {ns:>12,.0f} {ns / hand:>8.1f}" for name, ns in rows]
    return "\n".join(lines)


def section(rows: list[tuple[str, float]]) -> str:
    hand = rows[0][1]
    lines = [
        "## Factorization (`benchmarks/bench_factorize.py`)",
        "",
        "Building `Outer(children=[Mid(leaf=Leaf(v=1)), Mid(leaf=Leaf(v=2))])` (5 objects, 3 levels)",
        "from a config with full validation, side by side with the hand-written constructor calls.",
        "Best of 9 interleaved rounds; the first build is the best of 5 builds with every cache cleared.",
        "",
        f"Machine: {machine()}. Date: {today()}.",
        f"`uname -a`: `{uname()}`",
        "",
        "| case | ns/op | x hand-written |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {ns:,.0f} | {ns / hand:.1f} |" for name, ns in rows]
    lines += [
        "",
        "Target (issue 4): within 10x of hand-written for the repeated build. A repeated build of a",
        "plain-data config reuses its compiled tree (keyed by `marshal.dumps(config, 2)`, about",
        "0.6 us here, after checking that every `_type` still names the same artifact) and runs it",
        "as closures; above the constructors remain the call overhead of those closures and the",
        "weak provenance record that `to_config` reads (about 0.13 us per object). A config seen for",
        "the first time is compiled in Python (resolve, one pydantic call per node with literal",
        "values, type checks of nested artifacts), about 3 us per node. The first build also",
        "derives each artifact's plan and validators. The machine is a shared 2-core VM; compare",
        "the ratios, measured side by side, rather than absolute numbers. For reference,",
        "`hydra.utils.instantiate` was reported at about 2,700 us for the same graph (Hydra is not",
        "installed here, so it is not measured).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing run")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    assert vars(factorized().children[1].leaf) == vars(hand_written().children[1].leaf)
    rows = measure(args.number)
    print(table(rows))
    if args.write:
        write_section("factorize", section(rows))
        print(f"wrote the factorize section of {DOC}")


if __name__ == "__main__":
    main()
