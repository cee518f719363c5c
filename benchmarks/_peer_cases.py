"""The peers' side of the benchmarks, run by ``peers.py`` inside ``benchmarks/.peers`` (a venv of
its own: the peers are never dependencies of registry). Standalone on purpose: it imports only
the standard library and the peers, and measures each peer beside a floor taken in the same
process, so every ratio compares like with like.

``python _peer_cases.py hit|build [--number N] [--rounds R]`` prints one JSON object:
``{"floor": ns, "peers": {name: ns}, "versions": {...}, "skipped": {name: reason}}``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import timeit
from collections.abc import Callable
from typing import Any

N_FUNCTIONS = 1000


class Leaf:
    def __init__(self, v: int) -> None:
        self.v = v


class Mid:
    def __init__(self, leaf: Leaf) -> None:
        self.leaf = leaf


class Outer:
    def __init__(self, children: list[Mid]) -> None:
        self.children = children


def hand_written() -> Outer:
    return Outer(children=[Mid(leaf=Leaf(v=1)), Mid(leaf=Leaf(v=2))])


def functions() -> dict[str, Callable[..., Any]]:
    namespace: dict[str, Any] = {}
    exec("\n".join(f"def f{i}(x):\n    return x\n" for i in range(N_FUNCTIONS)), namespace)
    return {f"f{i}": namespace[f"f{i}"] for i in range(N_FUNCTIONS)}


# --------------------------------------------------------------------------- hits


# Each case returns a statement and its namespace: timing a statement adds no call frame.
Case = tuple[str, dict[str, Any]]


def hit_fvcore() -> Case:
    from fvcore.common.registry import Registry

    found = Registry("bench")
    for name, func in functions().items():
        found._do_register(name, func)
    return "found.get('f500')", {"found": found}


def hit_mmengine() -> Case:
    from mmengine.registry import Registry

    found = Registry("bench")
    for name, func in functions().items():
        found.register_module(name=name, module=func)
    return "found.get('f500')", {"found": found}


def hit_catalogue() -> Case:
    import catalogue

    found = catalogue.create("bench", "hits", entry_points=False)
    for name, func in functions().items():
        found.register(name, func=func)
    return "found.get('f500')", {"found": found}


# --------------------------------------------------------------------------- builds


def build_mmengine() -> Case:
    """mmengine builds one level per ``Registry.build``; nested configs are built by the
    caller (usually the parent's ``__init__``), here by a short recursive helper."""
    from mmengine.registry import Registry

    models = Registry("bench")
    for klass in (Leaf, Mid, Outer):
        models.register_module(module=klass)

    def build(value: Any) -> Any:
        if isinstance(value, list):
            return [build(item) for item in value]
        if isinstance(value, dict) and "type" in value:
            return models.build({key: build(item) for key, item in value.items()})
        return value

    config = {
        "type": "Outer",
        "children": [
            {"type": "Mid", "leaf": {"type": "Leaf", "v": 1}},
            {"type": "Mid", "leaf": {"type": "Leaf", "v": 2}},
        ],
    }
    return "build(config)", {"build": build, "config": config}


def build_confection() -> Case:
    """confection resolves ``@registry`` blocks; a list of built objects is a registered
    function taking ``*`` (variable positional) blocks, as thinc and spaCy write them."""
    import catalogue
    from confection import registry

    def items(*values: Any) -> list[Any]:
        return list(values)

    registry.bench = catalogue.create("confection", "bench", entry_points=False)
    for name, func in (("Leaf", Leaf), ("Mid", Mid), ("Outer", Outer), ("list", items)):
        registry.bench.register(name, func=func)
    config = {
        "outer": {
            "@bench": "Outer",
            "children": {
                "@bench": "list",
                "*": {
                    "a": {"@bench": "Mid", "leaf": {"@bench": "Leaf", "v": 1}},
                    "b": {"@bench": "Mid", "leaf": {"@bench": "Leaf", "v": 2}},
                },
            },
        }
    }
    return "resolve(config)['outer']", {"resolve": registry.resolve, "config": config}


def build_hydra() -> Case:
    from hydra.utils import instantiate

    here = __name__
    config = {
        "_target_": f"{here}.Outer",
        "children": [
            {"_target_": f"{here}.Mid", "leaf": {"_target_": f"{here}.Leaf", "v": 1}},
            {"_target_": f"{here}.Mid", "leaf": {"_target_": f"{here}.Leaf", "v": 2}},
        ],
    }
    return "instantiate(config)", {"instantiate": instantiate, "config": config}


CASES: dict[str, dict[str, tuple[str, Callable[[], Case]]]] = {
    "hit": {
        "fvcore": ("fvcore", hit_fvcore),
        "mmengine": ("mmengine", hit_mmengine),
        "catalogue": ("catalogue", hit_catalogue),
    },
    "build": {
        "mmengine": ("mmengine", build_mmengine),
        "confection": ("confection", build_confection),
        "hydra": ("hydra-core", build_hydra),
    },
}


def floor(kind: str) -> Case:
    """The same floors as the project's benchmarks: a bound ``dict.__getitem__`` call, and
    the hand-written constructor calls."""
    if kind == "hit":
        return "plain.__getitem__('f500')", {"plain": functions()}
    return "hand_written()", {"hand_written": hand_written}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=sorted(CASES))
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    cases: dict[str, Case] = {"floor": floor(args.kind)}
    versions: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name, (distribution, make) in CASES[args.kind].items():
        try:
            statement, namespace = cases[name] = make()
            eval(statement, namespace)  # builds once, so a broken peer is skipped, not timed
            versions[name] = importlib.metadata.version(distribution)
        except Exception as exc:  # a peer that does not import or run here is reported, not fatal
            cases.pop(name, None)
            skipped[name] = f"{type(exc).__name__}: {exc}"[:200]
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(args.rounds):  # interleaved, so a noisy neighbour slows every case alike
        for name, (statement, namespace) in cases.items():
            slow = args.kind == "build" and name != "floor"  # peers' builds take 100-5,000x
            number = max(args.number // 100 if slow else args.number, 1)
            seconds = timeit.timeit(statement, globals=namespace, number=number)
            best[name] = min(best[name], seconds / number * 1e9)
    result = {
        "floor": best.pop("floor"),
        "peers": best,
        "versions": versions,
        "skipped": skipped,
        "python": sys.version.split()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
