"""The public API of the three registry kinds, in-process."""

from __future__ import annotations

import functools
import importlib
import json
import linecache
import sys
import textwrap
import threading
import time
import types
from abc import ABC, abstractmethod

import pytest

from registry import (
    CoercionError,
    FunctionalRegistry,
    InheritanceError,
    RegistryError,
    SchemeRegistry,
    TypeRegistry,
    ValidationError,
)
from tests.samples import mathfuncs, nomodall


def mse(y_true, y_pred):
    return ((y_true - y_pred) ** 2).mean()


def mae(y_true, y_pred):
    return abs(y_true - y_pred).mean()


class Losses(FunctionalRegistry):
    """Registry of loss functions."""


@pytest.fixture(autouse=True)
def _empty_losses():
    Losses.clear_artifacts()
    yield
    Losses.clear_artifacts()


def test_decorator_and_call_forms_return_the_artifact_and_keep_order():
    assert Losses.register_artifact(mse) is mse
    assert Losses.register_artifact(mae) is mae
    assert Losses.get_artifact("mse") is mse
    assert list(Losses.iter_identifiers()) == ["mse", "mae"]


def test_decorator_form_returns_function_unchanged():
    class Local(FunctionalRegistry):
        pass

    @Local.register_artifact
    def huber(x):
        return x

    assert Local.get_artifact("huber") is huber
    assert huber(3) == 3


def test_explicit_key_wins_and_key_decorator_form():
    Losses.register_artifact("squared", mse)
    assert Losses.get_artifact("squared") is mse
    assert not Losses.has_identifier("mse")

    @Losses.register_artifact("absolute")
    def l1(a, b):
        return a

    assert Losses.get_artifact("absolute") is l1


def test_registries_never_share_storage():
    class A(FunctionalRegistry):
        pass

    class B(FunctionalRegistry):
        pass

    class C(A):
        pass

    A.register_artifact(mse)
    assert A.has_identifier("mse")
    assert not B.has_identifier("mse")
    assert not C.has_identifier("mse")
    assert list(B.iter_identifiers()) == []


def test_functools_wraps_chain_is_unwrapped_for_the_identifier():
    def deco(func):
        @functools.wraps(func)
        def wrapper(*args):
            return func(*args)

        wrapper.__name__ = "renamed_by_decorator"
        return wrapper

    def focal(x):
        return x

    wrapped = deco(deco(focal))
    Losses.register_artifact(wrapped)
    assert Losses.get_artifact("focal") is wrapped


@pytest.mark.parametrize(
    "bad",
    [
        int,
        functools.partial(mse, 1),
        object(),
        42,
        "text-is-a-key-not-an-artifact-but-form-needs-obj",
    ],
)
def test_functional_registry_refuses_non_functions(bad):
    with pytest.raises(ValidationError) as info:
        Losses.register_artifact("k", bad)
    assert "accepts functions only" in info.value.message
    assert info.value.suggestions
    assert not Losses.has_identifier("k")


def test_type_registry_accepts_classes_only():
    class Things(TypeRegistry[object]):
        pass

    class Thing:
        pass

    Things.register_artifact(Thing)
    assert Things.get_artifact("Thing") is Thing
    with pytest.raises(ValidationError, match="accepts classes only"):
        Things.register_artifact("inst", Thing())
    with pytest.raises(ValidationError, match="accepts classes only"):
        Things.register_artifact(mse)


def test_scheme_registry_accepts_callables_with_a_signature():
    class Anything(SchemeRegistry):
        pass

    class Callable_:
        def __call__(self, x: int) -> int:
            return x

    Anything.register_artifact("instance", Callable_())
    Anything.register_artifact("partial", functools.partial(mathfuncs.add, 1))
    assert Anything.execute("partial", {"b": 2}) == 3
    with pytest.raises(ValidationError, match="callables only"):
        Anything.register_artifact("x", 3)
    with pytest.raises(ValidationError, match="no __name__"):
        Anything.register_artifact(functools.partial(mathfuncs.add, 1))


# ------------------------------------------------------------------ duplicates


def test_same_object_twice_is_a_no_op():
    Losses.register_artifact(mse)
    Losses.register_artifact(mse)
    assert list(Losses.iter_identifiers()) == ["mse"]


def test_a_different_object_under_a_taken_identifier_names_both_origins():
    Losses.register_artifact(mse)

    def impostor(a, b):
        return 0

    with pytest.raises(RegistryError) as info:
        Losses.register_artifact("mse", impostor)
    message = info.value.message
    assert f"{__name__}:mse" in message
    assert (
        f"{__name__}:test_a_different_object_under_a_taken_identifier_names_both_origins.<locals>.impostor"
        in message
    )
    assert Losses.get_artifact("mse") is mse  # nothing lost


def test_rerunning_the_same_definition_replaces_quietly():
    """A module reload or notebook cell run again: same module:qualname, new object."""
    namespace: dict[str, object] = {"__name__": "notebook_cell"}
    source = "def metric(x):\n    return x\n"
    exec(source, namespace)
    first = namespace["metric"]
    Losses.register_artifact(first)
    exec(source.replace("return x", "return x + 1"), namespace)
    second = namespace["metric"]
    assert second is not first
    Losses.register_artifact(second)
    assert Losses.get_artifact("metric") is second


def _module_from(tmp_path, monkeypatch, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    monkeypatch.delitem(sys.modules, name, raising=False)
    return path


def test_a_second_definition_further_down_the_same_file_is_refused(tmp_path, monkeypatch):
    path = _module_from(
        tmp_path,
        monkeypatch,
        "dup_defs",
        """
        from tests.test_registries import Losses

        @Losses.register_artifact
        def my_func(x):
            return x

        @Losses.register_artifact
        def my_func(x):  # the same name again, further down
            return x + 1
        """,
    )
    with pytest.raises(RegistryError) as info:
        importlib.import_module("dup_defs")
    error = info.value
    assert f"{path}:4" in error.message and f"{path}:8" in error.message
    assert "dup_defs:my_func" in error.message
    assert f"{path} defines my_func at lines 4, 8" in error.message
    assert error.context["existing_place"] == f"{path}:4"
    assert error.context["new_place"] == f"{path}:8"
    assert error.context["existing_source_hash"] != error.context["new_source_hash"]
    assert error.context["operation"] == "register_artifact"
    assert any("Rename one of the definitions" in hint for hint in error.suggestions)
    assert Losses.get_artifact("my_func")(1) == 1  # the first one stays


def test_two_classes_of_one_name_in_one_file_are_refused(tmp_path, monkeypatch):
    _module_from(
        tmp_path,
        monkeypatch,
        "dup_classes",
        """
        class Head:
            def forward(self, x):
                return x

        first = Head

        class Head:
            size = 2
            def forward(self, x):
                return 2 * x
        """,
    )
    module = importlib.import_module("dup_classes")

    class Heads(TypeRegistry):
        pass

    Heads.register_artifact(module.first)
    with pytest.raises(RegistryError, match="defines Head at lines 2, 8"):
        Heads.register_artifact(module.Head)


def test_a_reloaded_module_replaces_quietly_even_when_its_lines_moved(tmp_path, monkeypatch):
    path = _module_from(
        tmp_path,
        monkeypatch,
        "reloaded_defs",
        """
        def metric(x):
            return x

        class Scorer:
            def score(self, x):
                return x
        """,
    )
    module = importlib.import_module("reloaded_defs")

    class Metrics(FunctionalRegistry):
        pass

    class Scorers(TypeRegistry):
        pass

    Metrics.register_artifact(module.metric)
    Scorers.register_artifact(module.Scorer)
    importlib.reload(module)  # unchanged: the same definitions run again
    Metrics.register_artifact(module.metric)
    Scorers.register_artifact(module.Scorer)
    path.write_text("import math\n\n\n" + path.read_text().replace("return x", "return 2 * x"))
    importlib.invalidate_caches()
    module = importlib.reload(module)
    Metrics.register_artifact(module.metric)
    Scorers.register_artifact(module.Scorer)
    assert Metrics.get_artifact("metric")(2) == 4
    assert Scorers.get_artifact("Scorer") is module.Scorer


def test_a_notebook_cell_run_again_edited_replaces_quietly():
    def run_cell(number: int, source: str, namespace: dict[str, object]) -> None:
        filename = f"<ipython-input-{number}-cafe>"  # what IPython does: one name per run
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), namespace)

    namespace: dict[str, object] = {"__name__": "notebook", "Losses": Losses}
    run_cell(1, "@Losses.register_artifact\ndef loss(x):\n    return x\n", namespace)
    run_cell(2, "@Losses.register_artifact\ndef loss(x):\n    return 3 * x\n", namespace)
    assert Losses.get_artifact("loss")(1) == 3
    two_in_one = (
        "@Losses.register_artifact\ndef loss(x):\n    return 4 * x\n\n"
        "@Losses.register_artifact\ndef loss(x):\n    return 5 * x\n"
    )
    with pytest.raises(RegistryError, match="defines loss at lines 1, 5"):
        run_cell(3, two_in_one, namespace)
    assert Losses.get_artifact("loss")(1) == 4


def test_two_different_lambdas_conflict_but_the_same_lambda_does_not():
    square = lambda x: x * x  # noqa: E731
    cube = lambda x: x * x * x  # noqa: E731
    Losses.register_artifact("power", square)
    Losses.register_artifact("power", square)
    with pytest.raises(RegistryError):
        Losses.register_artifact("power", cube)
    assert Losses.get_artifact("power") is square


def test_eight_threads_racing_on_one_name_have_exactly_one_winner():
    for round_ in range(200):

        class Race(FunctionalRegistry):
            pass

        candidates = []
        for index in range(8):
            namespace: dict[str, object] = {"__name__": f"racer{round_}_{index}"}
            exec("def shared(x):\n    return x\n", namespace)
            candidates.append(namespace["shared"])
        barrier = threading.Barrier(8)
        wins: list[object] = []
        losses: list[RegistryError] = []

        def attempt(func, barrier=barrier, wins=wins, losses=losses, Race=Race):
            barrier.wait()
            try:
                Race.register_artifact(func)
                wins.append(func)
            except RegistryError as error:
                losses.append(error)

        threads = [threading.Thread(target=attempt, args=(c,)) for c in candidates]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(wins) == 1, f"round {round_}: {len(wins)} winners"
        assert len(losses) == 7
        assert Race.get_artifact("shared") is wins[0]


# ------------------------------------------------------------------ lookups and misses


def test_missing_identifier_suggests_close_names_with_serialisable_context():
    Losses.register_artifact(mse)
    Losses.register_artifact(mae)
    with pytest.raises(RegistryError) as info:
        Losses.get_artifact("msee")
    error = info.value
    assert "'msee' is not registered in Losses" in error.message
    assert any("'mse'" in s for s in error.suggestions)
    assert error.context["registry_name"] == "Losses"
    assert error.context["registry_size"] == 2
    assert error.context["available_keys"] == ["mse", "mae"]
    json.dumps(error.context)
    assert "Did you mean" in str(error)


def test_available_keys_are_capped():
    class Big(FunctionalRegistry):
        pass

    for index in range(120):
        namespace: dict[str, object] = {"__name__": "big"}
        exec(f"def f{index}(x):\n    return x\n", namespace)
        Big.register_artifact(namespace[f"f{index}"])
    with pytest.raises(RegistryError) as info:
        Big.get_artifact("nope")
    assert info.value.context["registry_size"] == 120
    assert len(info.value.context["available_keys"]) == 50


@pytest.mark.parametrize("key", [["a"], {"a": 1}, {1}])
def test_unhashable_keys_give_coercion_errors(key):
    with pytest.raises(CoercionError):
        Losses.get_artifact(key)
    with pytest.raises(CoercionError):
        Losses.has_identifier(key)
    with pytest.raises(CoercionError):
        Losses.register_artifact(key, mse)


def test_non_string_and_malformed_identifiers_are_refused():
    with pytest.raises(CoercionError):
        Losses.register_artifact(5, mse)
    for bad in ["", "has space", "a:b", "x@1", "a/b", "x" * 256]:
        with pytest.raises(ValidationError):
            Losses.register_artifact(bad, mse)
    assert list(Losses.iter_identifiers()) == []


def test_has_identifier_and_has_artifact():
    Losses.register_artifact(mse)
    assert Losses.has_identifier("mse")
    assert not Losses.has_identifier("mae")
    assert Losses.has_artifact(mse)
    assert not Losses.has_artifact(mae)


def test_iteration_is_a_snapshot():
    Losses.register_artifact(mse)
    iterator = Losses.iter_identifiers()
    Losses.register_artifact(mae)
    assert list(iterator) == ["mse"]


# ------------------------------------------------------------------ removal


def test_unregister_identifier_and_artifact():
    Losses.register_artifact(mse)
    Losses.register_artifact("alias", mse)
    Losses.register_artifact(mae)
    Losses.unregister_identifier("mae")
    assert not Losses.has_identifier("mae")
    with pytest.raises(RegistryError):
        Losses.get_artifact("mae")
    Losses.unregister_artifact(mse)
    assert list(Losses.iter_identifiers()) == []
    with pytest.raises(RegistryError):
        Losses.unregister_identifier("mse")
    with pytest.raises(RegistryError):
        Losses.unregister_artifact(mse)


def test_unregister_then_register_a_different_artifact():
    Losses.register_artifact("loss", mse)
    Losses.unregister_identifier("loss")
    Losses.register_artifact("loss", mae)
    assert Losses.get_artifact("loss") is mae


def test_clear_artifacts():
    Losses.register_artifact(mse)
    Losses.register_artifact(mae)
    Losses.clear_artifacts()
    assert list(Losses.iter_identifiers()) == []
    assert not Losses.has_identifier("mse")


# ------------------------------------------------------------------ batches


def test_validate_artifact_stores_nothing():
    assert Losses.validate_artifact(mse) is mse
    assert not Losses.has_identifier("mse")
    with pytest.raises(ValidationError):
        Losses.validate_artifact(int)


def test_batch_validate_reports_per_key():
    results = Losses.batch_validate({"mse": mse, "cls": int, "bad key": mae})
    assert results["mse"] is True
    assert isinstance(results["cls"], ValidationError)
    assert isinstance(results["bad key"], ValidationError)
    assert list(Losses.iter_identifiers()) == []


def test_safe_register_batch_captures_errors():
    report = Losses.safe_register_batch({"mse": mse, "cls": int, "mae": mae})
    assert report["successful"] == ["mse", "mae"]
    assert report["failed"] == ["cls"]
    assert report["total"] == 3
    [error] = report["errors"]
    assert error["key"] == "cls"
    assert "functions only" in error["error"]
    assert error["suggestions"]
    json.dumps(report["errors"])
    assert list(Losses.iter_identifiers()) == ["mse", "mae"]


def test_safe_register_batch_reports_conflicts_per_item():
    Losses.register_artifact(mse)
    report = Losses.safe_register_batch({"mse": mae, "mae": mae})
    assert report["successful"] == ["mae"]
    assert report["failed"] == ["mse"]
    assert "already taken" in report["errors"][0]["error"]


def test_safe_register_batch_without_skip_raises_first_error_keeping_earlier_items():
    with pytest.raises(ValidationError):
        Losses.safe_register_batch({"mse": mse, "cls": int, "mae": mae}, skip_invalid=False)
    assert list(Losses.iter_identifiers()) == ["mse"]


def test_validate_registry_state():
    class Typed(FunctionalRegistry):
        pass

    Typed.register_artifact(mse)
    report = Typed.validate_registry_state()
    assert report["ok"] is True
    assert report["valid"] == ["mse"]
    Typed._strict = True  # the rules tightened after registration
    report = Typed.validate_registry_state()
    assert report["ok"] is False
    assert "mse" in report["invalid"]
    json.dumps(report)


# ------------------------------------------------------------------ modules


def test_register_module_functions_honours_all_and_returns_the_module():
    class Funcs(FunctionalRegistry):
        pass

    assert Funcs.register_module_functions(mathfuncs) is mathfuncs
    assert list(Funcs.iter_identifiers()) == ["add", "scale"]
    assert not Funcs.has_identifier("not_exported")


def test_register_module_functions_without_all_skips_imports():
    class Funcs(FunctionalRegistry):
        pass

    Funcs.register_module_functions(nomodall)
    assert list(Funcs.iter_identifiers()) == ["first", "second"]


def test_register_module_subclasses():
    class Shapes(TypeRegistry[nomodall.Shape], abstract=True):
        pass

    assert Shapes.register_module_subclasses(nomodall) is nomodall
    assert list(Shapes.iter_identifiers()) == ["Square"]

    class AnyClass(TypeRegistry):
        pass

    AnyClass.register_module_subclasses(mathfuncs)
    assert list(AnyClass.iter_identifiers()) == ["Point"]


def test_register_module_subclasses_raises_for_an_exported_class_of_the_wrong_base(tmp_path):
    module = types.ModuleType("plugins_mod")
    exec(
        "class Plugin:\n    pass\n"
        "class Good(Plugin):\n    pass\n"
        "class Stray:\n    pass\n"
        "__all__ = ['Good', 'Stray']\n",
        module.__dict__,
    )

    class Plugins(TypeRegistry[module.Plugin], abstract=True):
        pass

    with pytest.raises(InheritanceError) as info:
        Plugins.register_module_subclasses(module)
    assert info.value.context["module_name"] == "plugins_mod"
    assert info.value.context["operation"] == "register_module_subclasses"
    assert "Inherit from Plugin" in info.value.suggestions
    assert list(Plugins.iter_identifiers()) == ["Good"]  # registered before the failure
    Plugins.clear_artifacts()
    assert Plugins.register_module_subclasses(module, raise_error=False) is module
    assert list(Plugins.iter_identifiers()) == ["Good"]


def test_register_module_callables_and_raise_error():
    class Calls(SchemeRegistry):
        pass

    Calls.register_module_callables(mathfuncs)
    assert list(Calls.iter_identifiers()) == ["add", "Point", "scale"]

    class OnlyClasses(SchemeRegistry):
        pass

    OnlyClasses.register_module_callables(mathfuncs, include_functions=False)
    assert list(OnlyClasses.iter_identifiers()) == ["Point"]

    class OnlyFunctions(SchemeRegistry):
        pass

    OnlyFunctions.register_module_callables(mathfuncs, include_classes=False)
    assert list(OnlyFunctions.iter_identifiers()) == ["add", "scale"]

    class StrictInts(FunctionalRegistry[[int], int], strict=True):
        pass

    with pytest.raises(ValidationError) as info:
        StrictInts.register_module_functions(mathfuncs)
    assert info.value.context["module_name"] == "tests.samples.mathfuncs"
    StrictInts.clear_artifacts()
    StrictInts.register_module_functions(mathfuncs, raise_error=False)
    assert list(StrictInts.iter_identifiers()) == []
    StrictInts.register_module_functions(nomodall, raise_error=False)
    assert list(StrictInts.iter_identifiers()) == ["first", "second"]


def test_register_module_functions_refuses_what_is_not_a_module():
    class Funcs(FunctionalRegistry):
        pass

    with pytest.raises(ValidationError, match="takes a module, got str"):
        Funcs.register_module_functions("tests.samples.mathfuncs")


# ------------------------------------------------------------------ abstract


class ModelInterface(ABC):
    @abstractmethod
    def forward(self, x): ...


class Models(TypeRegistry[ModelInterface], abstract=True):
    pass


def test_abstract_requires_the_base():
    class ConvNet(ModelInterface):
        def forward(self, x):
            return x

    class Stranger:
        def forward(self, x):
            return x

    Models.register_artifact(ConvNet)
    with pytest.raises(InheritanceError) as info:
        Models.register_artifact(Stranger)
    assert "Inherit from ModelInterface" in info.value.suggestions[0]
    assert not Models.has_identifier("Stranger")


def test_abstract_without_a_base_is_refused_at_class_creation():
    with pytest.raises(ValidationError, match="names no base"):

        class Broken(TypeRegistry, abstract=True):
            pass


def test_persistent_keywords_are_validated():
    with pytest.raises(ValidationError, match="logic_namespace"):

        class Bad(FunctionalRegistry, logic_namespace="has space"):
            pass

    with pytest.raises(ValidationError, match="url= without logic_namespace"):

        class AlsoBad(FunctionalRegistry, url="memory://"):
            pass


def test_find_registry_prefers_the_newest_run_of_one_definition_and_refuses_real_ambiguity():
    from registry import find_registry

    def define():
        class Rerun(FunctionalRegistry):
            pass

        return Rerun

    first, second = define(), define()
    assert find_registry("Rerun") is second and first is not second

    class Rerun(FunctionalRegistry):  # a different definition with the same name
        pass

    with pytest.raises(RegistryError, match="Several registries are called 'Rerun'"):
        find_registry("Rerun")
    with pytest.raises(RegistryError, match="No registry called 'Nope'"):
        find_registry("Nope")


def test_unknown_class_keywords_are_named_with_a_suggestion():
    with pytest.raises(ValidationError) as info:

        class Typo(FunctionalRegistry, strcit=True):
            pass

    assert "unknown class keyword(s): strcit" in info.value.message
    assert "Did you mean 'strict'?" in info.value.suggestions


# ------------------------------------------------------------------ strings, hooks, caches


def test_a_string_that_is_no_identifier_is_refused_not_turned_into_a_decorator():
    with pytest.raises(ValidationError) as info:
        Losses.register_artifact("not a function")
    error = info.value
    assert "a string is not a function, class or scheme" in error.message
    assert any("register_artifact(obj)" in hint for hint in error.suggestions)
    assert error.context["operation"] == "register_artifact"
    assert list(Losses.iter_identifiers()) == []


def test_a_decorator_that_is_never_applied_warns():
    with pytest.warns(RuntimeWarning, match=r"register_artifact\('l2'\) was never applied"):
        Losses.register_artifact("l2")
    pending = Losses.register_artifact("l1")
    assert repr(pending) == "<pending registration of 'l1' in Losses>"
    assert pending(mae) is mae
    del pending  # applied: no warning
    assert list(Losses.iter_identifiers()) == ["l1"]


def test_an_identifier_of_override_names_artifacts():
    class Prefixed(FunctionalRegistry):
        @classmethod
        def _identifier_of(cls, item):
            return f"loss_{item.__name__}"

    Prefixed.register_artifact(mse)
    Prefixed.register_module_functions(mathfuncs)
    Prefixed.safe_register_batch({"explicit": mae})
    assert list(Prefixed.iter_identifiers()) == ["loss_mse", "loss_add", "loss_scale", "explicit"]


def typed_loss(y_true: float, y_pred: float) -> float:
    return (y_true - y_pred) ** 2


def typed_gap(y_true: float, y_pred: float) -> float:
    return abs(y_true - y_pred)


def test_validation_cache_counts_expires_and_can_be_turned_off():
    class Cached(FunctionalRegistry, strict=True):
        pass

    assert Cached.validate_artifact(typed_loss) is typed_loss
    assert Cached.validate_artifact(typed_loss) is typed_loss
    Cached.register_artifact(typed_loss)
    stats = Cached.get_validation_stats()
    assert (stats["hits"], stats["misses"], stats["total_entries"]) == (2, 1, 1)
    assert (stats["max_size"], stats["ttl_seconds"]) == (1000, 300.0)
    assert (stats["cached_artifacts"], stats["cached_schemes"]) == (1, 0)
    assert Cached.clear_validation_cache() == 1
    Cached.configure_validation(cache_ttl=0.05)
    Cached.validate_artifact(typed_gap)
    time.sleep(0.1)
    assert Cached.get_validation_stats()["expired_entries"] == 1
    Cached.configure_validation(cache_size=0)
    Cached.validate_artifact(typed_gap)
    assert Cached.get_validation_stats()["total_entries"] == 0

    class Loose(FunctionalRegistry):  # nothing to cache: its checks cost less than a lookup
        pass

    Loose.register_artifact(mse)
    assert Loose.get_validation_stats()["total_entries"] == 0
    for bad in ({"cache_size": -1}, {"cache_size": 1.5}, {"cache_ttl": 0}, {"cache_ttl": "x"}):
        with pytest.raises(ValidationError):
            Cached.configure_validation(**bad)


def test_validate_registry_state_reports_in_the_seed_shape():
    class Typed(FunctionalRegistry):
        pass

    Typed.register_artifact(mse)
    Typed.register_artifact(mae)
    Typed._strict = True  # the rules tightened after registration: the cache is bypassed
    report = Typed.validate_registry_state()
    assert report["total_artifacts"] == 2
    assert [e["key"] for e in report["validation_errors"]] == ["mse", "mae"]
    assert "not annotated" in report["validation_errors"][0]["error"]
    assert report["validation_errors"][0]["suggestions"]
    assert report["warnings"] == []
    assert set(report["cache_stats"]) >= {"total_entries", "max_size", "ttl_seconds"}
    assert report["ok"] is False and set(report["invalid"]) == {"mse", "mae"}
    json.dumps(report)


# ------------------------------------------------------------------ error context


def test_errors_carry_the_seed_context_keys_and_the_names_users_wrote():
    class Plugin:
        pass

    class Plugins(TypeRegistry[Plugin], abstract=True):
        pass

    class Stray:
        pass

    with pytest.raises(InheritanceError) as info:
        Plugins.register_artifact(Stray)
    error = info.value
    assert error.message == "Stray must inherit from Plugin to be registered in Plugins"
    assert "Inherit from Plugin" in error.suggestions
    assert "<locals>" not in str(error)
    context = error.context
    assert (context["expected_type"], context["actual_type"], context["artifact_name"]) == (
        "Plugin",
        "Stray",
        "Stray",
    )
    assert (context["operation"], context["registry_type"], context["key"]) == (
        "register_artifact",
        "TypeRegistry",
        "Stray",
    )
    with pytest.raises(RegistryError) as info:
        Plugins.get_artifact("Strya")
    assert info.value.context["key"] == "Strya"
    assert info.value.context["operation"] == "get_artifact"
    assert info.value.context["registry_type"] == "TypeRegistry"
    with pytest.raises(ValidationError) as info:
        Losses.validate_artifact(Stray)
    assert (info.value.context["expected_type"], info.value.context["actual_type"]) == (
        "function",
        "class",
    )
    assert info.value.context["operation"] == "validate_artifact"
    with pytest.raises(RegistryError) as info:
        Losses.unregister_identifier("ghost")
    assert info.value.context["operation"] == "unregister_identifier"
