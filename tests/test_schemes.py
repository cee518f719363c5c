"""SchemeRegistry: extracted pydantic models, build_config and execute."""

from __future__ import annotations

import json
from typing import Optional

import pydantic
import pytest

from registry import (
    FunctionalRegistry,
    RegistryError,
    SchemeRegistry,
    TypeRegistry,
    ValidationError,
)


def create_optimizer(learning_rate: float, momentum: float = 0.9):
    """Create an optimizer."""
    return {"lr": learning_rate, "momentum": momentum}


class Encoder:
    def __init__(self, hidden_dim: int, num_layers: int = 3, *args, **kwargs) -> None:
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.extra = kwargs


def make_run(model: Encoder, name, tag: Optional[str] = None, *, epochs: int = 1):  # noqa: UP045
    return (model, name, tag, epochs)


def positional_only(a: int, /, b: int = 2) -> int:
    return a * 10 + b


class Configurations(SchemeRegistry):
    pass


@pytest.fixture(autouse=True)
def _registered():
    Configurations.clear_artifacts()
    for artifact in (create_optimizer, Encoder, make_run, positional_only):
        Configurations.register_artifact(artifact)
    yield
    Configurations.clear_artifacts()


def test_build_config_and_execute_as_documented():
    cfg = Configurations.build_config("create_optimizer", learning_rate=0.01)
    assert type(cfg).__name__ == "create_optimizerConfig"
    assert cfg.momentum == 0.9
    assert Configurations.execute("create_optimizer", cfg) == {"lr": 0.01, "momentum": 0.9}
    assert Configurations.execute("create_optimizer", {"learning_rate": "0.01"}) == {
        "lr": 0.01,
        "momentum": 0.9,
    }
    model = Configurations.get_model("create_optimizer")
    assert issubclass(model, pydantic.BaseModel)
    assert model.__doc__ == "Create an optimizer."


def test_execute_with_keyword_values_and_overrides():
    assert Configurations.execute("create_optimizer", learning_rate=1) == {
        "lr": 1.0,
        "momentum": 0.9,
    }
    cfg = Configurations.build_config("create_optimizer", learning_rate=0.5)
    assert Configurations.execute("create_optimizer", cfg, momentum=0.1) == {
        "lr": 0.5,
        "momentum": 0.1,
    }


def test_class_scheme_drops_self_and_varargs_and_allows_extra_with_kwargs():
    model = Configurations.get_model("Encoder")
    assert list(model.model_fields) == ["hidden_dim", "num_layers"]
    encoder = Configurations.execute("Encoder", {"hidden_dim": "256", "dropout": 0.1})
    assert encoder.hidden_dim == 256
    assert encoder.extra == {"dropout": 0.1}


def test_class_typed_unannotated_optional_and_string_annotations():
    model = Configurations.get_model("make_run")
    fields = model.model_fields
    assert fields["model"].annotation is Encoder
    assert fields["name"].is_required()
    assert fields["tag"].default is None
    assert fields["epochs"].annotation is int
    encoder = Encoder(4)
    result = Configurations.execute("make_run", {"model": encoder, "name": object, "epochs": "3"})
    assert result == (encoder, object, None, 3)


def test_positional_only_parameters_are_passed_positionally():
    assert Configurations.execute("positional_only", {"a": 1}) == 12


def test_bad_fields_raise_registry_validation_error_naming_each_field():
    with pytest.raises(ValidationError) as info:
        Configurations.build_config("create_optimizer", learning_rate="fast", colour="red")
    error = info.value
    assert not isinstance(error, pydantic.ValidationError)
    assert "learning_rate" in error.message and "colour" in error.message
    fields = [e["field"] for e in error.context["errors"]]
    assert fields == ["learning_rate", "colour"]
    json.dumps(error.context)


def test_missing_field_and_non_mapping_config():
    with pytest.raises(ValidationError, match="momentum|learning_rate"):
        Configurations.execute("create_optimizer", {})
    with pytest.raises(ValidationError, match="must be a mapping"):
        Configurations.execute("create_optimizer", [1, 2])


def test_unknown_identifier_in_schemes_is_a_registry_error():
    with pytest.raises(RegistryError, match="create_optimiser"):
        Configurations.build_config("create_optimiser")


def test_re_registering_after_unregister_gives_the_new_scheme():
    old = Configurations.get_model("create_optimizer")
    Configurations.unregister_identifier("create_optimizer")

    def create_optimizer(beta: int):  # same identifier, new parameters
        return beta

    Configurations.register_artifact(create_optimizer)
    new = Configurations.get_model("create_optimizer")
    assert new is not old
    assert list(new.model_fields) == ["beta"]


def test_schemes_are_built_once():
    assert Configurations.get_model("Encoder") is Configurations.get_model("Encoder")


def test_other_kinds_validate_too():
    class Funcs(FunctionalRegistry):
        pass

    class Types(TypeRegistry):
        pass

    Funcs.register_artifact(create_optimizer)
    Types.register_artifact(Encoder)
    assert Funcs._scheme("create_optimizer").__name__ == "create_optimizerConfig"
    assert Types._scheme("Encoder").__name__ == "EncoderConfig"


# ------------------------------------------------------------------ names pydantic reserves


def log_experiment(
    experiment_name: str,
    model_config: dict[str, int],
    json: bool = False,
    _seed: int = 0,
    copy: int = 1,
):
    return (experiment_name, model_config, json, _seed, copy)


class Tracker:
    def __init__(self, model_config: dict[str, int], schema: str = "v1") -> None:
        self.model_config = model_config
        self.schema = schema


class Experiments(SchemeRegistry):
    pass


Experiments.register_artifact(log_experiment)
Experiments.register_artifact(Tracker)

RESERVED = {"experiment_name", "model_config", "json", "_seed", "copy"}


def test_parameters_named_like_pydantic_internals_are_fields():
    model = Experiments.get_model("log_experiment")
    assert {info.alias or name for name, info in model.model_fields.items()} == RESERVED
    assert set(model.model_json_schema()["properties"]) == RESERVED
    assert Experiments.execute(
        "log_experiment", {"experiment_name": "a", "model_config": {"k": 1}}
    ) == ("a", {"k": 1}, False, 0, 1)


def test_build_config_then_execute_with_reserved_names():
    config = Experiments.build_config(
        "log_experiment", experiment_name="a", model_config={"k": "2"}, json=True, _seed="3"
    )
    assert Experiments.execute("log_experiment", config) == ("a", {"k": 2}, True, 3, 1)
    assert Experiments.execute("log_experiment", config, copy=5)[4] == 5
    with pytest.raises(ValidationError) as info:
        Experiments.build_config("log_experiment", experiment_name="a", model_config="x")
    assert [e["field"] for e in info.value.context["errors"]] == ["model_config"]
    with pytest.raises(ValidationError, match="model_config_"):
        Experiments.build_config("log_experiment", experiment_name="a", model_config_={})


def test_factorize_and_to_config_round_trip_reserved_names():
    tracker = Experiments.factorize_artifact("Tracker", model_config={"k": "1"}, schema="v2")
    assert (tracker.model_config, tracker.schema) == ({"k": 1}, "v2")
    config = Experiments.to_config(tracker)
    assert config == {"_type": "Tracker", "model_config": {"k": 1}, "schema": "v2"}
    again = Experiments.factorize_artifact("Tracker", **config)
    assert (again.model_config, again.schema) == (tracker.model_config, tracker.schema)
    assert Experiments.factorize_artifact("log_experiment", "b", {"k": 3})[:2] == ("b", {"k": 3})


def test_a_required_parameter_with_constraints_in_annotated_stays_required() -> None:
    # pydantic 2.6 turned `(Annotated[int, Field(gt=0)], ...)` into an optional field.
    from typing import Annotated

    from registry.schemes import extract_model

    def positive(count: Annotated[int, pydantic.Field(gt=0)]) -> int:
        return count

    model = extract_model("positive", positive)
    assert model.model_json_schema()["required"] == ["count"]
    with pytest.raises(pydantic.ValidationError, match="count"):
        model()
