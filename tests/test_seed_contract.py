"""The seed document (../shared/seed/README.md), read as a contract.

Each section follows the seed's README in order and uses its spelling: code written against the
seed runs unchanged and gets the documented result. Where we retired something on purpose (the
``rpc`` protocol, loading pickles without an opt-in, an open server on 0.0.0.0), the test shows
the documented replacement; docs/getting-started.md ("Coming from the seed") says why.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
import types
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from registry import (
    ConformanceError,
    FunctionalRegistry,
    InheritanceError,
    RegistryError,
    SchemeRegistry,
    TypeRegistry,
    ValidationError,
)
from tests.conftest import ROOT, run_python, subprocess_env

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class Vector:
    """Just enough of an array for the seed's loss examples."""

    def __init__(self, *values: float) -> None:
        self.values = values

    def __sub__(self, other: Vector) -> Vector:
        return Vector(*(a - b for a, b in zip(self.values, other.values, strict=True)))

    def __pow__(self, power: int) -> Vector:
        return Vector(*(v**power for v in self.values))

    def __abs__(self) -> Vector:
        return Vector(*(abs(v) for v in self.values))

    def mean(self) -> float:
        return sum(self.values) / len(self.values)


y_true, y_pred = Vector(1.0, 2.0, 3.0), Vector(1.0, 2.0, 5.0)


# ----------------------------------------------------------------------------- Installation


def test_installation_extras_remote_is_there() -> None:
    """The seed's `pip install registry[remote]`: the extra exists and brings the server it talks
    to. The distribution is `lab-registry`: `registry` on the package index is another project."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "lab-registry"
    assert "remote" in project["optional-dependencies"]
    assert project["optional-dependencies"]["remote"] == ["lab-registry[server]"]


# ----------------------------------------------------------------------- 1. Function Registry


def test_quick_start_function_registry(capsys: pytest.CaptureFixture[str]) -> None:
    class MyFunctions(FunctionalRegistry):
        """Registry of loss functions."""

        pass

    @MyFunctions.register_artifact
    def mse(y_true, y_pred):
        """Mean squared error."""
        return ((y_true - y_pred) ** 2).mean()

    @MyFunctions.register_artifact
    def mae(y_true, y_pred):
        """Mean absolute error."""
        return abs(y_true - y_pred).mean()

    # Retrieve and use
    loss_fn = MyFunctions.get_artifact("mse")
    result = loss_fn(y_true, y_pred)

    # Iterate all registered functions
    for name in MyFunctions.iter_identifiers():
        print(f"Available loss: {name}")

    assert loss_fn is mse
    assert result == pytest.approx(4 / 3)
    assert capsys.readouterr().out == "Available loss: mse\nAvailable loss: mae\n"


# --------------------------------------------------------------------------- 2. Type Registry


def test_quick_start_type_registry() -> None:
    class ModelInterface(ABC):
        @abstractmethod
        def forward(self, x):
            pass

        @abstractmethod
        def backward(self, grad):
            pass

    class Models(TypeRegistry[ModelInterface], abstract=True):
        """Registry of model implementations."""

        pass

    class ConvNet(ModelInterface):
        def __init__(self, in_channels: int, out_channels: int):
            self.in_channels = in_channels
            self.out_channels = out_channels

        def forward(self, x): ...
        def backward(self, grad): ...

    Models.register_artifact(ConvNet)
    model = Models.get_artifact("ConvNet")(in_channels=3, out_channels=64)

    assert isinstance(model, ConvNet)
    assert (model.in_channels, model.out_channels) == (3, 64)


# ------------------------------------------------------------------------- 3. Scheme Registry


class Configurations(SchemeRegistry):
    """Registry of config schemes."""

    pass


def create_optimizer(learning_rate: float, momentum: float = 0.9):
    """Create optimizer with given parameters."""
    return {"lr": learning_rate, "momentum": momentum}


Configurations.register_artifact(create_optimizer)


def test_quick_start_scheme_registry() -> None:
    # Build validated config
    config = Configurations.build_config("create_optimizer", learning_rate=0.01)
    assert repr(config) == "create_optimizerConfig(learning_rate=0.01, momentum=0.9)"

    # Execute with validation
    optimizer = Configurations.execute("create_optimizer", config)
    assert optimizer == {"lr": 0.01, "momentum": 0.9}


# -------------------------------------------------------------------------- Storage Backends


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def seed_server(tmp_path: Path) -> Iterator[str]:
    """`python -m registry.__main__ --host ... --port 8001`, on 127.0.0.1 and a free port."""
    port = _free_port()
    store = f"sqlite:///{tmp_path / 'server.db'}"
    command = [sys.executable, "-m", "registry.__main__", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--url", store, "--log-level", "warning"]
    server = subprocess.Popen(command, env=subprocess_env())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "the server exited"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start within 30 s"
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_storage_backends_distributed_registry(seed_server: str) -> None:
    """A registry with logic_namespace= syncs through the server a client is pointed at."""
    namespace = f"my.research.functions.{uuid.uuid4().hex[:8]}"
    client = textwrap.dedent(
        f"""
        import os
        from registry import FunctionalRegistry
        from tests.samples.mathfuncs import add as my_function

        class DistributedRegistry(FunctionalRegistry, logic_namespace={namespace!r}):
            \"\"\"Synced across network via central registry server.\"\"\"
            pass

        if os.environ["ROLE"] == "write":
            DistributedRegistry.register_artifact(my_function)
        print(list(DistributedRegistry.iter_identifiers()),
              DistributedRegistry.get_artifact("add")(2, 3))
        """
    )
    for role in ("write", "read"):
        done = run_python(client, env={"REGISTRY_URL": seed_server, "ROLE": role})
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "['add'] 5"


def test_an_open_server_on_all_interfaces_needs_tokens_or_insecure() -> None:
    """Replacement: the seed's `--host 0.0.0.0` without tokens would let anyone write."""
    done = subprocess.run(
        [sys.executable, "-m", "registry.__main__", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "--token-file" in done.stderr and "--insecure" in done.stderr


# ------------------------------------------------------------- Validation & Error Handling


def test_validation_and_error_handling(capsys: pytest.CaptureFixture[str]) -> None:
    class StrictModels(TypeRegistry, strict=True):
        """Registry with signature enforcement."""

        pass

    class IncorrectClass:
        def __init__(self, width, height):
            self.width, self.height = width, height

    # This will raise ConformanceError if doesn't match protocol
    try:
        StrictModels.register_artifact(IncorrectClass)
    except (ValidationError, InheritanceError) as e:
        print(e.message)
        print(e.suggestions)
        print(e.context)
        caught = e

    assert isinstance(caught, ConformanceError)
    printed = capsys.readouterr().out
    assert "IncorrectClass does not conform to StrictModels" in printed
    assert "width, height" in printed
    assert caught.context["artifact_name"] == "IncorrectClass"
    assert caught.context["operation"] == "register_artifact"
    assert caught.context["registry_type"] == "TypeRegistry"
    assert not StrictModels.has_identifier("IncorrectClass")


def test_inheritance_error_suggests_inheriting_from_the_base() -> None:
    class Plugin:
        pass

    Plugins = types.new_class("Plugins", (TypeRegistry[Plugin],), {"abstract": True})

    class NotAPlugin:
        pass

    with pytest.raises(InheritanceError) as info:
        Plugins.register_artifact(NotAPlugin)
    e = info.value
    assert "Inherit from Plugin" in e.suggestions
    assert e.message == "NotAPlugin must inherit from Plugin to be registered in Plugins"
    assert (e.context["expected_type"], e.context["actual_type"]) == ("Plugin", "NotAPlugin")
    assert e.context["artifact_name"] == "NotAPlugin"
    assert e.context["key"] == "NotAPlugin"


def test_error_context_keys_of_a_failed_lookup() -> None:
    with pytest.raises(RegistryError) as info:
        Configurations.get_artifact("create_optimiser")
    context = info.value.context
    assert context["key"] == "create_optimiser"
    assert context["operation"] == "get_artifact"
    assert context["registry_type"] == "SchemeRegistry"
    assert any("create_optimizer" in hint for hint in info.value.suggestions)


def test_duplicates_are_prevented_by_default() -> None:
    class Losses(FunctionalRegistry):
        pass

    def mse(y_true, y_pred):
        return ((y_true - y_pred) ** 2).mean()

    first = mse

    def mse(y_true, y_pred):  # a second definition of the same name
        return abs(y_true - y_pred).mean()

    Losses.register_artifact(first)
    Losses.register_artifact(first)  # the same definition again is no duplicate
    with pytest.raises(RegistryError) as info:
        Losses.register_artifact(mse)
    assert f"{__file__}:" in info.value.message
    assert info.value.context["existing_place"] != info.value.context["new_place"]
    assert Losses.get_artifact("mse") is first


# ------------------------------------------------------------------- registration, the seed way


def test_a_string_is_not_an_artifact() -> None:
    class Losses(FunctionalRegistry):
        pass

    with pytest.raises(ValidationError, match="a string is not a function, class or scheme"):
        Losses.register_artifact("not a function")
    assert list(Losses.iter_identifiers()) == []


def test_identifier_of_hook_names_artifacts() -> None:
    class Upper(FunctionalRegistry):
        @classmethod
        def _identifier_of(cls, item):
            return item.__name__.upper()

    def relu(x):
        return max(x, 0)

    Upper.register_artifact(relu)
    assert Upper.get_artifact("RELU") is relu


def test_register_module_members_return_the_module() -> None:
    from tests.samples import mathfuncs, nomodall

    class Functions(FunctionalRegistry):
        pass

    class Shapes(TypeRegistry[nomodall.Shape], abstract=True):
        pass

    class Callables(SchemeRegistry):
        pass

    assert Functions.register_module_functions(mathfuncs, raise_error=True) is mathfuncs
    assert Shapes.register_module_subclasses(nomodall, raise_error=True) is nomodall
    assert (
        Callables.register_module_callables(
            mathfuncs, raise_error=True, include_functions=True, include_classes=False
        )
        is mathfuncs
    )
    assert list(Functions.iter_identifiers()) == ["add", "scale"]
    assert list(Shapes.iter_identifiers()) == ["Square"]
    assert list(Callables.iter_identifiers()) == ["add", "scale"]


def test_a_public_class_of_the_wrong_base_raises_with_the_module_name() -> None:
    module = types.ModuleType("lab_plugins")
    exec("class Plugin: pass\nclass Stray: pass\n__all__ = ['Stray']\n", module.__dict__)
    Plugins = types.new_class("Plugins", (TypeRegistry[module.Plugin],), {"abstract": True})
    with pytest.raises(InheritanceError) as info:
        Plugins.register_module_subclasses(module, raise_error=True)
    assert info.value.context["module_name"] == "lab_plugins"
    assert Plugins.register_module_subclasses(module, raise_error=False) is module
    assert list(Plugins.iter_identifiers()) == []


def test_batch_operations_and_registry_state() -> None:
    class Metrics(FunctionalRegistry):
        pass

    def accuracy(y_true, y_pred):
        return 1.0

    report = Metrics.safe_register_batch({"accuracy": accuracy, "bad": 3})
    assert (report["successful"], report["failed"], report["total"]) == (["accuracy"], ["bad"], 2)
    assert {"key", "error", "suggestions", "context"} <= set(report["errors"][0])
    results = Metrics.batch_validate({"accuracy": accuracy, "bad": 3})
    assert results["accuracy"] is True and isinstance(results["bad"], ValidationError)

    state = Metrics.validate_registry_state()
    assert state["total_artifacts"] == 1
    assert state["validation_errors"] == []
    assert state["warnings"] == []
    assert {"total_entries", "active_entries", "expired_entries", "max_size", "ttl_seconds"} <= set(
        state["cache_stats"]
    )


def test_validation_cache_calls() -> None:
    class Metrics(FunctionalRegistry, strict=True):
        pass

    def accuracy(y_true: list[int], y_pred: list[int]) -> float:
        return 1.0

    Metrics.configure_validation(cache_size=500, cache_ttl=600)
    Metrics.register_artifact(accuracy)
    Metrics.validate_artifact(accuracy)
    stats = Metrics.get_validation_stats()
    assert (stats["max_size"], stats["ttl_seconds"], stats["total_entries"]) == (500, 600.0, 1)
    assert stats["hits"] == 1
    assert Metrics.clear_validation_cache() == 1
    assert Metrics.get_validation_stats()["total_entries"] == 0


def test_parameters_named_like_pydantic_internals() -> None:
    class Experiments(SchemeRegistry):
        pass

    def log_experiment(experiment_name: str, model_config: dict):
        return experiment_name, model_config

    Experiments.register_artifact(log_experiment)
    result = Experiments.execute(
        "log_experiment", {"experiment_name": "a", "model_config": {"k": 1}}
    )
    assert result == ("a", {"k": 1})
    assert (
        "model_config" in Experiments.get_model("log_experiment").model_json_schema()["properties"]
    )


# --------------------------------------------------------------------------- factorization


class Optimizers(SchemeRegistry):
    pass


def make_sgd(lr: float, momentum: float = 0.0):
    return {"optimizer": "sgd", "lr": lr, "momentum": momentum}


Optimizers.register_artifact(make_sgd)


def test_factorize_artifact_with_positional_values() -> None:
    assert Optimizers.factorize_artifact("make_sgd", 0.1) == {
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.0,
    }
    assert Optimizers.factorize_artifact("make_sgd", lr="0.5", momentum=0.9)["lr"] == 0.5


@pytest.mark.parametrize("suffix", ["json", "yaml", "toml"])
def test_factorize_from_file_with_filepath(tmp_path: Path, suffix: str) -> None:
    filepath = tmp_path / f"sgd.{suffix}"
    filepath.write_text({"json": '{"lr": 0.1}', "yaml": "lr: 0.1\n", "toml": "lr = 0.1\n"}[suffix])
    assert Optimizers.factorize_from_file("make_sgd", filepath=filepath)["lr"] == 0.1
    assert Optimizers.factorize_from_file("make_sgd", filepath=str(filepath))["lr"] == 0.1


@pytest.fixture
def config_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"lr": 0.2, "momentum": 0.5}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/configs"
    server.shutdown()
    server.server_close()


def test_factorize_from_socket_with_socket_config(config_server: str) -> None:
    built = Optimizers.factorize_from_socket(
        "make_sgd", socket_config={"url": config_server, "timeout": 5}, protocol="http"
    )
    assert built == {"optimizer": "sgd", "lr": 0.2, "momentum": 0.5}


def test_the_rpc_protocol_is_retired_for_http(config_server: str) -> None:
    with pytest.raises(RegistryError) as info:
        Optimizers.factorize_from_socket(
            "make_sgd", socket_config={"url": config_server}, protocol="rpc"
        )
    assert "'rpc' protocol is retired" in info.value.message
    assert any("protocol='http'" in hint for hint in info.value.suggestions)


# ------------------------------------------------------------------ persistence, replacements


def test_unsafe_pickling_is_replaced_by_import_paths_and_an_opt_in(tmp_path: Path) -> None:
    """Importable artifacts are stored as import paths; a lambda is pickled, and loading it in
    another process needs REGISTRY_ALLOW_PICKLE=1."""
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    namespace = f"seed.{uuid.uuid4().hex[:8]}"
    writer = textwrap.dedent(
        f"""
        from registry import FunctionalRegistry
        from registry.store import open_store
        from tests.samples.mathfuncs import add
        class Ops(FunctionalRegistry, logic_namespace={namespace!r}, url={url!r}):
            pass
        Ops.register_artifact(add)
        Ops.register_artifact("double", lambda x: 2 * x)
        for record in open_store({url!r}).list_entries({namespace!r}):
            print(record.identifier, record.origin, record.blob_sha256 is not None)
        """
    )
    done = run_python(writer)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "add tests.samples.mathfuncs:add False",
        "double __main__:<lambda> True",
    ]
    reader = textwrap.dedent(
        f"""
        from registry import FunctionalRegistry, RestoreError
        class Ops(FunctionalRegistry, logic_namespace={namespace!r}, url={url!r}):
            pass
        print(Ops.get_artifact("add")(2, 3))
        try:
            print(Ops.get_artifact("double")(4))
        except RestoreError as error:
            print("refused:", "REGISTRY_ALLOW_PICKLE" in str(error))
        """
    )
    refused = run_python(reader)
    assert refused.returncode == 0, refused.stderr
    assert refused.stdout.splitlines() == ["5", "refused: True"]
    allowed = run_python(reader, env={"REGISTRY_ALLOW_PICKLE": "1"})
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.splitlines() == ["5", "8"]
