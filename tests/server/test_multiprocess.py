"""Registries in several processes sharing namespaces through one real server process."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import time

import pytest

from registry import FunctionalRegistry, RegistryError

from .conftest import WRITE_TOKEN, LiveServer, child_env

pytestmark = pytest.mark.slow

#: ``open_store`` learns ``sqlite:///`` when the persist branch (SqlStore) is merged.
HAS_SQL_STORE = importlib.util.find_spec("registry.store.sql") is not None


def run_client(code: str, server: LiveServer, timeout: float = 60) -> str:
    """Run ``code`` in a new interpreter with ``URL`` bound to the server; return stdout."""
    prelude = f"URL = {server.url!r}\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        env=child_env({"REGISTRY_TOKEN": WRITE_TOKEN}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_two_client_processes_share_a_namespace(server: LiveServer, namespace: str) -> None:
    run_client(
        f"""
        from registry import FunctionalRegistry
        from tests.samples import mathfuncs
        class Maths(FunctionalRegistry, logic_namespace={namespace!r}, url=URL): ...
        Maths.register_artifact(mathfuncs.add)
        Maths.register_artifact("twice", mathfuncs.scale)
        """,
        server,
    )
    output = run_client(
        f"""
        import sys
        from registry import FunctionalRegistry
        class Maths(FunctionalRegistry, logic_namespace={namespace!r}, url=URL): ...
        names = sorted(Maths.iter_identifiers())
        assert "tests.samples.mathfuncs" not in sys.modules  # listing needs no import
        print(names, Maths.get_artifact("add")(2, 3), Maths.get_artifact("twice")(4))
        """,
        server,
    )
    assert output.strip() == "['add', 'twice'] 5 8.0"


def test_registry_cache_sees_remote_unregister(
    server: LiveServer, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.samples import mathfuncs

    monkeypatch.setenv("REGISTRY_TOKEN", WRITE_TOKEN)  # read by open_store's HttpStore

    class Shared(FunctionalRegistry, logic_namespace=namespace, url=server.url): ...

    Shared.register_artifact(mathfuncs.add)
    assert Shared.get_artifact("add") is mathfuncs.add  # now cached in this process
    started = time.perf_counter()
    run_client(
        f"""
        from registry import FunctionalRegistry
        class Shared(FunctionalRegistry, logic_namespace={namespace!r}, url=URL): ...
        Shared.unregister_identifier("add")
        """,
        server,
    )
    deadline = time.monotonic() + 5
    while "add" in Shared._artifacts and time.monotonic() < deadline:
        time.sleep(0.002)
    assert "add" not in Shared._artifacts, "the remote unregister never reached the cache"
    # Latency including a Python start-up; benchmarks/bench_server.py records the real one.
    assert time.perf_counter() - started < 10
    with pytest.raises(RegistryError):
        Shared.get_artifact("add")


def test_eight_clients_racing_on_one_identifier(server: LiveServer, namespace: str) -> None:
    race_eight_clients(server, namespace)


@pytest.mark.skipif(not HAS_SQL_STORE, reason="needs SqlStore")
def test_eight_clients_racing_across_two_workers(tmp_path, namespace: str) -> None:
    live = LiveServer(f"sqlite:///{tmp_path}/race.db", {WRITE_TOKEN: "write"}, ["--workers", "2"])
    live.start()
    try:
        race_eight_clients(live, namespace)
    finally:
        live.stop()


def race_eight_clients(server: LiveServer, namespace: str) -> None:
    """Eight processes register different artifacts under one identifier at the same instant."""
    setup = run_client(
        f"""
        from registry.store.http import HttpStore
        HttpStore(URL).ensure_namespace({namespace!r}, "function")
        import time; print(time.time() + 2.0)
        """,
        server,
    )
    start_at = float(setup)
    racer = textwrap.dedent(
        f"""
        import sys, time
        from registry.errors import RegistryError
        from registry.store.base import EntryDraft
        from registry.store.http import HttpStore
        store = HttpStore({server.url!r})
        store.generations()  # connect before the start line
        time.sleep(max(0.0, {start_at!r} - time.time()))
        try:
            store.register({namespace!r}, EntryDraft("winner", f"lab.racer{{sys.argv[1]}}:f"))
            print("won")
        except RegistryError:
            print("lost")
        """
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", racer, str(index)],
            env=child_env({"REGISTRY_TOKEN": WRITE_TOKEN}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(8)
    ]
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outcomes.append(out.strip())
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]


@pytest.mark.parametrize(
    "store_url",
    [
        pytest.param(
            "sqlite:///{tmp}/registry.db",
            marks=pytest.mark.xfail(
                not HAS_SQL_STORE,
                reason="needs SqlStore and open_store('sqlite:///...') from the persist branch",
                strict=True,
            ),
            id="sqlite",
        ),
    ],
)
def test_server_restart_keeps_everything(tmp_path, store_url: str) -> None:
    live = LiveServer(store_url.format(tmp=tmp_path), {WRITE_TOKEN: "write"}, [])
    live.start()
    try:
        run_client(
            """
            from registry import FunctionalRegistry
            from tests.samples import mathfuncs
            class Kept(FunctionalRegistry, logic_namespace="lab.kept", url=URL): ...
            Kept.register_artifact(mathfuncs.add)
            """,
            live,
        )
        live.restart()
        output = run_client(
            """
            from registry import FunctionalRegistry
            class Kept(FunctionalRegistry, logic_namespace="lab.kept", url=URL): ...
            print(list(Kept.iter_identifiers()), Kept.get_artifact("add")(1, 2))
            """,
            live,
        )
        assert output.strip() == "['add'] 3"
    finally:
        live.stop()


def test_schemes_and_batches_cross_processes(server: LiveServer, namespace: str) -> None:
    run_client(
        f"""
        from registry import SchemeRegistry
        from tests.samples import mathfuncs
        class Steps(SchemeRegistry, logic_namespace={namespace!r}, url=URL): ...
        report = Steps.safe_register_batch({{"add": mathfuncs.add, "scale": mathfuncs.scale}})
        assert report["successful"] == ["add", "scale"], report
        """,
        server,
    )
    output = run_client(
        f"""
        from registry import SchemeRegistry
        class Steps(SchemeRegistry, logic_namespace={namespace!r}, url=URL): ...
        print(Steps.execute("scale", {{"x": "3"}}), Steps.build_config("add", a=1, b=2))
        print([r.scheme is not None for r in Steps._store.list_entries({namespace!r})])
        """,
        server,
    )
    first, second = output.strip().splitlines()
    assert first == "6.0 a=1 b=2"
    assert second == "[True, True]"


def test_command_line_lists_through_the_server(server: LiveServer, namespace: str) -> None:
    run_client(
        f"""
        from registry.store.http import HttpStore
        from registry.store.base import EntryDraft
        store = HttpStore(URL)
        store.ensure_namespace({namespace!r}, "function")
        store.register({namespace!r}, EntryDraft("add", "tests.samples.mathfuncs:add"))
        """,
        server,
    )
    result = subprocess.run(
        [sys.executable, "-m", "registry", "ls", namespace, "--url", server.url],
        env=child_env({"REGISTRY_TOKEN": WRITE_TOKEN}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "tests.samples.mathfuncs:add" in result.stdout


@pytest.mark.skipif(not HAS_SQL_STORE, reason="needs SqlStore")
def test_two_workers_over_one_sqlite_file(tmp_path) -> None:
    import threading

    from registry.store.base import EntryDraft
    from registry.store.http import HttpStore

    live = LiveServer(f"sqlite:///{tmp_path}/shared.db", None, ["--workers", "2"])
    live.start()
    try:
        # Several connections so both workers take requests; writes through any of them must be
        # seen by watchers whichever worker holds their long-poll.
        watchers = [HttpStore(live.url, watch_timeout=5) for _ in range(4)]
        seen = [threading.Event() for _ in watchers]
        writer = HttpStore(live.url)
        writer.ensure_namespace("lab.workers", "function")
        for watcher, event in zip(watchers, seen):
            watcher.watch(
                lambda names, event=event: (
                    event.set() if names is None or "lab.workers" in names else None
                )
            )
        writer.register("lab.workers", EntryDraft("f", "pkg.mod:f"))
        assert all(event.wait(5) for event in seen)
        for watcher in watchers:
            assert watcher.get_entry("lab.workers", "f") is not None
            watcher.close()
        writer.close()
    finally:
        live.stop()
