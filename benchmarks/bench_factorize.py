"""Factorization speed: hand-written constructor calls vs ``factorize_artifact`` for the same
graph, ``Outer(children=[Mid(leaf=Leaf(v=1)), Mid(leaf=Leaf(v=2))])`` (5 objects, 3 levels),
measured side by side in one run.

Run with ``python benchmarks/bench_factorize.py`` (``--markdown`` prints a docs section).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

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


def best_ns(func: Any, number: int, repeat: int = 7) -> float:
    """Best of ``repeat`` runs of ``number`` calls, in ns per call."""
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number * 1e9


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


def measure(number: int) -> list[tuple[str, float]]:
    first = first_build_ns()
    hand = best_ns(hand_written, number)
    typed = best_ns(factorized, number)
    annotated = best_ns(factorized_annotated, number)
    return [
        ("hand-written constructors", hand),
        ("factorize, first build (cold caches)", first),
        ("factorize, repeated build (_type everywhere)", typed),
        ("factorize, repeated build (class-typed Leaf, '1' -> 1)", annotated),
    ]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(rows: list[tuple[str, float]], markdown: bool) -> str:
    hand = rows[0][1]
    if not markdown:
        lines = [f"{'case':<58} {'ns/op':>12} {'x hand':>8}"]
        lines += [f"{name:<58} {ns:>12,.0f} {ns / hand:>8.1f}" for name, ns in rows]
        return "\n".join(lines)
    lines = [
        "## Factorization (`benchmarks/bench_factorize.py`)",
        "",
        "Building `Outer(children=[Mid(leaf=Leaf(v=1)), Mid(leaf=Leaf(v=2))])` (5 objects, 3 levels)",
        "from a config with full validation, side by side with the hand-written constructor calls.",
        "Best of 7 runs; the first build is the best of 5 builds with every cache cleared.",
        "",
        f"- Date: {datetime.date.today().isoformat()}",
        f"- Machine: `{' '.join(platform.uname())}`",
        f"- CPU: {cpu_model()}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
        "",
        "| case | ns/op | x hand-written |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {ns:,.0f} | {ns / hand:.1f} |" for name, ns in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing run")
    parser.add_argument(
        "--markdown", action="store_true", help="print a docs/benchmarks.md section"
    )
    args = parser.parse_args()
    assert vars(factorized().children[1].leaf) == vars(hand_written().children[1].leaf)
    print(report(measure(args.number), args.markdown))


if __name__ == "__main__":
    main()
