"""The error tree: fields, str(), pickling, JSON round trip."""

from __future__ import annotations

import json
import pickle

import pytest

import registry
from registry import (
    CoercionError,
    ConformanceError,
    InheritanceError,
    RegistryError,
    RestoreError,
    SchemaVersionError,
    StoreError,
    ValidationError,
)
from registry.errors import closest_names, error_from_dict

ALL = [
    ValidationError,
    CoercionError,
    ConformanceError,
    InheritanceError,
    RegistryError,
    StoreError,
    SchemaVersionError,
    RestoreError,
]


@pytest.mark.parametrize("cls", ALL)
def test_every_error_is_a_validation_error_with_its_fields(cls):
    error = cls("went wrong", suggestions=["fix it"], context={"k": 1})
    assert isinstance(error, ValidationError)
    assert error.message == "went wrong"
    assert error.suggestions == ["fix it"]
    assert error.context == {"k": 1}
    assert str(error) == "went wrong\nSuggestions:\n  - fix it"
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is cls and clone.to_dict() == error.to_dict()
    again = error_from_dict(json.loads(error.to_json()))
    assert type(again) is cls and again.to_dict() == error.to_dict()


def test_defaults_and_str_without_suggestions():
    error = ValidationError("plain")
    assert error.suggestions == [] and error.context == {}
    assert str(error) == "plain"


def test_context_is_always_json_serialisable():
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    error = RegistryError(
        "x", context={"obj": Opaque(), "nested": {1: (Opaque(), {2})}, "ok": [1, "a", None]}
    )
    dumped = json.loads(json.dumps(error.context))
    assert dumped == {"obj": "<opaque>", "nested": {"1": ["<opaque>", [2]]}, "ok": [1, "a", None]}


def test_errors_present_as_registry_module():
    assert RegistryError.__module__ == "registry"
    assert registry.ValidationError is ValidationError


def test_unknown_error_type_from_dict_falls_back_to_base():
    error = error_from_dict({"type": "Nonsense", "message": "m"})
    assert type(error) is ValidationError


def test_closest_names():
    names = [f"name_{i}" for i in range(1000)] + ["mse", "mae", "cross_entropy"]
    assert closest_names("msee", names)[0] == "mse"
    assert closest_names("cross_entopy", names) == ["cross_entropy"]
    assert closest_names("zzzz", names) == []
