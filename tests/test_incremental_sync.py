"""Incremental sync across real processes, on SQLite and PostgreSQL.

A listener process holds a persistent registry over a namespace of a few hundred entries, with
the listing and some restored artifacts cached. This test process writes (insert, new version,
unregister, clear); the listener must converge to the database's state, and each change must
reach it as a change set holding only what changed, never the whole namespace. The listener is
also frozen (SIGSTOP) while several writes happen, and on PostgreSQL its LISTEN connection is
killed while writes happen: the next catch-up must bring everything.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry import FunctionalRegistry
from registry.store import open_store
from registry.store.base import EntryDraft
from tests.conftest import ROOT, subprocess_env
from tests.samples import mathfuncs

PREFILLED = 300

LISTENER = textwrap.dedent(
    """
    import json, sys, time
    from registry import FunctionalRegistry, RegistryError

    namespace, url = sys.argv[1], sys.argv[2]

    class Shared(FunctionalRegistry, logic_namespace=namespace, url=url):
        pass

    received = []
    Shared._store.watch_changes(namespace, received.append)
    identifiers = list(Shared.iter_identifiers())  # the listing is cached from here on
    for identifier in ("add", "scale"):
        Shared.get_artifact(identifier)
    print(json.dumps({"listed": len(identifiers)}), flush=True)

    for line in sys.stdin:
        command = json.loads(line)
        deadline = time.monotonic() + 15
        view = Shared._store._views[namespace]
        while (view.generation or 0) < command["generation"] and time.monotonic() < deadline:
            time.sleep(0.002)
        changes = [
            {
                "cleared": c.cleared,
                "added": [r.identifier for r in c.added],
                "updated": [[r.identifier, r.version] for r in c.updated],
                "removed": list(c.removed),
            }
            for c in received
            if c is not None
        ]
        reloads = sum(1 for c in received if c is None)
        received.clear()
        restorable = {}
        for identifier in command.get("get", []):
            try:
                Shared.get_artifact(identifier)
                restorable[identifier] = True
            except RegistryError:
                restorable[identifier] = False
        print(json.dumps({
            "generation": view.generation,
            "identifiers": list(Shared.iter_identifiers()),
            "cached": dict(Shared._versions),
            "changes": changes,
            "reloads": reloads,
            "restorable": restorable,
        }), flush=True)
    """
)


class Listener:
    """The listening process, driven over stdin/stdout."""

    def __init__(self, namespace: str, url: str) -> None:
        env = subprocess_env()
        env["PYTHONPATH"] += os.pathsep + str(ROOT)  # restores import tests.samples
        self.process = subprocess.Popen(
            [sys.executable, "-c", LISTENER, namespace, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            assert self.process.stderr is not None
            raise AssertionError("listener died: " + self.process.stderr.read())
        result: dict[str, Any] = json.loads(line)
        return result

    def state_at(self, generation: int, get: list[str] | None = None) -> dict[str, Any]:
        """The listener's state once its view reached ``generation``."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"generation": generation, "get": get or []}) + "\n")
        self.process.stdin.flush()
        state = self._read()
        assert state["generation"] >= generation, state
        return state

    def close(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
        self.process.wait(10)


@pytest.fixture(params=["sqlite", "pg"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def namespace() -> str:
    return f"sync.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def writer(url: str, namespace: str) -> type[FunctionalRegistry]:
    shared = types.new_class(
        "Shared", (FunctionalRegistry,), {"logic_namespace": namespace, "url": url}
    )
    store = open_store(url)
    store.register_batch(
        namespace,
        [EntryDraft(f"e{i}", f"lab.mod:e{i}", source_hash="v1") for i in range(PREFILLED)],
    )
    shared.register_artifact(mathfuncs.add)
    shared.register_artifact(mathfuncs.scale)
    return shared


@pytest.fixture
def listener(writer: type[FunctionalRegistry], namespace: str, url: str) -> Iterator[Listener]:
    process = Listener(namespace, url)
    assert process.ready == {"listed": PREFILLED + 2}
    yield process
    process.close()


def generation(url: str, namespace: str) -> int:
    return open_store(url).generations()[namespace]


def truth(url: str, namespace: str) -> list[str]:
    return [record.identifier for record in open_store(url).inner.list_entries(namespace)]


def new_version_of(url: str, namespace: str, identifier: str, origin: str) -> None:
    """Register ``origin`` again with other source text: a new version, as after an edit."""
    open_store(url).register(
        namespace, EntryDraft(identifier, origin, source_hash=uuid.uuid4().hex)
    )


def wait_until_stopped(pid: int) -> None:
    """SIGSTOP takes effect when the process is next scheduled: wait for its 'T' state."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("T", "t"):
            return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} did not stop")


def changed_records(state: dict[str, Any]) -> int:
    return sum(len(c["added"]) + len(c["updated"]) + len(c["removed"]) for c in state["changes"])


def test_insert_new_version_unregister_and_clear_reach_a_listener(
    writer: type[FunctionalRegistry], listener: Listener, url: str, namespace: str
) -> None:
    writer.register_artifact(mathfuncs.not_exported)
    state = listener.state_at(generation(url, namespace))
    assert state["identifiers"] == truth(url, namespace)
    assert state["identifiers"][-1] == "not_exported"
    assert state["changes"] == [
        {"cleared": False, "added": ["not_exported"], "updated": [], "removed": []}
    ]

    new_version_of(url, namespace, "add", "tests.samples.mathfuncs:add")
    state = listener.state_at(generation(url, namespace))
    assert state["changes"] == [
        {"cleared": False, "added": [], "updated": [["add", 2]], "removed": []}
    ]
    assert "add" not in state["cached"]  # the restored v1 was dropped
    assert state["cached"].get("scale") == 1  # untouched artifacts stay cached

    writer.unregister_identifier("scale")
    state = listener.state_at(generation(url, namespace), get=["scale", "add"])
    assert state["changes"] == [
        {"cleared": False, "added": [], "updated": [], "removed": ["scale"]}
    ]
    assert "scale" not in state["identifiers"] and "scale" not in state["cached"]
    assert state["restorable"] == {"scale": False, "add": True}
    assert state["cached"] == {"add": 2}

    writer.clear_artifacts()
    state = listener.state_at(generation(url, namespace))
    assert [c["cleared"] for c in state["changes"]] == [True]
    assert state["identifiers"] == [] and state["cached"] == {}

    writer.register_artifact(mathfuncs.add)
    state = listener.state_at(generation(url, namespace), get=["add"])
    assert state["identifiers"] == ["add"] == truth(url, namespace)
    assert state["restorable"] == {"add": True}
    assert state["reloads"] == 0  # never fell back to reading the whole namespace


def test_writes_made_while_the_listener_was_frozen_arrive_together(
    writer: type[FunctionalRegistry], listener: Listener, url: str, namespace: str
) -> None:
    os.kill(listener.process.pid, signal.SIGSTOP)  # every signal of these writes is missed
    wait_until_stopped(listener.process.pid)
    try:
        writer.register_artifact(mathfuncs.not_exported)
        new_version_of(url, namespace, "e1", "lab.mod:e1")
        writer.unregister_identifier("e0")
        writer.unregister_identifier("scale")
        writer.register_artifact(mathfuncs.scale)  # back, at the end of the order
        time.sleep(0.3)
    finally:
        os.kill(listener.process.pid, signal.SIGCONT)
    state = listener.state_at(generation(url, namespace), get=["scale"])
    assert state["identifiers"] == truth(url, namespace)
    assert state["identifiers"][-2:] == ["not_exported", "scale"]
    # One catch-up after thawing: the five writes as four changed identifiers.
    assert state["changes"] == [
        {
            "cleared": False,
            "added": ["not_exported", "scale"],
            "updated": [["e1", 2]],
            "removed": ["e0"],
        }
    ]
    assert state["restorable"] == {"scale": True}
    assert state["reloads"] == 0


@pytest.mark.parametrize("url", ["pg"], indirect=True)
def test_writes_made_while_the_listen_connection_was_down_arrive_after_reconnect(
    writer: type[FunctionalRegistry], listener: Listener, url: str, namespace: str
) -> None:
    from sqlalchemy import text

    from registry.store.engines import get_engine

    with get_engine(url).connect() as conn:
        killed = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE :name"
            ),
            {"name": f"watch-registry@%:{listener.process.pid}"},
        ).all()
    assert killed == [(True,)]
    # Written while the listener reconnects (its back-off starts at 0.1 s): those
    # notifications are lost for good; the resync after reconnecting must find the changes.
    writer.register_artifact(mathfuncs.not_exported)
    writer.unregister_identifier("scale")
    state = listener.state_at(generation(url, namespace))
    assert state["identifiers"] == truth(url, namespace)
    assert "scale" not in state["cached"] and state["cached"].get("add") == 1
    assert not any(c["cleared"] for c in state["changes"])
    assert changed_records(state) == 2
    assert state["reloads"] == 0
