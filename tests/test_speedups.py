"""The C extension (``registry._speedups``) does exactly what the pure-Python code it replaces does.

Each C version is held here against its Python version in the same process: the getter against
the closure it wraps (``Getter.__wrapped__``), the record table against ``PyRecords``. The last
test runs the registry and factorization tests again in a process where the extension is
switched off, as on a machine without a C compiler.
"""

from __future__ import annotations

import faulthandler
import gc
import inspect
import subprocess
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry import FunctionalRegistry, SchemeRegistry, speedups
from registry import settings as registry_settings
from registry.factorize import records
from registry.factorize.records import PyRecords
from tests.conftest import subprocess_env

REPO = Path(__file__).resolve().parents[1]


def test_the_extension_serves_the_hot_paths() -> None:
    """CI has a C compiler: a missing extension there is a broken build, not a fallback."""
    if not registry_settings.speedups_wanted():
        assert not speedups.ACTIVE
        return
    assert speedups.ACTIVE, (
        f"registry._speedups is not in use: {speedups.REASON}. Install a C compiler and "
        "Python's headers and reinstall (pip install -e .), or set REGISTRY_NO_SPEEDUPS=1 to "
        "run the pure-Python versions on purpose"
    )
    assert speedups.Getter is not None
    assert isinstance(records.TABLE, speedups._speedups.Records)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the getter


def loss(x: float) -> float:
    return x


def metric(x: float) -> float:
    return -x


class Collides:
    """A key with the hash of ``"loss"`` whose comparison raises ``error``."""

    def __init__(self, error: type[Exception]) -> None:
        self.error = error

    def __hash__(self) -> int:
        return hash("loss")

    def __eq__(self, other: object) -> bool:
        raise self.error("compared")

    def __repr__(self) -> str:
        return f"Collides({self.error.__name__})"


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """What a call returned, or the type, message and details of what it raised."""
    try:
        return ("returned", call())
    except Exception as exc:
        details = getattr(exc, "suggestions", None), getattr(exc, "context", None)
        return (type(exc).__name__, (str(exc), details))


@pytest.fixture
def losses() -> type[FunctionalRegistry]:
    if speedups.Getter is None:
        pytest.fail(f"no C getter to compare: {speedups.REASON}")

    class Losses(FunctionalRegistry):
        pass

    Losses.register_artifact(loss)
    Losses.register_artifact(metric)
    assert isinstance(Losses.get_artifact, speedups.Getter)
    return Losses


def both_getters(registry: type[FunctionalRegistry]) -> tuple[Callable[..., Any], ...]:
    in_c = registry.get_artifact
    return in_c, in_c.__wrapped__  # type: ignore[attr-defined]


CALLS: dict[str, Callable[[Callable[..., Any]], Any]] = {
    "hit": lambda get: get("loss"),
    "another hit": lambda get: get("metric"),
    "miss": lambda get: get("los"),
    "empty": lambda get: get(""),
    "not a string": lambda get: get(3),
    "unhashable": lambda get: get(["loss"]),
    "keyword": lambda get: get(identifier="loss"),
    "unknown keyword": lambda get: get(name="loss"),
    "no argument": lambda get: get(),
    "two arguments": lambda get: get("loss", "metric"),
    "comparison raises ValueError": lambda get: get(Collides(ValueError)),
    "comparison raises TypeError": lambda get: get(Collides(TypeError)),
}


@pytest.mark.parametrize("case", CALLS)
def test_the_c_getter_answers_as_the_python_one(
    losses: type[FunctionalRegistry], case: str
) -> None:
    in_c, in_python = both_getters(losses)
    call = CALLS[case]
    assert outcome(lambda: call(in_c)) == outcome(lambda: call(in_python))


def test_the_c_getter_answers_as_the_python_one_after_changes(
    losses: type[FunctionalRegistry],
) -> None:
    in_c, in_python = both_getters(losses)
    losses.unregister_identifier("loss")
    assert outcome(lambda: in_c("loss")) == outcome(lambda: in_python("loss"))
    assert outcome(lambda: in_c("loss"))[0] == "NotFoundError"
    losses.register_artifact(loss)
    assert in_c("loss") is loss


def test_the_c_getter_reads_as_the_registry_method(losses: type[FunctionalRegistry]) -> None:
    in_c, in_python = both_getters(losses)
    assert inspect.signature(in_c) == inspect.signature(in_python)
    assert in_c.__doc__ == in_python.__doc__
    assert "identifier" in (in_c.__doc__ or "")
    assert in_c.__name__ == "get_artifact"
    assert "get_artifact" in repr(in_c)


def test_a_registry_class_with_a_c_getter_is_collected() -> None:
    class Temporary(FunctionalRegistry):
        pass

    Temporary.register_artifact(loss)
    assert Temporary.get_artifact("loss") is loss
    gone = weakref.ref(Temporary)
    del Temporary
    gc.collect()
    assert gone() is None


# --------------------------------------------------------------------------- the record table


class FailsOnce:
    """A key with the hash of ``"loss"`` whose first comparison raises ``ValueError``."""

    def __init__(self) -> None:
        self.comparisons = 0

    def __hash__(self) -> int:
        return hash("loss")

    def __eq__(self, other: object) -> bool:
        self.comparisons += 1
        if self.comparisons == 1:
            raise ValueError("compared")
        return other == "loss"


def test_the_c_getter_raises_what_a_lookup_raised_without_retrying(
    losses: type[FunctionalRegistry],
) -> None:
    """Only a TypeError is handed to the Python getter to explain; an error such as a
    KeyboardInterrupt in a key's ``__eq__`` must surface once, not be swallowed and retried."""
    key = FailsOnce()
    with pytest.raises(ValueError, match="compared"):
        losses.get_artifact(key)
    assert key.comparisons == 1


class Built:
    """An object a builder made (takes weak references)."""


class Node:
    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


def c_table() -> Any:
    if speedups.Records is None:
        pytest.fail(f"no C table to compare: {speedups.REASON}")
    return speedups.Records()


#: One step on a pool of 6 places: make an object there (the one it replaces dies), remember
#: the object there (with a node and slots), drop it, remember something that takes no weak
#: reference, or collect garbage.
steps = st.one_of(
    st.tuples(st.just("make"), st.integers(0, 5)),
    st.tuples(st.just("remember"), st.integers(0, 5), st.sampled_from("abc"), st.integers(0, 2)),
    st.tuples(st.just("drop"), st.integers(0, 5)),
    st.tuples(st.just("unreferenceable"), st.integers(0, 5)),
    st.tuples(st.just("collect")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=80))
def test_the_c_table_records_what_the_python_one_records(program: list[tuple[Any, ...]]) -> None:
    in_c, in_python = c_table(), PyRecords()
    places: list[Any] = [None] * 6
    expected: dict[int, tuple[Node, tuple[int, ...]]] = {}  # place -> last record of its object
    for step in program:
        kind, place = step[0], step[1] if len(step) > 1 else 0
        if kind == "make":
            places[place] = Built()
            expected.pop(place, None)
        elif kind == "remember" and places[place] is not None:
            node, slots = Node(step[2]), tuple(range(step[3]))
            for table in (in_c, in_python):
                table.remember(places[place], node, slots)
            expected[place] = (node, slots)
        elif kind == "drop":
            places[place] = None
            expected.pop(place, None)
        elif kind == "unreferenceable":
            for table in (in_c, in_python):
                table.remember(1000 + place, Node("int"))
                table.remember({"a": place}, Node("dict"))
        elif kind == "collect":
            gc.collect()
        for index, obj in enumerate(places):
            if obj is not None:
                assert in_c.record_of(obj) == in_python.record_of(obj) == expected.get(index)
    assert in_c.record_of(1000) is None
    assert in_c.record_of(Built()) is None


def test_the_c_table_forgets_dead_objects_and_keeps_live_ones() -> None:
    table = c_table()
    kept = []
    for count in range(100_000):
        obj = Built()
        table.remember(obj, Node("dies"))  # the slots default to ()
        if count % 10 == 0:
            kept.append((obj, Node(str(count)), (count,)))
            table.remember(*kept[-1])
    assert all(table.record_of(obj) == (node, slots) for obj, node, slots in kept)
    assert len(table) < 4 * len(kept)  # dead records are swept as the table fills
    kept.clear()
    for _ in range(100):  # a window of 1,000 objects alive at a time
        window = [Built() for _ in range(1000)]
        for obj in window:
            table.remember(obj, Node("dies"))
    assert len(table) <= 4096  # the table shrank to what is alive


def test_the_c_table_releases_the_records_of_dead_objects() -> None:
    table = c_table()
    obj, node, slot = Built(), Node("dies"), Built()
    table.remember(obj, node, (slot,))
    node_gone, slot_gone = weakref.ref(node), weakref.ref(slot)
    del obj, node, slot
    for _ in range(1000):  # enough new records to sweep the table
        table.remember(Built(), Node("dies"))
    assert node_gone() is None
    assert slot_gone() is None


def test_the_c_table_answers_a_stranger_at_every_fill_level() -> None:
    """Open addressing stops probing at an empty slot: a table let fill up would search for
    an unknown object forever. The watchdog turns that hang into a failure."""
    table = c_table()
    kept = []
    faulthandler.dump_traceback_later(60, exit=True)
    try:
        for count in range(5_000):
            kept.append(Built())
            table.remember(kept[-1], Node(str(count)))
            assert table.record_of(Built()) is None
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert len(table) == 5_000


def test_the_c_table_survives_code_run_by_its_own_sweep() -> None:
    """Dropping a dead record may run any code (a ``__del__`` in its slots), which may record
    into the same table while the table is being rebuilt."""
    table = c_table()
    kept: list[tuple[Built, Node]] = []
    lost: list[Built] = []  # what __del__ found unrecorded (its exceptions would be swallowed)

    class RecordsWhenDropped:
        def __del__(self) -> None:
            if len(kept) >= 4_000:  # enough; and not while the garbage collector frees the table
                return
            obj, node = Built(), Node(f"from __del__ {len(kept)}")
            kept.append((obj, node))
            table.remember(obj, node)
            lost.extend(o for o, n in kept[-5:] if table.record_of(o) != (n, ()))

    for count in range(5_000):
        table.remember(Built(), Node(str(count)), (RecordsWhenDropped(),))
    for _ in range(5_000):
        table.remember(Built(), Node("dies"))
    assert len(kept) == 4_000
    assert lost == []
    assert all(table.record_of(obj) == (node, ()) for obj, node in kept)


def test_the_c_table_is_collected_with_a_cycle_through_a_record() -> None:
    table = c_table()
    obj = Built()

    class Holder:
        pass

    node = Holder()
    node.table = table  # type: ignore[attr-defined]
    table.remember(obj, node)
    gone = weakref.ref(node)
    del table, node
    gc.collect()
    assert gone() is None


def test_the_c_table_refuses_wrong_calls() -> None:
    table = c_table()
    with pytest.raises(TypeError, match="2 or 3 arguments"):
        table.remember(Built())
    with pytest.raises(TypeError, match="no arguments"):
        type(table)(1)


def test_generated_builders_record_into_the_table_in_use() -> None:
    class Models(SchemeRegistry):
        pass

    class Leaf:
        def __init__(self, v: int) -> None:
            self.v = v

    Models.register_artifact(Leaf)
    built = [Models.factorize_artifact("Leaf", v=v) for v in range(3)]  # the third: a builder
    assert [records.TABLE.record_of(obj) is not None for obj in built] == [True] * 3
    assert Models.to_config(built[2]) == {"_type": "Leaf", "v": 2}


# --------------------------------------------------------------------------- without it


@pytest.mark.slow
def test_the_pure_python_versions_pass_the_same_tests() -> None:
    env = subprocess_env(**{registry_settings.NO_SPEEDUPS_ENV: "1"})
    probe = subprocess.run(
        [sys.executable, "-c", "from registry import speedups; print(speedups.ACTIVE)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"
    files = [
        "tests/test_registries.py",
        "tests/test_factorize.py",
        "tests/test_factorize_properties.py",
        "tests/test_fast_paths.py",
        "tests/test_class_writes.py",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *files],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,  # the assertion shows the output
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
