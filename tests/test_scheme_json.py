"""``scheme_json_of``: the JSON Schema assembled without a pydantic model equals the model's."""

from __future__ import annotations

import dataclasses
import enum
import json
import keyword
import textwrap
from typing import Annotated, Any, Literal, Optional, Union

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry import ValidationError, schemes


class Color(enum.Enum):
    RED = "red"


class Inner(pydantic.BaseModel):
    a: int


@dataclasses.dataclass
class Point:
    x: float


class Opaque:
    """An arbitrary class pydantic can only check with isinstance."""


#: Annotations as written in a signature, with the names they need.
ANNOTATIONS = [
    "int",
    "float",
    "str",
    "bool",
    "bytes",
    "Any",
    "None",
    "Optional[int]",
    "int | None",
    "Union[int, str]",
    "list[int]",
    "dict[str, float]",
    "tuple[int, str]",
    "set[str]",
    "Literal['a', 'b']",
    "Color",
    "Inner",
    "Point",
    "Opaque",
    "Annotated[int, pydantic.Field(gt=0)]",
    "'int'",
    "list['Inner']",
]
DEFAULTS = [
    None,
    "...",  # no default
    "0",
    "1.5",
    "float('inf')",
    "'text'",
    "True",
    "None",
    "(1, 'x')",
    "[]",
    "Color.RED",
    "Opaque()",
]
NAMESPACE = {
    "Any": Any,
    "Optional": Optional,
    "Union": Union,
    "Literal": Literal,
    "Annotated": Annotated,
    "pydantic": pydantic,
    "Color": Color,
    "Inner": Inner,
    "Point": Point,
    "Opaque": Opaque,
}


def build(parameters: list[tuple[str, str | None, str | None]], extra: str, doc: str) -> Any:
    """Define a function from (name, annotation, default) triples, as a module would."""
    required, optional = [], []
    for name, annotation, default in parameters:
        text = name if annotation is None else f"{name}: {annotation}"
        if default in (None, "..."):
            required.append(text)
        else:
            optional.append(f"{text} = {default}")
    source = f"def artifact({', '.join(required + optional + ([extra] if extra else []))}):\n"
    source += textwrap.indent(f"{doc!r}\n" if doc else "pass\n", "    ")
    namespace = dict(NAMESPACE)
    exec(source, namespace)  # noqa: S102 - test fixture built from the lists above
    return namespace["artifact"]


names = st.from_regex(r"[a-z][a-z_0-9]{0,8}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name)
)
parameter = st.tuples(names, st.none() | st.sampled_from(ANNOTATIONS), st.sampled_from(DEFAULTS))


# The model path warns about defaults JSON cannot hold (it leaves them out); both paths must.
@pytest.mark.filterwarnings("ignore::pydantic.json_schema.PydanticJsonSchemaWarning")
@settings(max_examples=150, deadline=None)
@given(
    st.lists(parameter, max_size=5, unique_by=lambda p: p[0]),
    st.sampled_from(["", "*args", "**options", "*args, **options"]),
    st.sampled_from(["", "Scale x.", "Scale x.\n\n    Longer text."]),
)
def test_assembled_scheme_equals_the_models(
    parameters: list[tuple[str, str | None, str | None]], extra: str, doc: str
) -> None:
    artifact = build(parameters, extra, doc)
    expected = schemes.scheme_json(schemes.extract_model("artifact", artifact))
    assert schemes.scheme_json_of("artifact", artifact) == expected
    # The text a registration stores is json.dumps of the same scheme, character for character.
    assert schemes.scheme_text_of("artifact", artifact) == json.dumps(expected)


def test_common_signatures_take_the_shortcut() -> None:
    artifact = build(
        [("x", "int", None), ("factor", "float", "2.0"), ("name", "Optional[str]", "None")],
        "**options",
        "Scale x.",
    )
    assembled = schemes._assembled_scheme("artifact", artifact)
    assert assembled is not None
    assert assembled == schemes.scheme_json(schemes.extract_model("artifact", artifact))


@pytest.mark.parametrize("annotation", ["Inner", "Color", "Point"])
def test_annotations_that_need_definitions_take_the_model_path(annotation: str) -> None:
    artifact = build([("x", annotation, None)], "", "")
    assert schemes._assembled_scheme("artifact", artifact) is None
    assert "$defs" in (schemes.scheme_json_of("artifact", artifact) or {})
    text = schemes.scheme_text_of("artifact", artifact)
    assert text == json.dumps(schemes.scheme_json_of("artifact", artifact))


def test_quoted_arguments_of_builtin_generics_are_resolved() -> None:
    # Python 3.10's typing leaves the 'Inner' of list['Inner'] a string; pydantic then cannot
    # finish the model.
    artifact = build([("a", "list['Inner']", None)], "", "")
    model = schemes.extract_model("artifact", artifact)
    assert model.model_validate({"a": [{"a": 1}]}).a[0].a == 1  # type: ignore[attr-defined]
    assert schemes.scheme_json_of("artifact", artifact) == schemes.scheme_json(model)


def test_a_builtin_gets_pydantics_scheme_or_none_when_it_has_no_signature() -> None:
    # print has a text signature from Python 3.11 on; on 3.10 nothing can read one.
    assembled = schemes.scheme_json_of("print", print)
    try:
        model = schemes.extract_model("print", print)
    except ValidationError as unreadable:
        assert "Cannot read the signature of 'print'" in unreadable.message
        assert assembled is None
    else:
        assert assembled == schemes.scheme_json(model)


@pytest.mark.parametrize("annotation", [None, "float", "Any"])
def test_shared_parameters_keep_each_default_as_written(annotation: str | None) -> None:
    # 1, True and 1.0 are equal in Python, and so are 0.0 and -0.0; JSON tells them apart.
    for default in ["1", "True", "1.0", "0.0", "-0.0", "1", "-0.0"]:
        artifact = build([("x", annotation, default)], "", "")
        assembled = schemes.scheme_json_of("artifact", artifact)
        assert assembled == schemes.scheme_json(schemes.extract_model("artifact", artifact))
        assert json.dumps(assembled["properties"]["x"]["default"]) == json.dumps(eval(default))  # noqa: S307
        assert schemes.scheme_text_of("artifact", artifact) == json.dumps(assembled)


def test_a_scheme_handed_out_is_a_copy() -> None:
    artifact = build([("x", "int", "3")], "", "")
    first = schemes.scheme_json_of("artifact", artifact)
    assert first is not None
    first["properties"]["x"]["default"] = 99
    first["required"] = ["mutated"]
    again = schemes.scheme_json_of("artifact", artifact)
    assert again == schemes.scheme_json(schemes.extract_model("artifact", artifact))
