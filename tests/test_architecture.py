"""The module map of docs/architecture.md, enforced: imports run one way, and never in a circle.

Every module under src/registry is parsed with ``ast``; every import of another module of the
package counts (at the top, inside a function, under ``TYPE_CHECKING``), so a cycle cannot hide
behind a function-level import. A module may import modules of its own layer or of layers below
it; within a layer, imports may go either way as long as no cycle forms.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SOURCE / "registry"

#: The layers of docs/architecture.md, bottom first. A name covers that module and, for a
#: package, everything under it; the most specific name wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "registry.errors",
            "registry.suggest",
            "registry.version",
            "registry.gcpause",
            "registry.settings",
            "registry.speedups",
            "registry._speedups",
        ),
    ),
    ("store", ("registry.store",)),
    (
        "artifacts",
        (
            "registry.refs",
            "registry.sources",
            "registry.validation",
            "registry.schemes",
            "registry.pickling",
            "registry.plugins",
            "registry.drafts",
            "registry.batches",
            "registry.scanning",
            "registry.scheme_cache",
        ),
    ),
    ("registries", ("registry.registries", "registry.namespaces")),
    ("factorize", ("registry.factorize",)),
    (
        "tools",
        (
            "registry.transfer",
            "registry.schema_export",
            "registry.doctor",
            "registry.db_commands",
            "registry.cli_base",
        ),
    ),
    ("server", ("registry.server",)),
    ("entry points", ("registry", "registry.cli", "registry.__main__")),
)

#: Imports that go against the layers on purpose, each with the reason. Keep it empty.
ALLOWED: Mapping[tuple[str, str], str] = {}


def module_names() -> dict[str, Path]:
    """Return every module of the package by dotted name (a compiled one by its stub)."""
    found = {}
    compiled = [path for path in PACKAGE.rglob("*.pyi") if not path.with_suffix(".py").exists()]
    for path in sorted([*PACKAGE.rglob("*.py"), *compiled]):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: Iterable[str]) -> dict[str, int]:
    """Return the package modules ``name`` imports anywhere in its source, with a line each."""
    known = set(modules)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        while target not in known and "." in target:
            target = target.rpartition(".")[0]
        if target in known and target != name:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                add(candidate if candidate in known else source, node.lineno)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_of(module: str) -> int:
    """Return the index of ``module``'s layer (the most specific name that covers it)."""
    best: tuple[int, int] | None = None
    for index, (_, names) in enumerate(LAYERS):
        for covering in names:
            exact = module == covering
            under = covering != "registry" and module.startswith(covering + ".")
            if (exact or under) and (best is None or len(covering) > best[1]):
                best = (index, len(covering))
    if best is None:
        raise LookupError(module)
    return best[0]


def upward_imports(graph: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Return a line per import of a higher layer than the importer's."""
    found = []
    for module, targets in sorted(graph.items()):
        for target, line in sorted(targets.items()):
            low, high = layer_of(module), layer_of(target)
            if high > low and (module, target) not in ALLOWED:
                found.append(
                    f"{module} (layer {LAYERS[low][0]!r}) imports {target} "
                    f"(layer {LAYERS[high][0]!r}) at line {line}"
                )
    return found


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_every_module_is_placed_in_a_layer() -> None:
    unplaced = []
    for name in module_names():
        try:
            layer_of(name)
        except LookupError:
            unplaced.append(name)
    assert unplaced == [], "add these modules to LAYERS and to docs/architecture.md"


def test_the_module_map_names_every_module() -> None:
    page = (SOURCE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    module_map = page.split("## Module map", 1)[1]
    missing = [
        str(path.relative_to(PACKAGE))
        for path in module_names().values()
        if path.name != "__init__.py" and path.name not in module_map
    ]
    assert missing == [], "describe these modules in docs/architecture.md"


def test_no_module_imports_a_higher_layer() -> None:
    assert upward_imports(import_graph()) == []


def test_there_is_no_import_cycle() -> None:
    graph = import_graph()
    edges = {
        module: [target for target in targets if (module, target) not in ALLOWED]
        for module, targets in graph.items()
    }
    assert cycles(edges) == []


def test_the_checks_see_function_level_and_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / "registry" / "sub"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    module = package / "low.py"
    module.write_text(
        "from . import high\n"
        "from ..errors import ValidationError\n"
        "def later():\n"
        "    from registry.cli import main\n"
        "    import registry.server.run\n"
    )
    known = ["registry.sub", "registry.sub.low", "registry.sub.high", "registry.errors"]
    known += ["registry.cli", "registry.server.run"]
    assert imports_of("registry.sub.low", module, known) == {
        "registry.sub.high": 1,
        "registry.errors": 2,
        "registry.cli": 4,
        "registry.server.run": 5,
    }


def test_the_checks_catch_a_cycle_and_an_upward_import() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": []}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": ["b"], "b": []}) == []
    upward = upward_imports({"registry.registries": {"registry.factorize.lookup": 7}})
    assert upward == [
        "registry.registries (layer 'registries') imports registry.factorize.lookup "
        "(layer 'factorize') at line 7"
    ]


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("registry", "entry points"),
        ("registry.store.sql", "store"),
        ("registry.server.ui.routes", "server"),
        ("registry.factorize", "factorize"),
        ("registry.errors", "foundation"),
    ],
)
def test_a_module_belongs_to_the_most_specific_layer_name(module: str, layer: str) -> None:
    assert LAYERS[layer_of(module)][0] == layer
