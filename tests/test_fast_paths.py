"""The fast paths build exactly what the general path builds.

Three shortcuts stand beside the general factorization path (compile the whole config with
pydantic's validators, then build it): builders generated per config shape, scalar values
checked directly against plain annotations, and plans read from signatures without building
the pydantic scheme. Each is held here against the general path or pydantic itself.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import functools
import inspect
import math
import sys
import typing
from typing import Annotated, Any, Optional, Union

import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from registry import SchemeRegistry, ValidationError, schemes
from registry.factorize import compiler as factorize
from registry.factorize import hints, lookup, plans
from registry.factorize.hints import EVERY_TYPE, direct_types, is_plain_class
from registry.factorize.shapes import MISMATCH
from tests.test_factorize_properties import Branch, Leaf, anything, forest, untyped


@dataclasses.dataclass
class Point:
    x: float
    y: Optional[float] = None  # noqa: UP045


def scalars(
    flag: bool = False,
    name: str = "",
    count: Union[int, str] = 0,  # noqa: UP007
    ratio: Optional[float] = None,  # noqa: UP045
    raw: bytes = b"",
    positive: Annotated[int, pydantic.Field(ge=0)] = 0,
    sizes: tuple[int, ...] = (),
) -> tuple[Any, ...]:
    return (flag, name, count, ratio, raw, positive, sizes)


def pair(first: Any, second: Any = None) -> tuple[Any, Any]:
    return (first, second)


def place(point: Point, at: Optional[Point] = None) -> Point:  # noqa: UP045
    return point


class Colour(enum.Enum):
    RED = 1


class Model(pydantic.BaseModel):
    x: int = 0


class Pair(typing.NamedTuple):
    a: int


class Fast(SchemeRegistry):
    """Registry for the fast-path properties."""


for _artifact in (Leaf, Branch, Point, forest, anything, untyped, scalars, pair, place):
    Fast.register_artifact(_artifact)

ROOTS = ["Leaf", "Branch", "Point", "forest", "anything", "untyped", "scalars", "pair", "place"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=4)
    | st.binary(max_size=3)
    | st.sampled_from(["1", "-2", "2.5", "true", "x", "0"])
)
KEYS = st.sampled_from(
    [
        "v",
        "label",
        "left",
        "right",
        "weight",
        "x",
        "y",
        "trees",
        "names",
        "first",
        "second",
        "flag",
        "name",
        "count",
        "ratio",
        "raw",
        "positive",
        "sizes",
        "point",
        "at",
        "extra_key",
        "_args_",
        "_partial_",
    ]
)
TYPED = st.sampled_from([*ROOTS, "Fast:Leaf", "Nope"])


def _nested(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    plain = st.dictionaries(KEYS, children, max_size=3)
    typed = st.builds(lambda t, d: {"_type": t, **d}, TYPED, plain)
    return typed | plain | st.lists(children, max_size=3) | st.tuples(children, children)


CONFIGS = st.recursive(SCALARS, _nested, max_leaves=12)

# Configs that follow the signatures, so that most of them build (values still stray).
INTS = st.integers(-5, 2**65) | st.sampled_from(["1", "-2", True, 2.0, "x"])
FLOATS = st.floats(allow_nan=True) | st.integers(-3, 3) | st.sampled_from(["2.5", "nan"])
TEXT = st.text(max_size=3) | st.just(1)


def _maybe(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Mappings holding any subset of ``fields``, in the order given."""
    return st.fixed_dictionaries({}, optional=fields)


def _typed(name: st.SearchStrategy[str], body: st.SearchStrategy[dict[str, Any]]) -> Any:
    return st.builds(lambda t, d: {"_type": t, **d}, name, body)


LEAF_BODY = st.builds(lambda v, rest: {"v": v, **rest}, INTS, _maybe(label=TEXT))
LEAVES = _typed(st.sampled_from(["Leaf", "Fast:Leaf"]), LEAF_BODY) | LEAF_BODY
BRANCH_BODY = st.builds(
    lambda left, rest: {"left": left, **rest},
    LEAVES,
    _maybe(right=st.none() | LEAVES, weight=FLOATS, _partial_=st.booleans()),
)
BRANCHES = _typed(st.just("Branch"), BRANCH_BODY) | BRANCH_BODY
POINTS = st.fixed_dictionaries({"x": FLOATS}, optional={"y": st.none() | FLOATS})
VALUES = st.deferred(
    lambda: (
        SCALARS
        | LEAVES
        | _typed(st.just("Branch"), BRANCH_BODY)
        | _typed(st.just("Point"), POINTS)
        | st.lists(VALUES, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b"]), VALUES, max_size=2)
    )
)
SIGNED: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "Leaf": LEAF_BODY,
    "Branch": BRANCH_BODY,
    "Point": POINTS,
    "forest": st.one_of(
        st.builds(
            lambda trees, rest: {"trees": trees, **rest},
            st.lists(BRANCHES, max_size=3) | st.tuples(BRANCHES),
            _maybe(names=st.none() | st.dictionaries(st.sampled_from(["a", "b"]), INTS)),
        ),
        st.builds(
            lambda trees, extra: {"_args_": [trees, None, *extra]},
            st.lists(BRANCHES, max_size=2),
            st.lists(INTS | LEAVES, max_size=2),
        ),
    ),
    "anything": st.builds(
        lambda args, rest: {**args, **rest},
        _maybe(_args_=st.lists(VALUES, max_size=1)),
        st.dictionaries(st.sampled_from(["k", "extra-key", "class"]), VALUES, max_size=2),
    ),
    "untyped": _maybe(x=VALUES, y=VALUES, _partial_=st.booleans()),
    "scalars": _maybe(
        flag=st.booleans() | st.sampled_from([1, "yes"]),
        name=TEXT,
        count=INTS | TEXT,
        ratio=st.none() | FLOATS,
        raw=st.binary(max_size=2) | TEXT,
        positive=INTS,
        sizes=st.lists(INTS, max_size=2),
    ),
    "pair": _maybe(first=VALUES, second=VALUES),
    "place": _maybe(point=POINTS | _typed(st.just("Point"), POINTS), at=st.none() | POINTS),
}
ROOT_CONFIGS = st.sampled_from(ROOTS).flatmap(
    lambda root: st.tuples(st.just(root), SIGNED[root] | st.dictionaries(KEYS, CONFIGS, max_size=4))
)


def _canonical(value: Any, depth: int = 0) -> Any:
    """A comparable picture of a built value: types, order and float bits included."""
    assert depth < 50
    if isinstance(value, float):
        return ("float", repr(value))
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return (type(value).__name__, value)
    if isinstance(value, functools.partial):
        return ("partial", value.func, _canonical(value.args), _canonical(value.keywords))
    if isinstance(value, dict):
        return ("dict", tuple((_canonical(k), _canonical(v, depth + 1)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_canonical(v, depth + 1) for v in value))
    if isinstance(value, (set, frozenset)):
        return (type(value).__name__, frozenset(_canonical(v, depth + 1) for v in value))
    if hasattr(value, "__dict__"):
        return (type(value), _canonical(vars(value), depth + 1))
    return (type(value), repr(value))


def _outcome(action: Any) -> Any:
    """The canonical result of ``action()`` and of ``to_config`` on it, or the error."""
    try:
        built = action()
    except ValidationError as error:
        return ("error", type(error), error.message)
    if built is MISMATCH:
        return MISMATCH
    try:
        config = Fast.to_config(built)
    except ValidationError as error:
        config = ("error", error.message)
    return (_canonical(built), _canonical(config))


def _general(root: str, config: dict[str, Any]) -> Any:
    """The general path alone: compile the whole config, then build it."""
    node, _ = factorize._compile_root(lookup.lookup_for(Fast), root, config)
    return node.build()


def _with_new_scalars(value: Any, draw: Any) -> Any:
    """``value`` with every scalar replaced, keeping keys, ``_type`` and ``_partial_``."""
    if value.__class__ is dict:
        return {
            key: item if key in ("_type", "_partial_") else _with_new_scalars(item, draw)
            for key, item in value.items()
        }
    if value.__class__ in (list, tuple):
        return value.__class__(_with_new_scalars(item, draw) for item in value)
    alike = {
        bool: st.booleans(),
        int: st.integers(-(2**70), 2**70),
        float: st.floats(allow_nan=True),
        str: st.text(max_size=4) | st.sampled_from(["1", "2.5", "true"]),
        bytes: st.binary(max_size=3),
    }.get(value.__class__, st.none())
    return draw(alike | alike | SCALARS)  # mostly a value of the same type


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=ROOT_CONFIGS, data=st.data())
def test_generated_builders_build_what_the_general_path_builds(
    case: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    root, config = case
    first = _outcome(lambda: _general(root, config))
    assume(first[0] != "error")
    found = lookup.lookup_for(Fast)
    found.builders.clear()
    found.shapes_seen.clear()
    assert _outcome(lambda: Fast.factorize_artifact(root, **config)) == first
    assert _outcome(lambda: Fast.factorize_artifact(root, **config)) == first
    builders = found.builders.get(root, ())
    assert len(builders) == 1, "the second compile of a shape generates its builder"
    (fast,) = builders
    assert _outcome(lambda: fast(config)) == first
    # another config of the same shape: other scalars (often invalid ones)
    other = _with_new_scalars(config, data.draw)
    expected = _outcome(lambda: _general(root, other))
    got = _outcome(lambda: fast(other))
    if expected[0] == "error":  # refused by the checks (the general path reports it) or, if
        assert got is MISMATCH or got == expected  # the artifact raised, the same error
        event("other values: refused" if got is MISMATCH else "other values: same error")
    else:
        assert got == expected
        assert _outcome(lambda: Fast.factorize_artifact(root, **other)) == expected
        event(f"other values: built ({root})")


@settings(max_examples=300, deadline=None)
@given(
    annotation=st.sampled_from(
        [
            int,
            float,
            str,
            bool,
            bytes,
            None,
            Any,
            Optional[int],  # noqa: UP045
            Optional[float],  # noqa: UP045
            Union[int, str],  # noqa: UP007
            Union[float, int, None],  # noqa: UP007
            int | bool,
            str | None,
        ]
    ),
    value=SCALARS,
)
def test_direct_checks_accept_only_what_pydantic_returns_unchanged(
    annotation: Any, value: Any
) -> None:
    classes = direct_types(annotation)
    assert classes is not None
    if value.__class__ not in classes:
        return
    validated = pydantic.TypeAdapter(annotation).validate_python(value)
    assert _canonical(validated) == _canonical(value)


def test_constrained_and_container_annotations_are_left_to_pydantic() -> None:
    for annotation in (
        Annotated[int, pydantic.Field(ge=0)],
        list[int],
        dict[str, int],
        Leaf,
        Optional[Leaf],  # noqa: UP045
        Union[int, Any],  # noqa: UP007
        pydantic.PositiveInt,
    ):
        assert direct_types(annotation) is None, annotation
    assert direct_types(Any) is EVERY_TYPE


def _fields_of_model(artifact: Any) -> tuple[dict[str, Any], frozenset[str], bool]:
    model = schemes.extract_model(artifact.__name__, artifact)
    infos = model.model_fields
    return (
        {name: info.rebuild_annotation() for name, info in infos.items()},
        frozenset(name for name, info in infos.items() if info.is_required()),
        model.model_config.get("extra") == "allow",
    )


@pytest.mark.parametrize("artifact", [Leaf, Branch, Point, forest, anything, untyped, pair])
def test_plans_read_from_signatures_match_the_scheme(artifact: Any) -> None:
    def never() -> type[pydantic.BaseModel]:
        raise AssertionError("the scheme was built although the signature is enough")

    plan = plans.compile_plan(artifact.__name__, artifact, never)
    annotations, required, extra = _fields_of_model(artifact)
    assert plan.annotations == annotations
    assert plan.required == required
    assert plan.accepts_extra == extra


@pytest.mark.parametrize("artifact", [place, scalars])
def test_signatures_pydantic_reshapes_use_the_scheme(artifact: Any) -> None:
    built: list[str] = []

    def scheme() -> type[pydantic.BaseModel]:
        built.append(artifact.__name__)
        return schemes.extract_model(artifact.__name__, artifact)

    plan = plans.compile_plan(artifact.__name__, artifact, scheme)
    assert built == [artifact.__name__]
    assert (plan.annotations, plan.required, plan.accepts_extra) == _fields_of_model(artifact)


def test_names_pydantic_reserves_go_through_the_scheme() -> None:
    def hidden(_private: int = 1) -> int:
        return _private

    def shadowing(copy: int = 1) -> int:
        return copy

    class Names(SchemeRegistry):
        pass

    Names.register_artifact(hidden)
    Names.register_artifact(shadowing)
    # the scheme holds such parameters under an alias; the plan is read from it
    assert Names.factorize_artifact("hidden", _private="2") == 2
    assert Names.factorize_artifact("shadowing", copy="3") == 3
    assert set(Names._schemes) == {"hidden", "shadowing"}


def test_a_first_build_of_plain_signatures_builds_no_scheme() -> None:
    class Cold(SchemeRegistry):
        pass

    for artifact in (Leaf, Branch):
        Cold.register_artifact(artifact)
    built = Cold.factorize_artifact("Branch", left={"v": "3"}, right={"_type": "Leaf", "v": 4})
    assert (built.left.v, built.right.v) == (3, 4)
    assert Cold._schemes == {}


def test_configs_with_yaml_aliases_build_the_same_through_a_builder() -> None:
    """Aliases make one mapping object stand at many places of a config; a builder reads it at
    each of them, as the general path does, and no cache key serialises the config."""
    text = "\n".join(
        [
            "base: &base {_type: Leaf, v: 1}",
            "row: &row [*base, *base, *base, *base]",
            "grid: &grid [*row, *row, *row, *row]",
            "value: [*grid, *grid, *grid, *grid]",
        ]
    )
    config = yaml.safe_load(text)
    lookup.lookup_for(Fast).builders.clear()
    first = Fast.factorize_artifact("pair", first=config["value"])
    second = Fast.factorize_artifact("pair", first=config["value"])
    (fast,) = lookup.lookup_for(Fast).builders["pair"]
    built = fast({"first": config["value"]})
    assert _canonical(built) == _canonical(first) == _canonical(second)
    assert math.prod(len(x) for x in (config["value"], config["grid"], config["row"])) == 64


def test_plain_classes_are_the_ones_pydantic_checks_with_isinstance() -> None:
    """``is_plain_class`` answers for pydantic without building a schema; where it says yes,
    pydantic's own schema must be an isinstance check (it may say no to some that are)."""
    import pathlib

    class Text(str):
        pass

    class Table(dict):  # type: ignore[type-arg]
        pass

    class Generic(typing.Generic[typing.TypeVar("T")]):
        pass

    class Base(abc.ABC):  # abstract base without abstract methods
        pass

    class Meta(type):
        pass

    class WithMeta(metaclass=Meta):
        pass

    class Hooked:
        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
            return handler(int)

    class HookedChild(Hooked):  # the hook is inherited
        pass

    class PointChild(Point):  # a subclass of a dataclass is one too, for pydantic
        pass

    @typing.runtime_checkable
    class Sized(typing.Protocol):
        def size(self) -> int: ...

    class SizedImpl(Sized):  # a class implementing a protocol is a plain class
        def size(self) -> int:
            return 1

    class PairChild(Pair):
        pass

    class Validated(Base):
        @classmethod
        def __get_validators__(cls) -> Any:
            yield int

    plain = [Leaf, Branch, Text, Table, Generic, Base, WithMeta, SizedImpl]
    other = [Point, Colour, Model, Pair, Hooked, pathlib.Path, int, dict]
    other += [HookedChild, PointChild, Sized, PairChild, Validated]
    config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    for klass in plain:
        assert is_plain_class(klass), klass
        schema = pydantic.TypeAdapter(klass, config=config).core_schema
        assert schema["type"] == "is-instance", klass
    for klass in other:
        assert not is_plain_class(klass), klass


def test_plain_classes_are_told_apart_alike_with_and_without_a_metaclass() -> None:
    """For classes made by ``type`` or ``ABCMeta``, ``is_plain_class`` reads the classes'
    namespaces instead of looking attributes up: the metaclasses must lend none of the
    attributes it looks for, and both ways must answer alike."""
    names = [*hints._OWN_VALIDATION, "_is_protocol"]
    for metaclass in hints._ORDINARY_METACLASSES:
        assert not any(hasattr(metaclass, name) for name in names), metaclass
    classes = [Leaf, Branch, Point, Pair, abc.ABC, typing.Generic]
    for holder in (object, abc.ABC):
        for name in names:
            for value in (True, False, None):
                classes.append(type(holder)(f"Has{name}", (holder,), {name: value}))
                classes.append(type(holder)("Child", (classes[-1],), {}))
    assert len(classes) > 40
    for klass in classes:
        assert type(klass) in hints._ORDINARY_METACLASSES
        assert is_plain_class(klass) == hints._is_plain_class_of_metaclass(klass), klass


def test_only_shapes_of_moderate_size_get_a_builder() -> None:
    found = lookup.lookup_for(Fast)
    found.builders.clear()
    leaves = [{"_type": "Leaf", "v": index} for index in range(1001)]
    for _ in range(3):  # its code would grow with the config; compiling it would not pay
        assert len(Fast.factorize_artifact("pair", first=leaves)[0]) == 1001
    assert "pair" not in found.builders
    for _ in range(2):
        Fast.factorize_artifact("pair", first=leaves[:10])
    assert len(found.builders["pair"]) == 1


def _signature_cases() -> list[Any]:
    """Classes whose signatures ``inspect`` reads in different ways."""

    class Plain:
        def __init__(self, a: int, b: str = "x", *args: int, c: float = 1.0, **kw: Any) -> None:
            pass

    class Inherited(Plain):
        pass

    class Overrides(Plain):
        def __init__(self, z: bytes) -> None:
            pass

    class PositionalOnly:
        def __init__(self, a: int, /, b: int) -> None:
            pass

    class StarOnly:
        def __init__(*args: Any) -> None:
            pass

    class NoInit:
        pass

    class WithNew:
        def __new__(cls, q: int) -> WithNew:
            return super().__new__(cls)

    class NewAndInit:
        def __new__(cls, *args: Any, **kwargs: Any) -> NewAndInit:
            return super().__new__(cls)

        def __init__(self, r: int) -> None:
            pass

    class Meta(type):
        def __call__(cls, m: int) -> Any:
            return super().__call__()

    class CalledByMeta(metaclass=Meta):
        def __init__(self) -> None:
            pass

    class Signed:
        __signature__ = inspect.Signature([inspect.Parameter("s", inspect.Parameter.KEYWORD_ONLY)])

        def __init__(self, **kwargs: Any) -> None:
            pass

    def decorate(init: Any) -> Any:
        @functools.wraps(init)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)

        return wrapper

    class Wrapped:
        @decorate
        def __init__(self, w: int) -> None:
            pass

    class Abstract(abc.ABC):
        def __init__(self, x: int) -> None:
            pass

    class Generic(typing.Generic[typing.TypeVar("T")]):
        def __init__(self, g: int) -> None:
            pass

    class Error(ValueError):
        def __init__(self, e: str) -> None:
            pass

    return [
        Plain,
        Inherited,
        Overrides,
        PositionalOnly,
        StarOnly,
        NoInit,
        WithNew,
        NewAndInit,
        CalledByMeta,
        Signed,
        Wrapped,
        Abstract,
        Generic,
        Error,
        Colour,
        Model,
        Pair,
        Point,
        Leaf,
        Branch,
        dict,
        pair,
        functools.partial(pair, 1),
    ]


def test_parameters_read_from_code_are_the_ones_inspect_reads() -> None:
    def plain(a, /, b, c=1, *args, d, e=2, **kwargs):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN002, ANN003, ANN202
        pass

    def annotated(a: int, b: str = "", *, c: Leaf | None = None) -> Leaf:
        return Leaf(1)

    def keyword_only(*, k: int) -> None:
        pass

    def nothing() -> None:
        pass

    def signed(a: int) -> None:
        pass

    signed.__signature__ = inspect.Signature()  # type: ignore[attr-defined]
    functions = [plain, annotated, keyword_only, nothing, signed, functools.wraps(annotated)(pair)]
    for artifact in [*_signature_cases(), *functions]:
        try:
            expected: Any = [
                (p.name, p.kind, p.default, p.annotation)
                for p in inspect.signature(artifact).parameters.values()
            ]
        except (TypeError, ValueError) as error:
            expected = type(error)
        try:
            got: Any = [
                (p.name, p.kind, p.default, p.annotation) for p in plans.parameters_of(artifact)
            ]
        except (TypeError, ValueError) as error:
            got = type(error)
        assert got == expected, artifact


def test_hints_resolved_without_typing_are_the_ones_typing_resolves() -> None:
    """This module's annotations are strings (``from __future__ import annotations``)."""

    class Local:
        def __init__(self, other: Local | None = None, leaf: Leaf | None = None) -> None:
            pass

    def simple(a: int, b: list[Leaf], c: dict[str, Branch], d: Any, e: type[Leaf]) -> None:
        pass

    def unions(a: int | None, b: Optional[int], c: Union[int, str]) -> Leaf:  # noqa: UP007, UP045
        return Leaf(1)

    def special(a: Annotated[int, pydantic.Field(ge=0)], b: tuple[int, ...]) -> typing.Any:
        pass

    def unknown(a: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    def unannotated(a, b=1):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        pass

    cases = [(simple, None), (unions, None), (Local.__init__, Local), (Leaf.__init__, Leaf)]
    cases.append((unannotated, None))
    for func, owner in [*cases, (special, None), (unknown, None)]:
        local = {owner.__name__: owner} if owner is not None else {}
        fast = schemes._simple_hints(func, local)
        if (func, owner) in cases and sys.version_info >= (3, 11):  # 3.10 is left to typing
            assert fast is not None, func
        if fast is not None:
            expected = typing.get_type_hints(func, localns=local or None, include_extras=True)
            assert fast == expected, func
            assert schemes._resolved_hints(func, owner) == expected


def test_type_names_match_by_value_whether_interned_or_not() -> None:
    """Builders compare ``_type`` by identity first (names written in code are interned); a
    name read from YAML is another object of equal value, and a ``str`` subclass at the root
    is left to the general path."""

    class Name(str):
        pass

    lookup.lookup_for(Fast).builders.clear()
    configs = [
        {"_type": "Branch", "left": {"_type": "Leaf", "v": 1}, "right": {"v": 2}},
        yaml.safe_load("{_type: Branch, left: {_type: Leaf, v: 1}, right: {v: 2}}"),
        {"_type": Name("Branch"), "left": {"_type": "Leaf", "v": 1}, "right": {"v": 2}},
    ]
    for config in [*configs, *configs, *configs]:
        built = Fast.factorize_artifact("Branch", **config)
        assert (built.left.v, built.right.v) == (1, 2)
        assert Fast.to_config(built)["left"] == {"_type": "Leaf", "v": 1}
    assert lookup.lookup_for(Fast).builders["Branch"]


def test_hints_of_plain_classes_are_the_ones_typing_introspection_gives() -> None:
    """``hint_for`` describes a plain class without typing's introspection; the general
    description must say the same of it."""

    class Abstract(abc.ABC):
        @abc.abstractmethod
        def run(self) -> None: ...

    class Text(str):
        pass

    class Table(dict):  # type: ignore[type-arg]
        pass

    for annotation in (Leaf, Branch, Abstract, Text, Table, Point, Model):
        shortcut = hints._make_hint(annotation)
        general = hints.Hint(annotation)
        general.item = general.value = hints.ANY_HINT
        hints._describe_single(general, annotation)
        for name in ("build_class", "sequence_kind", "is_mapping", "item", "value", "direct"):
            assert getattr(shortcut, name) == getattr(general, name), (annotation, name)
