"""Persistent registries across real processes: lazy listing, restore, remote unregister."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import types
import uuid

import pytest

from registry import FunctionalRegistry
from registry.store import open_store
from tests.conftest import run_python, subprocess_env
from tests.samples import mathfuncs


@pytest.fixture(params=["sqlite", "pg"])
def url(request):
    return request.getfixturevalue(f"{request.param}_url")


def _declare(namespace, url):
    return types.new_class(
        "Shared", (FunctionalRegistry,), {"logic_namespace": namespace, "url": url}
    )


def test_a_new_process_lists_without_importing_and_restores_on_first_get(url, python):
    namespace = f"proc.{uuid.uuid4().hex[:8]}"
    _declare(namespace, url).register_artifact(mathfuncs.add)
    code = textwrap.dedent(
        f"""
        import sys
        from registry import FunctionalRegistry
        class Shared(FunctionalRegistry, logic_namespace={namespace!r}, url={url!r}):
            pass
        print(list(Shared.iter_identifiers()), Shared.has_identifier("add"))
        print("tests.samples.mathfuncs" in sys.modules)
        print(Shared.get_artifact("add")(2, 3))
        print("tests.samples.mathfuncs" in sys.modules)
        """
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:4] == ["['add'] True", "False", "5", "True"]


def test_a_new_process_registering_what_is_stored_loads_no_write_path(url, python):
    """A worker that imports modules registering into persistent registries registers what
    is stored already: one read each, no scheme drafted (pydantic), no SQLAlchemy."""
    namespace = f"proc.{uuid.uuid4().hex[:8]}"
    code = textwrap.dedent(
        f"""
        import json, sys
        from registry import FunctionalRegistry
        from registry.store import open_store
        from tests.samples import mathfuncs
        class Shared(FunctionalRegistry, logic_namespace={namespace!r}, url={url!r}):
            pass
        Shared.register_artifact(mathfuncs.add)
        Shared.register_artifact(mathfuncs.scale)
        print(json.dumps({{
            "loaded": [m for m in ("pydantic", "sqlalchemy") if m in sys.modules],
            "generation": open_store({url!r}).get_namespace({namespace!r}).generation,
            "versions": [r.version for r in Shared.history("add")],
            "add": Shared.get_artifact("add")(2, 3),
        }}))
        """
    )
    runs = []
    for _ in range(2):
        result = python(code)
        assert result.returncode == 0, result.stderr
        runs.append(json.loads(result.stdout))
    assert runs[0]["loaded"] == ["pydantic", "sqlalchemy"]  # the first one wrote
    assert runs[1] == {**runs[0], "loaded": []}


def test_remote_unregister_reaches_a_running_process(url):
    namespace = f"proc.{uuid.uuid4().hex[:8]}"
    writer = _declare(namespace, url)
    writer.register_artifact(mathfuncs.add)
    code = textwrap.dedent(
        f"""
        import sys, time
        from registry import FunctionalRegistry, RegistryError
        class Shared(FunctionalRegistry, logic_namespace={namespace!r}, url={url!r}):
            pass
        Shared.get_artifact("add")
        print("ready", flush=True)
        sys.stdin.readline()          # the parent unregisters, then writes a line
        start = time.perf_counter()
        while time.perf_counter() - start < 10:
            try:
                Shared.get_artifact("add")
            except RegistryError:
                print(f"gone after {{(time.perf_counter() - start) * 1e3:.1f}} ms", flush=True)
                break
            time.sleep(0.001)
        else:
            print("still cached after 10 s", flush=True)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        writer.unregister_identifier("add")
        child.stdin.write("go\n")
        child.stdin.flush()
        line = child.stdout.readline().strip()
        child.wait(timeout=30)
    finally:
        child.kill()
    assert line.startswith("gone after"), line + child.stderr.read()
    print(f"{url.split(':')[0]}: {line}")


def test_eight_processes_race_on_one_identifier_through_registries(url):
    namespace = f"proc.{uuid.uuid4().hex[:8]}"
    _declare(namespace, url)  # create the namespace before the race
    code = textwrap.dedent(
        """
        import sys, time
        from registry import FunctionalRegistry, RegistryError
        index, namespace, url, start_at = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
        class Shared(FunctionalRegistry, logic_namespace=namespace, url=url):
            pass
        scope = {"__name__": f"racer_{index}"}
        exec("def shared(x):\\n    return x\\n", scope)
        time.sleep(max(0.0, start_at - time.time()))
        try:
            Shared.register_artifact(scope["shared"])
            print("won")
        except RegistryError as error:
            print("lost", error.context.get("existing_origin"))
        """
    )
    start_at = time.time() + 3
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(i), namespace, url, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        for i in range(8)
    ]
    outputs = [child.communicate(timeout=60) for child in children]
    lines = [out.strip() for out, _ in outputs]
    assert all(child.returncode == 0 for child in children), [err for _, err in outputs]
    assert lines.count("won") == 1, lines
    winner = open_store(url).get_entry(namespace, "shared").origin
    assert all(line == f"lost {winner}" for line in lines if line != "won")


def test_schemes_need_no_import_in_a_process_that_cannot_import_the_module(url, tmp_path):
    """get_model, build_config and the listing read the stored scheme; only execute imports."""
    namespace = f"proc.{uuid.uuid4().hex[:8]}"
    module_dir = tmp_path / "only_here"
    module_dir.mkdir()
    (module_dir / "labschemes.py").write_text(
        textwrap.dedent(
            """
            def make_sgd(lr: float, momentum: float = 0.9, nesterov: bool = False):
                '''An SGD configuration.'''
                return {"lr": lr, "momentum": momentum, "nesterov": nesterov}
            """
        )
    )
    writer = f"""
import sys
sys.path.insert(0, {str(module_dir)!r})
import labschemes
from registry import SchemeRegistry
class Optimizers(SchemeRegistry, logic_namespace={namespace!r}, url={url!r}):
    pass
Optimizers.register_artifact(labschemes.make_sgd)
"""
    done = run_python(writer)
    assert done.returncode == 0, done.stderr
    reader = f"""
import sys
from registry import RestoreError, SchemeRegistry
class Optimizers(SchemeRegistry, logic_namespace={namespace!r}, url={url!r}):
    pass
print(list(Optimizers.iter_identifiers()))
model = Optimizers.get_model("make_sgd")
print(model.__name__, sorted(model.model_fields), model.__doc__)
config = Optimizers.build_config("make_sgd", lr="0.01")
print(config.lr, config.momentum, config.nesterov)
print("labschemes" in sys.modules)
try:
    Optimizers.execute("make_sgd", config)
except RestoreError as error:
    print("execute:", type(error).__name__, error.context["import_path"])
"""
    done = run_python(reader)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "['make_sgd']",
        "make_sgdConfig ['lr', 'momentum', 'nesterov'] An SGD configuration.",
        "0.01 0.9 False",
        "False",
        "execute: RestoreError labschemes:make_sgd",
    ]


def test_duplicates_are_told_from_re_runs_across_processes(url, tmp_path):
    """The stored place (file:line) lets another process tell a second definition of a name
    from the same definition run again, moved or edited."""
    namespace = f"proc.{uuid.uuid4().hex[:8]}"
    script = f"""
import sys
sys.path.insert(0, sys.argv[1])
from registry import FunctionalRegistry, RegistryError
class Metrics(FunctionalRegistry, logic_namespace={namespace!r}, url={url!r}):
    pass
try:
    import labmetrics
    print("ok", [(r.version, r.source_line) for r in Metrics.history("score")])
except RegistryError as error:
    print("refused", error.context["existing_place"], error.context["new_place"])
"""

    def run(folder: str, source: str) -> str:
        where = tmp_path / folder
        where.mkdir()
        (where / "labmetrics.py").write_text(textwrap.dedent(source))
        done = subprocess.run(
            [sys.executable, "-c", script, str(where)],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().replace(f"{tmp_path}/", "")

    header = "from __main__ import Metrics\n\n"
    first = header + "@Metrics.register_artifact\ndef score(x):\n    return x\n"
    assert run("a", first) == "ok [(1, 3)]"
    assert run("b", first) == "ok [(1, 3)]"  # the same definition in another process
    twice = first + "\n\n@Metrics.register_artifact\ndef score(x):\n    return 2 * x\n"
    assert run("c", twice) == "refused a/labmetrics.py:3 c/labmetrics.py:8"
    moved = (
        header + "import math\n\n\n@Metrics.register_artifact\ndef score(x):\n    return 3 * x\n"
    )
    assert run("d", moved) == "ok [(1, 3), (2, 6)]"
