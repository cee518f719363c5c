"""Registries declared with logic_namespace=: shared records, lazy restore by import path.

Parametrized over store URLs; every backend must behave the same.
"""

from __future__ import annotations

import importlib
import sys
import uuid
import warnings

import pytest

import registry
from registry import FunctionalRegistry, RegistryError, RestoreError, SchemeRegistry, TypeRegistry
from registry.store import open_store
from registry.store.base import EntryDraft
from tests.samples import mathfuncs


@pytest.fixture(params=["memory", "sqlite", "pg"])
def url(request):
    if request.param == "memory":
        return "memory://persistent-tests"
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def namespace():
    return f"test.{uuid.uuid4().hex[:12]}"


def _new(kind, namespace, url, name):
    import types

    return types.new_class(name, (kind,), {"logic_namespace": namespace, "url": url})


def test_registering_the_same_definition_again_writes_nothing(url, namespace):
    first = _new(FunctionalRegistry, namespace, url, "First")
    first.register_artifact(mathfuncs.add)
    store = open_store(url)
    generation = store.get_namespace(namespace).generation
    again = _new(FunctionalRegistry, namespace, url, "Again")  # as a new process declares it
    assert again.register_artifact(mathfuncs.add) is mathfuncs.add
    assert store.get_namespace(namespace).generation == generation
    again.register_artifact("plus", mathfuncs.add)  # a new identifier is written
    again.register_artifact(mathfuncs.add)
    assert store.get_namespace(namespace).generation == generation + 1
    assert [r.version for r in again.history("add")] == [1]
    assert again.get_artifact("plus") is again.get_artifact("add") is mathfuncs.add


def _module(tmp_path, monkeypatch, text):
    name = f"again_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return path, importlib.import_module(name)


def test_a_new_class_registering_changed_source_writes_a_new_version(
    url, namespace, tmp_path, monkeypatch
):
    path, module = _module(tmp_path, monkeypatch, "def loss(x):\n    return x\n")
    _new(FunctionalRegistry, namespace, url, "First").register_artifact(module.loss)
    path.write_text("def loss(x):\n    return 2 * x\n")
    importlib.invalidate_caches()
    module = importlib.reload(module)
    again = _new(FunctionalRegistry, namespace, url, "Again")  # nothing registered yet
    again.register_artifact(module.loss)
    assert [r.version for r in again.history("loss")] == [1, 2]
    sys.modules.pop(module.__name__, None)


def test_a_new_class_registering_a_second_identical_definition_is_refused(
    url, namespace, tmp_path, monkeypatch
):
    body = "def loss(x):\n    return x\n"
    path, module = _module(tmp_path, monkeypatch, body)
    _new(FunctionalRegistry, namespace, url, "First").register_artifact(module.loss)
    path.write_text(f"{body}\n\n{body}")  # the same text again, further down
    importlib.invalidate_caches()
    module = importlib.reload(module)
    again = _new(FunctionalRegistry, namespace, url, "Again")
    with pytest.raises(RegistryError, match="another definition of the same name"):
        again.register_artifact(module.loss)
    _, twin = _module(tmp_path, monkeypatch, body)  # the same text in another module
    with pytest.raises(RegistryError, match="already taken"):
        _new(FunctionalRegistry, namespace, url, "Twin").register_artifact(twin.loss)
    for loaded in (module, twin):
        sys.modules.pop(loaded.__name__, None)


def test_a_second_class_sees_the_records_and_restores_by_import_path(url, namespace):
    first = _new(FunctionalRegistry, namespace, url, "First")
    first.register_artifact(mathfuncs.add)
    first.register_artifact(mathfuncs.scale)
    second = _new(FunctionalRegistry, namespace, url, "Second")
    assert list(second.iter_identifiers()) == ["add", "scale"]
    assert second.has_identifier("add")
    assert "add" not in second._artifacts  # listing needs no import
    assert second.get_artifact("add") is mathfuncs.add
    assert second.get_artifact("add") is mathfuncs.add  # cached


def test_open_reads_the_kind_from_the_store(url, namespace):
    types_ = _new(TypeRegistry, namespace, url, "Shapes")
    types_.register_artifact(mathfuncs.Point)
    opened = registry.open(namespace, url=url)
    assert issubclass(opened, TypeRegistry)
    assert opened.get_artifact("Point") is mathfuncs.Point
    assert registry.open(namespace, url=url) is opened
    with pytest.raises(RegistryError, match="does not exist"):
        registry.open(namespace + ".missing", url=url)


def test_kind_mismatch_is_refused(url, namespace):
    _new(FunctionalRegistry, namespace, url, "Funcs")
    with pytest.raises(RegistryError, match="holds function artifacts"):
        _new(SchemeRegistry, namespace, url, "Schemes")


def test_conflicts_are_decided_by_the_store(url, namespace):
    first = _new(FunctionalRegistry, namespace, url, "A")
    second = _new(FunctionalRegistry, namespace, url, "B")
    first.register_artifact("op", mathfuncs.add)
    with pytest.raises(RegistryError) as info:
        second.register_artifact("op", mathfuncs.scale)
    assert "tests.samples.mathfuncs:add" in info.value.message
    assert "tests.samples.mathfuncs:scale" in info.value.message
    second.register_artifact("op", mathfuncs.add)  # the same definition: idempotent
    assert [r.version for r in second.history("op")] == [1]


def test_unregister_in_one_class_reaches_the_others(url, namespace):
    first = _new(FunctionalRegistry, namespace, url, "A")
    second = _new(FunctionalRegistry, namespace, url, "B")
    first.register_artifact(mathfuncs.add)
    assert second.get_artifact("add") is mathfuncs.add
    first.unregister_identifier("add")
    with pytest.raises(RegistryError):
        second.get_artifact("add")
    first.register_artifact(mathfuncs.scale)
    first.clear_artifacts()
    assert list(second.iter_identifiers()) == []


def test_an_unimportable_entry_fails_alone_with_a_clear_error(url, namespace):
    good = _new(FunctionalRegistry, namespace, url, "Good")
    good.register_artifact(mathfuncs.add)
    open_store(url).register(
        namespace, EntryDraft(identifier="ghost", origin="no_such_module_xyz:ghost")
    )
    reader = _new(FunctionalRegistry, namespace, url, "Reader")
    with pytest.raises(RestoreError) as info:
        reader.get_artifact("ghost")
    assert "no_such_module_xyz" in info.value.message
    assert info.value.context["import_path"] == "no_such_module_xyz:ghost"
    assert reader.get_artifact("add") is mathfuncs.add


def test_changed_source_records_a_new_version_and_drift_warns(
    url, namespace, tmp_path, monkeypatch
):
    module_name = f"drift_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{module_name}.py"
    path.write_text("def loss(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(module_name)
    writer = _new(FunctionalRegistry, namespace, url, "Writer")
    writer.register_artifact(module.loss)
    path.write_text("def loss(x):\n    return 2 * x\n")
    reader = _new(FunctionalRegistry, namespace, url, "Reader")
    with pytest.warns(RuntimeWarning, match="changed since it was registered"):
        reader.get_artifact("loss")
    importlib.invalidate_caches()
    module = importlib.reload(module)
    writer.register_artifact(module.loss)
    history = writer.history("loss")
    assert [r.version for r in history] == [1, 2]
    assert history[0].source_hash != history[1].source_hash
    assert all(r.origin == f"{module_name}:loss" for r in history)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh = _new(FunctionalRegistry, namespace, url, "Fresh")
        assert fresh.get_artifact("loss")(3) == 6
    sys.modules.pop(module_name, None)


def test_scheme_json_and_provenance_are_stored(url, namespace):
    schemes = _new(SchemeRegistry, namespace, url, "Cfg")
    schemes.register_artifact(mathfuncs.scale)
    [record] = open_store(url).list_entries(namespace)
    assert record.origin == "tests.samples.mathfuncs:scale"
    assert record.scheme is not None
    assert set(record.scheme["properties"]) == {"x", "factor"}
    assert record.signature == "(x: float, factor: float = 2.0) -> float"
    assert record.python_version.count(".") == 2
    assert record.package == "tests"


def test_artifacts_without_import_path_are_pickled_and_load_only_with_opt_in(
    url, namespace, monkeypatch
):
    from registry import settings

    monkeypatch.delenv("REGISTRY_ALLOW_PICKLE", raising=False)
    monkeypatch.delenv("REGISTRY_SIGNING_KEY", raising=False)
    writer = _new(FunctionalRegistry, namespace, url, "Writer")
    offset = 3
    writer.register_artifact("shift", lambda x: x + offset)
    assert writer.get_artifact("shift")(1) == 4  # the writer keeps its live object
    [record] = open_store(url).list_entries(namespace)
    assert record.blob_sha256 is not None and "<lambda>" in record.origin
    reader = _new(FunctionalRegistry, namespace, url, "Reader")
    with pytest.raises(RestoreError, match="Refusing to unpickle"):
        reader.get_artifact("shift")
    try:
        settings.configure(allow_pickle=True)
        assert reader.get_artifact("shift")(1) == 4
    finally:
        settings.reset()


def test_get_model_and_build_config_use_the_stored_scheme_without_the_artifact(url, namespace):
    from registry.schemes import config_values
    from tests.samples import described

    writer = _new(SchemeRegistry, namespace, url, "Writer")
    writer.register_artifact(described.experiment)
    reader = _new(SchemeRegistry, namespace, url, "Reader")
    stored = reader.get_model("experiment")
    live = writer.get_model("experiment")
    assert stored is not live  # rebuilt from the record: nothing was restored
    assert "experiment" not in reader._artifacts
    assert stored.__name__ == "experimentConfig"
    assert stored.__doc__ == "Run an experiment."
    names = {info.alias or name: info.is_required() for name, info in stored.model_fields.items()}
    assert names == {
        info.alias or name: info.is_required() for name, info in live.model_fields.items()
    }
    values = {
        "count": "3",
        "ratio": "1",
        "tags": ("a", "b"),
        "when": "2024-01-02",
        "mode": "slow",
        "limits": {"x": "1.5"},
        "pair": ["2", "b"],
        "level": "4",
        "unique": [1, 1, 2],
        "model_config": {"k": "1"},
        "window": {"size": "3"},
    }
    from_record = config_values(reader.build_config("experiment", **values))
    from_artifact = config_values(writer.build_config("experiment", **values))
    assert from_record.pop("window").model_dump() == {"size": 3, "stride": 1}
    assert from_artifact.pop("window") == described.Window(3)
    assert from_record == from_artifact
    for bad in ({"count": "x"}, {"count": 1, "mode": "medium"}, {"count": 1, "level": 11}):
        with pytest.raises(registry.ValidationError) as info:
            reader.build_config("experiment", **bad)
        assert info.value.context["errors"], bad
    with pytest.raises(registry.ValidationError, match="Extra inputs"):
        reader.build_config("experiment", count=1, colour="red")
    config = reader.build_config("experiment", count=2, model_config={"k": 1}, window={"size": 2})
    result = reader.execute("experiment", config)  # execute loads the artifact and checks again
    assert (result["count"], result["model_config"]) == (2, {"k": 1})
    assert result["window"] == described.Window(2)
    assert reader.get_model("experiment") is reader.get_model("experiment")


def _register_in_child(registry_class, result) -> None:  # type: ignore[no-untyped-def]
    registry_class.register_artifact(mathfuncs.scale)
    result.put(registry_class.get_artifact("scale") is mathfuncs.scale)


@pytest.mark.parametrize("lock", ["_write_lock", "_lock"])
def test_a_child_forked_during_a_registration_can_register(sqlite_url, namespace, lock):
    # A thread of the parent is inside a registration (it holds the class's lock) when the
    # process forks: in the child that thread does not exist, and its lock must not stay held.
    import multiprocessing
    import threading

    registry_class = _new(FunctionalRegistry, namespace, sqlite_url, "Forked")
    registry_class.register_artifact(mathfuncs.add)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with getattr(registry_class, lock):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    context = multiprocessing.get_context("fork")
    result = context.Queue()
    child = context.Process(target=_register_in_child, args=(registry_class, result), daemon=True)
    child.start()
    release.set()
    holder.join()
    child.join(20)
    assert child.exitcode == 0
    assert result.get(timeout=1) is True
    assert registry_class.has_identifier("scale")
