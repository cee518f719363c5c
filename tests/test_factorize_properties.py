"""Property tests: random nested configs either build or raise registry.ValidationError."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import SchemeRegistry, ValidationError, to_config


class Leaf:
    def __init__(self, v: int, label: str = "") -> None:
        self.v = v
        self.label = label


class Branch:
    def __init__(self, left: Leaf, right: Optional[Leaf] = None, weight: float = 1.0) -> None:  # noqa: UP045
        self.left = left
        self.right = right
        self.weight = weight


def forest(trees: list[Branch], names: dict[str, int] | None = None, *extra: int) -> list[Any]:
    return [trees, names, extra]


def anything(value: Any = None, /, **options: Any) -> dict[str, Any]:
    return {"value": value, **options}


def untyped(x, y=2):  # results are checked against the parameter after the call
    return x


class Props(SchemeRegistry):
    """Registry for property tests."""


for _artifact in (Leaf, Branch, forest, anything, untyped):
    Props.register_artifact(_artifact)

TYPE_NAMES = st.sampled_from(
    [
        "Leaf",
        "Branch",
        "forest",
        "anything",
        "untyped",
        "Leef",
        "os.system",
        "os:system",
        "Props:Leaf",
        "Nope:Leaf",
        "",
        ":",
        "a b",
    ]
)
KEYS = st.sampled_from(
    [
        "v",
        "label",
        "left",
        "right",
        "weight",
        "trees",
        "names",
        "value",
        "x",
        "y",
        "zz",
        "_args_",
        "_partial_",
        "_lazy_",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=5)
    | st.sampled_from(["1", "2.5", "true", "x"])
)


def _with_type(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    plain = st.dictionaries(KEYS | st.integers(0, 3), children, max_size=4)
    typed = st.builds(lambda t, d: {"_type": t, **d}, TYPE_NAMES | SCALARS, plain)
    return typed | plain | st.lists(children, max_size=3) | st.tuples(children)


CONFIGS = st.recursive(SCALARS, _with_type, max_leaves=20)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    root=st.sampled_from(["Leaf", "Branch", "forest", "anything", "untyped"]),
    config=st.dictionaries(KEYS, CONFIGS, max_size=4),
)
def test_random_configs_build_or_raise_validation_error(root: str, config: dict[str, Any]) -> None:
    try:
        built = Props.factorize_artifact(root, **config)
    except ValidationError as error:
        assert error.message
        assert isinstance(error.context, dict)
        return
    try:
        to_config(built)
    except ValidationError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    left=st.integers(-1000, 1000),
    right=st.none() | st.integers(-1000, 1000),
    weight=st.floats(allow_nan=False, allow_infinity=False),
)
def test_built_objects_round_trip_through_to_config(
    left: int, right: int | None, weight: float
) -> None:
    config: dict[str, Any] = {"left": {"v": left}, "weight": weight}
    if right is not None:
        config["right"] = {"_type": "Leaf", "v": str(right)}
    branch = Props.factorize_artifact("Branch", **config)
    again = Props.factorize_artifact(
        "Branch", **{k: v for k, v in Props.to_config(branch).items() if k != "_type"}
    )
    assert vars(again.left) == vars(branch.left)
    assert (again.right is None) == (branch.right is None)
    if branch.right is not None:
        assert vars(again.right) == vars(branch.right)
    assert again.weight == branch.weight


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    root=st.sampled_from(["Leaf", "Branch", "forest", "anything"]),
    config=st.dictionaries(KEYS | st.integers(-2, 2) | st.none(), CONFIGS, max_size=4),
)
def test_random_yaml_files_build_or_raise_validation_error(
    tmp_path: Path, root: str, config: dict[Any, Any]
) -> None:
    path = tmp_path / "config.yaml"
    try:
        path.write_text(yaml.safe_dump(config))
    except yaml.YAMLError:
        return  # not representable in YAML (tuples are fine, as lists)
    try:
        Props.factorize_from_file(root, path)
    except ValidationError:
        pass
