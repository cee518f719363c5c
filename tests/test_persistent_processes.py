"""Persistent registries across real processes: lazy listing, restore, remote unregister."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import types
import uuid

import pytest

from registry import FunctionalRegistry
from registry.store import open_store
from tests.conftest import subprocess_env
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
