"""``refs.source_hash``: the text it hashes is exactly what ``inspect.getsource`` returns."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from registry import refs

MODULES = ["json", "argparse", "dataclasses", "logging", "textwrap", "zipfile", "collections"]
MODULES += ["registry.registries", "registry.store.sql", "registry.schemes"]


def definitions(module: ModuleType) -> list[Any]:
    found: list[Any] = []
    for value in vars(module).values():
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value) or inspect.isclass(value):
            found.append(value)
        if inspect.isclass(value):
            found += [
                member
                for member in vars(value).values()
                if (inspect.isfunction(member) or inspect.isclass(member))
                and getattr(member, "__module__", None) == module.__name__
            ]
    return found


@pytest.fixture(params=["tokenized", "indexed"])
def indexed(request: pytest.FixtureRequest) -> bool:
    """Each definition's text found by the tokenizer (a restore), or from the file's index
    in ``registry.sources`` (a registration; classes always)."""
    return bool(request.param == "indexed")


def hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("name", MODULES)
def test_source_text_is_what_inspect_returns(name: str, indexed: bool) -> None:
    checked = 0
    for obj in definitions(importlib.import_module(name)):
        try:
            expected = inspect.getsource(obj)
        except (OSError, TypeError):
            continue
        if inspect.isfunction(obj):
            assert refs._source_text(obj) == expected, obj.__qualname__
        assert refs.source_hash(obj, index=indexed) == hashed(expected), obj.__qualname__
        checked += 1
    assert checked >= 5


SAMPLE = '''
import functools


def plain(x):
    return x
    # a trailing comment inside the block
# a shallow comment
    # a deeper one after it


def one_line(x): return x


def decorate(func):
    @functools.wraps(func)
    def wrapper(*args):
        return func(*args)

    return wrapper


@decorate
def wrapped(
    a,
    b=(1,
       2),
):
    """Doc."""
    return a


class Outer:
    @staticmethod
    def method():
        return """
text at column zero
"""

    class Inner:
        value = 1


if True:
    class Conditional:
        pass


def factory():
    class Local:
        pass

    return Local
'''


def test_edge_cases_match_inspect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, indexed: bool
) -> None:
    name = f"refs_sample_{indexed}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(SAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    objects = [
        module.plain,
        module.one_line,
        module.wrapped,
        module.Outer,
        module.Outer.method,
        module.Outer.Inner,
        module.Conditional,
        module.factory(),
    ]
    for obj in objects:
        expected = inspect.getsource(obj)
        assert refs.source_hash(obj, index=indexed) == hashed(expected), obj.__qualname__


def test_file_hash_agrees_with_the_imported_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "refs_file_sample.py").write_text(textwrap.dedent(SAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("refs_file_sample")
    for qualname in ("plain", "wrapped", "Outer", "Outer.method", "Outer.Inner", "decorate"):
        obj: Any = module
        for part in qualname.split("."):
            obj = getattr(obj, part)
        origin = f"refs_file_sample:{qualname}"
        assert refs.source_hash_without_import(origin) == refs.source_hash(obj), qualname
