"""The `registry` command, driven as a subprocess against real stores."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import types
import uuid

import pytest

from registry import SchemeRegistry
from registry.store import open_store
from registry.store.base import EntryDraft
from tests.conftest import subprocess_env
from tests.samples import mathfuncs


def run(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["--url", url] if url else []
    return subprocess.run(
        [sys.executable, "-m", "registry", *prefix, *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
        check=False,
    )


@pytest.fixture(params=["sqlite", "pg"])
def url(request):
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def filled(url):
    namespace = f"cli.{uuid.uuid4().hex[:8]}"
    registry_class = types.new_class(
        "Cfg", (SchemeRegistry,), {"logic_namespace": namespace, "url": url}
    )
    registry_class.register_artifact(mathfuncs.scale)
    registry_class.register_artifact(mathfuncs.Point)
    return url, namespace


def test_ls_namespaces_and_entries(filled):
    url, namespace = filled
    listing = run("ls", url=url)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[0].split() == ["NAMESPACE", "KIND", "SIZE"]
    assert any(line.split() == [namespace, "scheme", "2"] for line in listing.stdout.splitlines())
    assert "\x1b[" not in listing.stdout  # no colour when piped
    entries = run("ls", namespace, "--json", url=url)
    data = json.loads(entries.stdout)
    assert [e["identifier"] for e in data] == ["scale", "Point"]
    assert data[0]["import_path"] == "tests.samples.mathfuncs:scale"
    assert data[0]["version"] == 1 and "@" in data[0]["created_by"]


def test_show_without_importing(filled):
    url, namespace = filled
    result = run("show", namespace, "scale", url=url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "import path: tests.samples.mathfuncs:scale" in out
    place = (inspect.getsourcefile(mathfuncs.scale), inspect.getsourcelines(mathfuncs.scale)[1])
    assert "defined in:  {}:{}".format(*place) in out
    assert "signature:   scale(x: float, factor: float = 2.0) -> float" in out
    assert "drift:       unchanged" in out
    rows = [line.split() for line in out.splitlines()]
    assert ["x", "float", "yes"] in rows  # the field table of the web page's entry page
    assert ["factor", "float", "2.0", "no"] in rows
    data = json.loads(run("show", namespace, "scale", "--json", url=url).stdout)
    assert data["drift"] == "unchanged" and [v["version"] for v in data["versions"]] == [1]
    assert (data["source_file"], data["source_line"]) == place


def test_missing_things_give_one_line_and_exit_3(filled):
    url, namespace = filled
    result = run("show", namespace, "scal", url=url)
    assert result.returncode == 3
    assert result.stderr.splitlines()[0] == f"error: 'scal' is not registered in {namespace!r}"
    assert "Did you mean 'scale'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert run("ls", namespace + "x", url=url).returncode == 3


def test_search_and_schema(filled, tmp_path):
    url, namespace = filled
    found = run("search", "POINT", "--json", url=url)
    hits = [h["identifier"] for h in json.loads(found.stdout) if h["namespace"] == namespace]
    assert hits == ["Point"]  # the PostgreSQL database is shared by this module's tests
    target = tmp_path / "scale.schema.json"
    assert run("schema", namespace, "scale", "-o", str(target), url=url).returncode == 0
    schema = json.loads(target.read_text())
    assert schema["properties"]["_type"] == {
        "const": "scale",
        "description": "builds tests.samples.mathfuncs:scale",
    }
    assert schema["required"] == ["x"]
    combined = json.loads(run("schema", namespace, "--all", url=url).stdout)
    assert [v["properties"]["_type"]["const"] for v in combined["oneOf"]] == ["scale", "Point"]
    assert run("schema", namespace, url=url).returncode == 2  # neither NAME nor --all


def test_export_import_round_trip_gives_identical_listings(filled, tmp_path):
    url, namespace = filled
    exported = tmp_path / "ns.yaml"
    assert run("export", namespace, "-o", str(exported), url=url).returncode == 0
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    imported = run("import", str(exported), "--json", url=target)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["imported"] == ["scale@1", "Point@1"]
    original = json.loads(run("ls", namespace, "--json", url=url).stdout)
    copied = json.loads(run("ls", namespace, "--json", url=target).stdout)
    assert copied == original
    again = json.loads(run("import", str(exported), "--json", url=target).stdout)
    assert again["imported"] == [] and again["unchanged"] == ["scale@1", "Point@1"]


def test_import_reports_conflicts_instead_of_overwriting(filled, tmp_path):
    url, namespace = filled
    exported = tmp_path / "ns.yaml"
    run("export", namespace, "-o", str(exported), url=url)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    clash = types.new_class(
        "Clash", (SchemeRegistry,), {"logic_namespace": namespace, "url": other}
    )
    clash.register_artifact("scale", mathfuncs.add)
    result = run("import", str(exported), url=other)
    assert result.returncode == 1
    assert "1 conflicts" in result.stdout
    assert "conflict: scale" in result.stderr
    assert open_store(other).get_entry(namespace, "scale").origin == "tests.samples.mathfuncs:add"


def test_doctor_reports_unimportable_artifacts(filled):
    url, namespace = filled
    healthy = run("doctor", namespace, url=url)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "2 checked, 0 with problems" in healthy.stdout
    open_store(url).register(
        namespace, EntryDraft(identifier="ghost", origin="vanished_pkg.mod:ghost")
    )
    sick = run("doctor", namespace, "--json", url=url)
    assert sick.returncode == 1
    report = json.loads(sick.stdout)
    assert [p["identifier"] for p in report["problems"]] == ["ghost"]
    assert "vanished_pkg.mod" in report["problems"][0]["problem"]


def test_unreachable_store_and_bad_arguments():
    down = run("ls", url="postgresql+psycopg://nobody:secret@127.0.0.1:1/nowhere")
    assert down.returncode == 4
    assert down.stderr.startswith("error: ")
    assert "secret" not in down.stderr and "Traceback" not in down.stderr
    assert run("ls", "--no-such-flag").returncode == 2
    debug = run("--debug", "ls", url="postgresql+psycopg://nobody:secret@127.0.0.1:1/nowhere")
    assert "Traceback" in debug.stderr


def test_help_lists_every_command():
    result = run("--help")
    for command in (
        "ls",
        "show",
        "search",
        "schema",
        "export",
        "import",
        "doctor",
        "build",
        "serve",
        "db",
    ):
        assert f"  {command}" in result.stdout


LAB_MODULE = """
from registry import SchemeRegistry

class Encoder:
    def __init__(self, hidden_dim: int, num_layers: int = 3) -> None:
        self.hidden_dim, self.num_layers = hidden_dim, num_layers

    def __repr__(self) -> str:
        return f"Encoder({self.hidden_dim}, {self.num_layers})"

def make_run(model: Encoder, epochs: int = 1) -> dict:
    with open("side-effect.txt", "a") as handle:
        handle.write("built\\n")
    return {"model": model, "epochs": epochs}

class CliExp(SchemeRegistry):
    pass

CliExp.register_artifact(Encoder)
CliExp.register_artifact(make_run)
"""


def run_in(directory, *args):
    env = subprocess_env()
    env["PYTHONPATH"] = f"{directory}{__import__('os').pathsep}{env['PYTHONPATH']}"
    return subprocess.run(
        [sys.executable, "-m", "registry", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=directory,
        timeout=120,
        check=False,
    )


def test_build_dry_run_and_errors(tmp_path):
    (tmp_path / "cli_lab.py").write_text(LAB_MODULE)
    (tmp_path / "run.yaml").write_text(
        '_type: "CliExp:make_run"\nmodel: {_type: Encoder, hidden_dim: "256"}\nepochs: 3\n'
    )
    (tmp_path / "bad.yaml").write_text(
        '_type: "CliExp:make_run"\nmodel: {_type: Encodr, hidden_dim: 1}\n'
    )
    (tmp_path / "rootless.yaml").write_text("epochs: 3\n")
    built = run_in(tmp_path, "build", "run.yaml", "--import", "cli_lab")
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == "{'model': Encoder(256, 3), 'epochs': 3}"
    assert (tmp_path / "side-effect.txt").read_text() == "built\n"
    dry = run_in(tmp_path, "build", "run.yaml", "--import", "cli_lab", "--dry-run")
    assert dry.returncode == 0 and "valid config" in dry.stdout
    bad = run_in(tmp_path, "build", "bad.yaml", "--import", "cli_lab")
    assert bad.returncode == 3
    assert "'Encodr' is not registered in CliExp (at 'model._type')" in bad.stderr
    assert "Did you mean 'Encoder'?" in bad.stderr
    assert (tmp_path / "side-effect.txt").read_text() == "built\n"  # nothing ran for the bad config
    rootless = run_in(tmp_path, "build", "rootless.yaml")
    assert rootless.returncode == 1 and "top-level _type" in rootless.stderr
    saved = run_in(tmp_path, "build", "run.yaml", "--import", "cli_lab", "-o", "out.json")
    assert saved.returncode == 0, saved.stderr
    written = json.loads((tmp_path / "out.json").read_text())
    assert (
        written["_type"] == "CliExp:make_run"
    )  # make_run returns a dict: its input config is kept
    rebuilt = run_in(tmp_path, "build", "out.json", "--import", "cli_lab")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout == built.stdout


def test_seed_server_form_and_serve_refuse_exposed_host_without_tokens():
    exposed = run("--host", "0.0.0.0", "--port", "1")
    assert exposed.returncode == 2
    assert "token" in exposed.stderr.lower()
    via_command = run("serve", "--host", "0.0.0.0", "--port", "1")
    assert via_command.returncode != 0 and "token" in via_command.stderr.lower()
