"""Config fields, skeletons and snippets read from stored schemes (as registries store them)."""

from __future__ import annotations

import enum
import json
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from registry import SchemeRegistry
from registry.schemes import extract_model, scheme_json
from registry.server.ui.forms import config_fields, snippets, yaml_skeleton
from registry.store.base import EntryRecord

from . import lab


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Window(BaseModel):
    size: int


def everything(
    count: int,
    rate: float = 0.5,
    name: str = "x",
    flag: bool = False,
    mode: Literal["a", "b"] = "a",
    color: Color = Color.RED,
    limit: int | None = None,
    model: lab.Encoder | None = None,
    options: dict = {},  # noqa: B006 - a default shown on the page
    tags: list[str] = [],  # noqa: B006
    window: Window | None = None,
    anything: Any = None,
    anything_or_none: Any | None = None,
) -> None:
    """Takes one of each."""


def record_of(identifier: str, artifact: Any, namespace: str = "lab.forms") -> EntryRecord:
    return EntryRecord(
        namespace=namespace,
        identifier=identifier,
        version=1,
        origin=f"tests.ui.test_forms:{identifier}",
        scheme=scheme_json(extract_model(identifier, artifact)),
    )


def test_each_parameter_gets_a_widget_and_a_readable_type() -> None:
    fields = {f.name: f for f in config_fields(record_of("everything", everything).scheme)}
    assert list(fields) == [
        "count", "rate", "name", "flag", "mode", "color", "limit", "model", "options", "tags",
        "window", "anything", "anything_or_none",
    ]  # fmt: skip
    table = {name: (f.widget, f.type_label, f.required, f.default) for name, f in fields.items()}
    assert table == {
        "count": ("integer", "int", True, None),
        "rate": ("number", "float", False, "0.5"),
        "name": ("string", "str", False, '"x"'),
        "flag": ("boolean", "bool", False, "false"),
        "mode": ("choice", '"a" | "b"', False, '"a"'),
        "color": ("choice", '"red" | "blue"', False, '"red"'),
        "limit": ("integer", "int | None", False, "null"),
        "model": ("component", "Encoder | None", False, "null"),
        "options": ("component", "dict", False, "{}"),
        "tags": ("json", "list[str]", False, "[]"),
        "window": ("json", "Window | None", False, "null"),
        "anything": ("component", "any", False, "null"),
        "anything_or_none": ("component", "any", False, "null"),  # Any admits None already
    }
    assert fields["mode"].choices == ('"a"', '"b"')
    assert fields["limit"].nullable and not fields["count"].nullable


def test_nested_fields_carry_their_path() -> None:
    fields = config_fields(record_of("Encoder", lab.Encoder).scheme, prefix="model")
    assert [f.path for f in fields] == [
        "model.hidden_dim",
        "model.num_layers",
        "model.dropout",
        "model.activation",
    ]
    assert config_fields(None) == []


def test_the_yaml_skeleton_fills_in_to_a_valid_config() -> None:
    record = record_of("Encoder", lab.Encoder, namespace="lab.skeleton")
    skeleton = yaml_skeleton(record)
    assert skeleton.splitlines() == [
        '_type: "lab.skeleton:Encoder"',
        "hidden_dim: 0  # required: int",
        "# num_layers: 3  # int",
        "# dropout: 0.1  # float",
        '# activation: "relu"  # "relu" | "gelu"',
    ]

    class Skeleton(SchemeRegistry, logic_namespace="lab.skeleton", url="memory://forms"):
        pass

    Skeleton.register_artifact(lab.Encoder)
    config = yaml.safe_load(skeleton)
    assert config.pop("_type") == "lab.skeleton:Encoder"
    Skeleton.check_config("Encoder", **config)


def test_snippets_name_the_entry_and_quote_for_the_shell() -> None:
    record = EntryRecord(namespace="lab.x", identifier="odd$name", version=1, origin="m:f")
    shown = snippets(record)
    assert shown["python"] == (
        'import registry\n\nartifact = registry.open("lab.x").get_artifact("odd$name")\n'
    )
    assert shown["shell"] == "registry show lab.x 'odd$name'\n"
    assert json.loads(shown["yaml"].split(": ", 1)[1]) == "lab.x:odd$name"
    keyword = EntryRecord(namespace="lab.x", identifier="Class", version=1, origin="m:f")
    assert "artifact = " in snippets(keyword)["python"]
