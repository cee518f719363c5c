"""Factorization: building validated object graphs from nested configs, and back."""

from __future__ import annotations

import functools
import gc
import weakref
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
from pydantic import BaseModel

import registry
from registry import (
    FunctionalRegistry,
    RegistryError,
    SchemeRegistry,
    TypeRegistry,
    ValidationError,
    find_registry,
    schemes,
)

CALLS: list[str] = []


class Encoder:  # noqa: PLW1641 - compared, never hashed
    def __init__(self, hidden_dim: int, num_layers: int = 3) -> None:
        CALLS.append("Encoder")
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)


class Head:  # noqa: PLW1641 - compared, never hashed
    def __init__(self, encoder: Encoder, classes: int = 10) -> None:
        CALLS.append("Head")
        self.encoder = encoder
        self.classes = classes

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)


def make_sgd(learning_rate: float, momentum: float = 0.9) -> dict[str, float]:
    CALLS.append("make_sgd")
    return {"lr": learning_rate, "momentum": momentum}


def make_run(model: Head | Encoder, optimizer: dict, epochs: int = 1) -> dict[str, Any]:
    CALLS.append("make_run")
    return {"model": model, "optimizer": optimizer, "epochs": epochs}


def maybe_encoder(encoder: Optional[Encoder] = None) -> Optional[Encoder]:  # noqa: UP045
    return encoder


def untyped_factory(x):  # no annotations: the result is checked after the call
    return x


def expects_int(value: int) -> int:
    return value


@dataclass
class Leaf:
    v: int


@dataclass
class Mid:
    leaf: Leaf


@dataclass
class Outer:
    children: list[Mid]
    tags: dict[str, Mid] = field(default_factory=dict)


def sum_all(first: int, /, *rest: int, scale: int = 1) -> int:
    return (first + sum(rest)) * scale


def explode(value: int) -> int:
    raise ZeroDivisionError("boom")


def numbers(values: list[int]) -> list[int]:
    return values


class Exp(SchemeRegistry):
    """The registry most tests build from."""


for _artifact in (
    Encoder,
    Head,
    make_sgd,
    make_run,
    maybe_encoder,
    untyped_factory,
    expects_int,
    Leaf,
    Mid,
    Outer,
    sum_all,
    explode,
    numbers,
):
    Exp.register_artifact(_artifact)


class FactorizeOptimizers(FunctionalRegistry):
    """A second registry, referenced as ``FactorizeOptimizers:name``."""


@FactorizeOptimizers.register_artifact
def adam(learning_rate: float = 1e-3) -> dict[str, float]:
    return {"adam_lr": learning_rate}


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


# --------------------------------------------------------------------------- building


def test_issue_example_coerces_and_builds_depth_first() -> None:
    run = Exp.factorize_artifact(
        "make_run",
        model={"_type": "Encoder", "hidden_dim": "256"},
        optimizer={"_type": "make_sgd", "learning_rate": 0.01},
        epochs=5,
    )
    assert CALLS == ["Encoder", "make_sgd", "make_run"]
    assert run["model"] == Encoder(hidden_dim=256)
    assert run["optimizer"] == {"lr": 0.01, "momentum": 0.9}
    assert run["epochs"] == 5


def test_nested_three_levels_and_lists() -> None:
    outer = Exp.factorize_artifact(
        "Outer",
        children=[{"_type": "Mid", "leaf": {"_type": "Leaf", "v": "1"}}, {"leaf": {"v": 2}}],
        tags={"a": {"_type": "Mid", "leaf": {"v": 3}}},
    )
    assert outer == Outer(children=[Mid(Leaf(1)), Mid(Leaf(2))], tags={"a": Mid(Leaf(3))})


def test_class_typed_parameter_built_from_plain_mapping() -> None:
    head = Exp.factorize_artifact("Head", encoder={"hidden_dim": "8"})
    assert head.encoder == Encoder(hidden_dim=8)


def test_optional_parameter_accepts_mapping_none_and_instances() -> None:
    assert Exp.factorize_artifact("maybe_encoder", encoder={"hidden_dim": 4}) == Encoder(4)
    assert Exp.factorize_artifact("maybe_encoder", encoder=None) is None
    existing = Encoder(hidden_dim=2)
    CALLS.clear()
    assert Exp.factorize_artifact("maybe_encoder", encoder=existing) is existing
    assert CALLS == []


def test_union_of_classes_needs_type_for_plain_mapping() -> None:
    # make_run(model: Head | Encoder): a plain mapping is ambiguous, so it is not built
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact("make_run", model={"hidden_dim": 3}, optimizer={})
    assert caught.value.context["path"] == "model"
    run = Exp.factorize_artifact(
        "make_run", model={"_type": "Head", "encoder": {"hidden_dim": 3}}, optimizer={}
    )
    assert run["model"] == Head(Encoder(3))


def test_other_registry_by_class_name() -> None:
    run = Exp.factorize_artifact(
        "make_run",
        model={"_type": "Encoder", "hidden_dim": 1},
        optimizer={"_type": "FactorizeOptimizers:adam", "learning_rate": "0.5"},
    )
    assert run["optimizer"] == {"adam_lr": 0.5}
    assert find_registry("FactorizeOptimizers") is FactorizeOptimizers


def test_persistent_namespace_reference(sqlite_url: str) -> None:
    class Shared(SchemeRegistry, logic_namespace="lab.factorize_tests", url=sqlite_url):
        pass

    Shared.register_artifact("double", expects_int)
    assert (
        Exp.factorize_artifact(
            "expects_int", value={"_type": "lab.factorize_tests:double", "value": 4}
        )
        == 4
    )


def test_type_and_functional_registries_factorize_too() -> None:
    class FactorizeModels(TypeRegistry[object]):
        pass

    class FactorizeSteps(FunctionalRegistry):
        pass

    FactorizeModels.register_artifact(Encoder)
    FactorizeModels.register_artifact(Head)
    FactorizeSteps.register_artifact(make_sgd)
    assert FactorizeModels.factorize_artifact(
        "Head", encoder={"_type": "Encoder", "hidden_dim": 5}
    ) == Head(Encoder(5))
    assert FactorizeSteps.factorize_artifact("make_sgd", learning_rate="0.1") == {
        "lr": 0.1,
        "momentum": 0.9,
    }


# --------------------------------------------------------------------------- directives


def test_partial_returns_functools_partial_with_validated_values() -> None:
    made = Exp.factorize_artifact("Encoder", _partial_=True, hidden_dim="7")
    assert isinstance(made, functools.partial)
    assert CALLS == []
    assert made(num_layers=1) == Encoder(hidden_dim=7, num_layers=1)


def test_partial_as_nested_value_is_checked_against_annotation() -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact("Head", encoder={"_type": "Encoder", "_partial_": True})
    assert caught.value.context["path"] == "encoder"
    with pytest.raises(ValidationError):
        Exp.factorize_artifact("Encoder", _partial_="yes", hidden_dim=1)


def test_args_fill_positional_parameters_and_var_args() -> None:
    assert Exp.factorize_artifact("sum_all", _args_=[1, "2", 3], scale=2) == 12
    assert Exp.factorize_artifact("Encoder", _args_=["5"]) == Encoder(5)
    with pytest.raises(ValidationError, match="twice"):
        Exp.factorize_artifact("Encoder", _args_=[5], hidden_dim=5)
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact("sum_all", _args_=[1, "x"])
    assert caught.value.context["path"] == "_args_.1"
    with pytest.raises(ValidationError, match="positional"):
        Exp.factorize_artifact("Encoder", _args_=[1, 2, 3])


def test_positional_only_parameter_passed_by_name_in_config() -> None:
    assert Exp.factorize_artifact("sum_all", first=4) == 4


@pytest.mark.parametrize("directive", ["_lazy_", "_target_", "_recursive_", "_convert_"])
def test_unsupported_hydra_directives_are_refused(directive: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact("Encoder", hidden_dim=1, **{directive: True})
    assert caught.value.context["path"] == directive
    assert caught.value.suggestions


# --------------------------------------------------------------------------- errors


def test_error_carries_type_and_full_dotted_path() -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact(
            "make_run",
            model={"_type": "Head", "encoder": {"_type": "Encoder", "hidden_dim": "wide"}},
            optimizer={},
        )
    error = caught.value
    assert error.context["path"] == "model.encoder.hidden_dim"
    assert error.context["type"] == "Exp:Encoder"
    assert "model.encoder.hidden_dim" in error.message
    assert CALLS == []


def test_error_path_has_list_indices() -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact(
            "Outer",
            children=[{"leaf": {"v": 1}}, {"_type": "Mid", "leaf": {"_type": "Leaf", "v": "x"}}],
        )
    assert caught.value.context["path"] == "children.1.leaf.v"
    assert caught.value.context["type"] == "Exp:Leaf"


def test_misspelt_type_suggests_names() -> None:
    with pytest.raises(RegistryError) as caught:
        Exp.factorize_artifact("Head", encoder={"_type": "Encodr", "hidden_dim": 1})
    assert "Did you mean 'Encoder' or 'maybe_encoder'?" in caught.value.suggestions
    assert caught.value.context["path"] == "encoder._type"
    assert caught.value.context["type"] == "Encodr"


def test_misspelt_parameter_suggests_names() -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact("Encoder", hiden_dim=1)
    assert "Did you mean 'hidden_dim'?" in caught.value.suggestions
    assert caught.value.context["path"] == "hiden_dim"


def test_missing_required_value_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact("Head", encoder={"_type": "Encoder"})
    assert caught.value.context["path"] == "encoder.hidden_dim"


def test_nested_artifact_of_wrong_type_is_refused_before_anything_runs() -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact("Head", encoder={"_type": "make_sgd", "learning_rate": 1})
    assert caught.value.context["path"] == "encoder"
    assert CALLS == []


def test_bad_leaf_leaves_no_side_effects() -> None:
    with pytest.raises(ValidationError):
        Exp.factorize_artifact(
            "make_run",
            model={"_type": "Head", "encoder": {"_type": "Encoder", "hidden_dim": 1}},
            optimizer={"_type": "make_sgd", "learning_rate": "fast"},
        )
    assert CALLS == []


def test_unannotated_function_result_is_checked_after_the_call() -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact("expects_int", value={"_type": "untyped_factory", "x": "text"})
    assert caught.value.context["path"] == "value"
    assert Exp.factorize_artifact("expects_int", value={"_type": "untyped_factory", "x": 3}) == 3


def test_artifact_failure_is_wrapped_with_cause() -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact("expects_int", value={"_type": "explode", "value": 1})
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert caught.value.context["path"] == "value"


@pytest.mark.parametrize(
    "bad",
    [
        {"_type": "os.system", "command": "echo pwned"},
        {"_type": "os:system", "command": "echo pwned"},
        {"_type": "builtins:eval", "source": "1"},
        {"_type": "subprocess.Popen", "args": ["true"]},
        {"_type": ["Encoder"]},
        {"_type": None},
    ],
)
def test_type_never_imports_by_path(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.factorize_artifact("maybe_encoder", encoder=bad)
    assert caught.value.context["path"] == "encoder._type"


def test_root_type_must_match_the_identifier() -> None:
    assert Exp.factorize_artifact("Encoder", _type="Encoder", hidden_dim=1) == Encoder(1)
    qualified = registry.to_config(Exp.factorize_artifact("Encoder", hidden_dim=2))
    assert qualified["_type"] == "Exp:Encoder"
    assert Exp.factorize_artifact("Encoder", **qualified) == Encoder(2)
    with pytest.raises(ValidationError):
        Exp.factorize_artifact("Encoder", _type="Head", hidden_dim=1)


def test_unknown_root_identifier() -> None:
    with pytest.raises(RegistryError, match="Encoder"):
        Exp.factorize_artifact("Encodr", hidden_dim=1)


# --------------------------------------------------------------------------- caches


def test_reregistered_identifier_uses_the_new_artifact() -> None:
    class Local(SchemeRegistry):
        pass

    def first(v: int) -> str:
        return f"first {v}"

    def second(v: int) -> str:
        return f"second {v}"

    Local.register_artifact("thing", first)
    # built three times: the second build of the shape generates a builder, the third runs it
    assert [Local.factorize_artifact("thing", v=n) for n in range(3)] == [
        "first 0",
        "first 1",
        "first 2",
    ]
    Local.unregister_identifier("thing")
    with pytest.raises(RegistryError):
        Local.factorize_artifact("thing", v=1)
    Local.register_artifact("thing", second)
    assert [Local.factorize_artifact("thing", v=n) for n in range(3)] == [
        "second 0",
        "second 1",
        "second 2",
    ]


def test_repeated_builds_do_not_share_mutable_values() -> None:
    first = Exp.factorize_artifact("numbers", values=["1", 2])
    second = Exp.factorize_artifact("numbers", values=["1", 2])
    assert first == second == [1, 2]
    first.append(3)
    assert second == [1, 2]


def test_repeated_builds_are_distinct_objects() -> None:
    config = {"children": [{"leaf": {"v": 1}}]}
    one = Exp.factorize_artifact("Outer", **config)
    two = Exp.factorize_artifact("Outer", **config)
    assert one == two
    assert one is not two
    assert one.children[0] is not two.children[0]


# --------------------------------------------------------------------------- to_config


def test_to_config_round_trip() -> None:
    run = Exp.factorize_artifact(
        "make_run",
        model={"_type": "Head", "encoder": {"_type": "Encoder", "hidden_dim": "16"}},
        optimizer={"_type": "FactorizeOptimizers:adam"},
        epochs=2,
    )
    head = run["model"]
    config = Exp.to_config(head)
    assert config == {"_type": "Head", "encoder": {"_type": "Encoder", "hidden_dim": 16}}
    assert Exp.factorize_artifact("Head", **config) == head
    qualified = registry.to_config(head)
    assert qualified["_type"] == "Exp:Head"


def test_to_config_keeps_partial_args_and_annotated_nodes() -> None:
    partial = Exp.factorize_artifact("Encoder", _partial_=True, hidden_dim=3)
    assert Exp.to_config(partial) == {"_type": "Encoder", "hidden_dim": 3, "_partial_": True}
    head = Exp.factorize_artifact("Head", encoder={"hidden_dim": 2})
    # Encoder was built from Head's annotation, so its config needs no _type either
    assert Exp.to_config(head) == {"_type": "Head", "encoder": {"hidden_dim": 2}}
    # dataclass parameters are built by pydantic itself; their classes are registered here
    outer = Exp.factorize_artifact("Outer", children=[{"leaf": {"v": 1}}])
    config = Exp.to_config(outer)
    assert config["children"] == [{"_type": "Mid", "leaf": {"_type": "Leaf", "v": 1}}]
    assert (
        Exp.factorize_artifact("Outer", **{k: v for k, v in config.items() if k != "_type"})
        == outer
    )


def test_to_config_of_registered_instance_reads_attributes() -> None:
    head = Head(Encoder(hidden_dim=4), classes=3)
    assert Exp.to_config(head) == {
        "_type": "Head",
        "encoder": {"_type": "Encoder", "hidden_dim": 4, "num_layers": 3},
        "classes": 3,
    }


def test_to_config_refuses_what_it_cannot_express() -> None:
    with pytest.raises(ValidationError) as caught:
        Exp.to_config({"x": [object()]})
    assert caught.value.context["path"] == "x.0"


# --------------------------------------------------------------------------- schemes


def test_scheme_for_class_typed_and_string_annotations() -> None:
    model = Exp.get_model("Head")
    assert model.model_fields["encoder"].annotation is Encoder
    assert Exp.get_model("maybe_encoder").model_fields["encoder"].annotation == Optional[Encoder]  # noqa: UP045


def test_local_class_annotation_naming_itself_resolves() -> None:
    class Node:
        def __init__(self, value: int, child: Node | None = None) -> None:
            self.value = value
            self.child = child

    model = schemes.extract_model("Node", Node)
    assert model.model_fields["child"].annotation == Optional[Node]  # noqa: UP045

    class Trees(SchemeRegistry):
        pass

    Trees.register_artifact(Node)
    tree = Trees.factorize_artifact("Node", value="1", child={"value": 2, "child": {"value": 3}})
    assert (tree.value, tree.child.value, tree.child.child.value) == (1, 2, 3)


# --------------------------------------------------------------------------- other artifact kinds


class TrainConfig(BaseModel):
    lr: float
    steps: int = 3


@dataclass
class Trainer:  # module level: string annotations of function-local classes cannot be resolved
    name: str
    config: TrainConfig


def test_pydantic_model_artifact_is_validated_before_building() -> None:
    class Kinds(SchemeRegistry):
        pass

    Kinds.register_artifact(TrainConfig)
    Kinds.register_artifact(Trainer)
    assert Kinds.get_model("TrainConfig").model_fields["lr"].annotation is float
    with pytest.raises(ValidationError) as caught:
        Kinds.factorize_artifact("Trainer", name="t", config={"_type": "TrainConfig", "lr": "x"})
    assert caught.value.context["path"] == "config.lr"
    trainer = Kinds.factorize_artifact(
        "Trainer", name="t", config={"_type": "TrainConfig", "lr": "1"}
    )
    assert trainer == Trainer(name="t", config=TrainConfig(lr=1.0))
    assert Kinds.factorize_artifact("Trainer", name="t", config={"lr": 2}).config.lr == 2.0


def test_var_positional_and_var_keyword_artifacts() -> None:
    class Stack:
        def __init__(self, *layers: int, **options: Any) -> None:
            self.layers = layers
            self.options = options

    class Stacks(SchemeRegistry):
        pass

    Stacks.register_artifact(Stack)
    stack = Stacks.factorize_artifact("Stack", _args_=["1", 2], name="x")
    assert (stack.layers, stack.options) == ((1, 2), {"name": "x"})
    assert Stacks.to_config(stack) == {"_type": "Stack", "_args_": [1, 2], "name": "x"}
    with pytest.raises(ValidationError) as caught:
        Stacks.factorize_artifact("Stack", _args_=[1, "a"])
    assert caught.value.context["path"] == "_args_.1"


def test_concurrent_builds() -> None:
    import threading

    failures: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for index in range(200):
                value = offset * 1000 + index
                head = Exp.factorize_artifact(
                    "Head", encoder={"_type": "Encoder", "hidden_dim": value}
                )
                assert head.encoder.hidden_dim == value
                assert Exp.to_config(head)["encoder"]["hidden_dim"] == value
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_shape_compiled_twice_gets_a_builder_for_any_values() -> None:
    from registry.factorize import lookup
    from registry.factorize.shapes import MISMATCH

    found = lookup.lookup_for(Exp)
    found.builders.clear()
    found.shapes_seen.clear()
    first = Exp.factorize_artifact("Head", encoder={"_type": "Encoder", "hidden_dim": 3})
    assert "Head" not in found.builders  # a config built once pays for no generated code
    second = Exp.factorize_artifact("Head", encoder={"_type": "Encoder", "hidden_dim": 4})
    (fast,) = found.builders["Head"]
    assert first.encoder.hidden_dim == 3 and second.encoder.hidden_dim == 4
    built = fast({"encoder": {"_type": "Encoder", "hidden_dim": 5}})
    assert built == Head(Encoder(5))
    assert Exp.to_config(built) == {
        "_type": "Head",
        "encoder": {"_type": "Encoder", "hidden_dim": 5},
    }
    # True == 1 in Python, but not to pydantic's lax int: the builder validates it as pydantic does
    assert fast({"encoder": {"_type": "Encoder", "hidden_dim": True}}).encoder.hidden_dim == 1
    assert (
        type(fast({"encoder": {"_type": "Encoder", "hidden_dim": "7"}}).encoder.hidden_dim) is int
    )
    # another shape, an invalid value, an object where a mapping was: not this builder's configs
    assert fast({"encoder": {"_type": "Encoder", "hidden_dim": 1, "num_layers": 2}}) is MISMATCH
    assert fast({"encoder": {"_type": "Encoder", "hidden_dim": "wide"}}) is MISMATCH
    assert fast({"encoder": Encoder(1)}) is MISMATCH
    assert fast({"encoder": {"_type": "Head", "hidden_dim": 1}}) is MISMATCH
    # ...which the general path then builds or reports as always
    with pytest.raises(ValidationError, match="hidden_dim"):
        Exp.factorize_artifact("Head", encoder={"_type": "Encoder", "hidden_dim": "wide"})


def test_the_builder_of_the_shape_built_last_is_tried_first() -> None:
    """Several shapes under one root: each build moves its shape's builder to the front, so a
    config built again and again is checked against its own shape first."""
    from registry.factorize import lookup

    found = lookup.lookup_for(Exp)
    found.builders.clear()
    found.shapes_seen.clear()
    narrow = {"encoder": {"_type": "Encoder", "hidden_dim": 3}}
    deep = {"encoder": {"_type": "Encoder", "hidden_dim": 3, "num_layers": 2}}
    for config in (narrow, narrow, deep, deep):  # each shape's second build makes its builder
        Exp.factorize_artifact("Head", **config)
    deep_builder, narrow_builder = found.builders["Head"]  # the newest first
    for _ in range(2):
        assert Exp.factorize_artifact("Head", **narrow) == Head(Encoder(3))
        assert found.builders["Head"] == (narrow_builder, deep_builder)
    assert Exp.factorize_artifact("Head", **deep) == Head(Encoder(3, num_layers=2))
    assert found.builders["Head"] == (deep_builder, narrow_builder)
    # the path of configs read from files and sockets keeps the same order
    assert lookup.factorize_in(Exp, "Head", narrow) == Head(Encoder(3))
    assert found.builders["Head"] == (narrow_builder, deep_builder)


def test_partial_cannot_skip_a_positional_only_parameter() -> None:
    def scaled(base: int, offset: int, /, factor: int = 1) -> int:
        return (base + offset) * factor

    class Partials(SchemeRegistry):
        pass

    Partials.register_artifact(scaled)
    later = Partials.factorize_artifact("scaled", _partial_=True, base="1")
    assert later(2) == 3
    with pytest.raises(ValidationError) as caught:
        Partials.factorize_artifact("scaled", _partial_=True, offset=2)
    assert caught.value.context["path"] == "base"


@dataclass
class Point:  # not registered anywhere: built by pydantic from Segment's annotation
    x: int
    y: int = 0


class Weights(BaseModel):  # not registered either
    scale: float
    bias: float = 0.0


def segment(start: Point, end: Point, weights: Weights | None = None) -> Segment:
    return Segment(start, end, weights)


@dataclass
class Segment:
    start: Point
    end: Point
    weights: Weights | None = None


Exp.register_artifact(segment)


def test_to_config_writes_back_unregistered_dataclasses_and_models() -> None:
    built = Exp.factorize_artifact(
        "segment", start={"x": "1"}, end={"x": 2, "y": 3}, weights={"scale": "0.5"}
    )
    config = Exp.to_config(built)
    assert config == {
        "_type": "segment",
        "start": {"x": 1, "y": 0},
        "end": {"x": 2, "y": 3},
        "weights": {"scale": 0.5},
    }
    assert (
        Exp.factorize_artifact("segment", **{k: v for k, v in config.items() if k != "_type"})
        == built
    )


LIVE_TRACKED: weakref.WeakSet[Tracked] = weakref.WeakSet()


class Tracked:
    def __init__(self, size: int) -> None:
        self.size = size
        LIVE_TRACKED.add(self)


class Summary:
    def __init__(self, part: Tracked) -> None:
        self.size = part.size  # keeps a number, not the part


def test_provenance_keeps_no_built_object_alive() -> None:
    class Summaries(SchemeRegistry):
        pass

    Summaries.register_artifact(Tracked)
    Summaries.register_artifact(Summary)
    summary = Summaries.factorize_artifact("Summary", part={"_type": "Tracked", "size": 3})
    gc.collect()
    assert len(LIVE_TRACKED) == 0
    # the config is still known: it comes from the compiled tree, not from the objects
    assert Summaries.to_config(summary) == {
        "_type": "Summary",
        "part": {"_type": "Tracked", "size": 3},
    }


def test_records_of_dead_objects_are_swept() -> None:
    from registry.factorize import records

    for size in range(10_000):
        Exp.factorize_artifact("Encoder", hidden_dim=size)
    assert len(records.TABLE) <= 2 * 4096 + 100
