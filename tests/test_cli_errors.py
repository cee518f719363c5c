"""Every user mistake on the command line: an ``error:`` line, ``hint:`` lines, the documented
exit code (docs/cli.md), and no traceback unless ``--debug`` asks for one.

All of these run ``registry`` in a real subprocess. Permission cases drop the privileges that
let root ignore file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so they test real
permissions under CI, which runs as root.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

import registry
from registry import FunctionalRegistry, SchemeRegistry
from registry.cli import EXIT_CODES, cli, exit_code_of
from registry.errors import (
    NotFoundError,
    RegistryError,
    SchemaVersionError,
    SettingsError,
    StoreError,
    ValidationError,
)
from registry.store import close_stores
from registry.store.engines import dispose_engine
from tests.conftest import ROOT, subprocess_env
from tests.samples import mathfuncs

#: Run as root, but subject to file modes like any other user.
UNPRIVILEGED = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search,-fowner",
    "--inh-caps=-dac_override,-dac_read_search,-fowner",
]


def run(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    unprivileged: bool = False,
    command: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    full = [*(command or [sys.executable, "-m", "registry"]), *args]
    if unprivileged and os.geteuid() == 0:
        full = [*UNPRIVILEGED, *full]
    return subprocess.run(
        full,
        capture_output=True,
        text=True,
        env=env if env is not None else subprocess_env(),
        cwd=cwd,
        timeout=120,
        check=False,
    )


def assert_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    """One ``error:`` line first, at least one ``hint:`` line, the exit code, no traceback."""
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == code, shown
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), shown
    assert any(line.startswith("  hint: ") for line in lines[1:]), shown
    assert "Traceback" not in result.stderr, shown
    for fragment in fragments:
        assert fragment in result.stderr, shown


def filled_sqlite(path: Path) -> str:
    url = f"sqlite:///{path}"
    namespace = f"cli.{uuid.uuid4().hex[:8]}"
    holder = types.new_class("Held", (SchemeRegistry,), {"logic_namespace": namespace, "url": url})
    holder.register_artifact(mathfuncs.scale)
    close_stores()
    dispose_engine(url)  # the last connection closes: no -wal/-shm files are left beside it
    # ... eventually: twice in the full suite (never alone) they were still there right after,
    # a connection closing in the background (a watcher thread outliving stop()'s 2 s join is
    # the suspect). The read-only check below needs them gone, not gone at once.
    deadline = time.monotonic() + 10
    while list(path.parent.glob(path.name + "-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return namespace


# --------------------------------------------------------------------------- exit codes


def test_exit_codes_come_from_error_classes() -> None:
    assert exit_code_of(NotFoundError("x")) == 3
    assert exit_code_of(RegistryError("'a' is not what you think")) == 1  # wording is irrelevant
    assert exit_code_of(SchemaVersionError("x")) == 4
    assert exit_code_of(StoreError("x")) == 4
    assert exit_code_of(SettingsError("x")) == 2
    assert exit_code_of(ValidationError("x")) == 1
    documented = (ROOT / "docs" / "cli.md").read_text()
    for cls, code in EXIT_CODES:
        assert f"| {code} |" in documented and f"`{cls.__name__}`" in documented


def test_a_conflict_is_not_a_missing_thing(tmp_path: Path) -> None:
    """An identifier or kind conflict exits 1; only a missing thing exits 3."""
    source = f"sqlite:///{tmp_path / 'a.db'}"
    namespace = f"cli.{uuid.uuid4().hex[:8]}"
    functions = types.new_class(
        "Fns", (FunctionalRegistry,), {"logic_namespace": namespace, "url": source}
    )
    functions.register_artifact(mathfuncs.add)
    other = f"sqlite:///{tmp_path / 'b.db'}"
    schemes = types.new_class(
        "Sch", (SchemeRegistry,), {"logic_namespace": namespace, "url": other}
    )
    schemes.register_artifact(mathfuncs.scale)
    close_stores()
    exported = tmp_path / "ns.yaml"
    assert run("--url", source, "export", namespace, "-o", str(exported)).returncode == 0
    clash = run("--url", other, "import", str(exported))
    assert_error(clash, 1, "holds scheme artifacts, not function artifacts")
    assert_error(run("--url", source, "doctor", "nosuch"), 3, "'nosuch' does not exist")
    assert_error(run("--url", source, "show", namespace, "nosuch"), 3, "is not registered")


# --------------------------------------------------------------------------- usage, --debug


def test_usage_mistakes_use_the_same_format() -> None:
    result = run("ls", "--no-such-flag")
    assert_error(result, 2, "No such option", "--no-such-flag", "registry ls --help")
    assert_error(run("nosuchcommand"), 2, "No such command")


def test_an_output_file_that_cannot_be_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    namespace = filled_sqlite(tmp_path / "x.db")
    target = tmp_path / "no" / "such" / "dir" / "out.yaml"
    result = run("--url", url, "export", namespace, "-o", str(target))
    assert_error(result, 1, "No such file or directory", str(target))


def test_debug_shows_the_traceback_before_or_after_the_subcommand(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    for args in (["--debug", "ls"], ["ls", "--debug"], ["doctor", "--debug"]):
        result = run("--url", missing, *args)
        assert result.returncode == 4, result.stderr
        assert "Traceback" in result.stderr and "error: There is no" in result.stderr


def test_version() -> None:
    from importlib.metadata import version

    assert registry.__version__ == version("lab-registry")
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"registry {registry.__version__} (lab-registry)"


# --------------------------------------------------------------------------- settings


def test_bad_environment_values_are_usage_errors() -> None:
    assert_error(
        run("serve", env=subprocess_env(REGISTRY_SERVER_PORT="abc")),
        2,
        "REGISTRY_SERVER_PORT='abc' is not a port number",
    )
    assert_error(
        run("doctor", env=subprocess_env(REGISTRY_ALLOW_PICKLE="maybe", REGISTRY_URL="memory://")),
        2,
        "REGISTRY_ALLOW_PICKLE='maybe' is not a boolean",
    )


def test_doctor_reads_the_pickle_opt_in_as_the_library_does() -> None:
    for spelling in ("1", "true", "YES", "on"):
        env = subprocess_env(REGISTRY_ALLOW_PICKLE=spelling, REGISTRY_URL="memory://")
        result = run("doctor", "--json", env=env)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["pickle_policy"].startswith("loading allowed")
        assert report["environment"]["REGISTRY_ALLOW_PICKLE"] == spelling


def test_doctor_says_which_implementation_serves_the_hot_paths() -> None:
    compiled = run("doctor", env=subprocess_env(REGISTRY_URL="memory://", REGISTRY_NO_SPEEDUPS="0"))
    assert compiled.returncode == 0, compiled.stderr
    assert "hot paths:    the C extension registry._speedups" in compiled.stdout
    env = subprocess_env(REGISTRY_URL="memory://", REGISTRY_NO_SPEEDUPS="1")
    report = json.loads(run("doctor", "--json", env=env).stdout)
    assert report["speedups"] == "pure Python: switched off by REGISTRY_NO_SPEEDUPS"


def test_client_finds_its_server_through_the_seed_variables(tmp_path: Path) -> None:
    from tests.server.conftest import LiveServer

    store_url = f"sqlite:///{tmp_path / 'served.db'}"
    namespace = filled_sqlite(tmp_path / "served.db")
    live = LiveServer(store_url, None, ["--log-level", "warning"])
    live.start()
    try:
        env = subprocess_env(REGISTRY_SERVER_HOST="127.0.0.1", REGISTRY_SERVER_PORT=str(live.port))
        env.pop("REGISTRY_URL", None)
        listing = run("ls", "--json", env=env)
        assert listing.returncode == 0, listing.stderr
        assert [n["name"] for n in json.loads(listing.stdout)] == [namespace]
    finally:
        live.stop()


# --------------------------------------------------------------------------- serve


def test_serve_without_the_server_extra_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['fastapi'] = None  # as if the extra were not installed\n"
        "from registry.cli import main\n"
        "sys.exit(main(['serve', '--url', 'memory://']))\n"
    )
    result = run(command=[sys.executable, "-c", code])
    assert_error(
        result, 2, "needs the 'server' extra", "No module named 'fastapi'", "lab-registry[server]"
    )


def test_serve_refuses_bad_ports_and_tls_files(tmp_path: Path) -> None:
    assert_error(run("serve", "--port", "99999"), 2, "--port", "99999")
    assert_error(run("--port", "99999"), 2, "--port")  # python -m registry --port: same command
    assert_error(run("serve", "--ssl-certfile", "/nope.pem"), 2, "/nope.pem")
    garbage = tmp_path / "cert.pem"
    garbage.write_text("not a certificate\n")
    assert_error(
        run("serve", "--url", "memory://", "--ssl-certfile", str(garbage)),
        2,
        f"Cannot use {garbage} for TLS",
    )


def test_seed_form_and_serve_are_one_command() -> None:
    seed = run("--host", "0.0.0.0", "--port", "1")
    command = run("serve", "--host", "0.0.0.0", "--port", "1")
    assert_error(seed, 2, "Refusing to listen on 0.0.0.0")
    assert (seed.returncode, seed.stderr) == (command.returncode, command.stderr)
    server_help = run("--host", "127.0.0.1", "--help").stdout
    assert "--log-level" in server_help and server_help == run("serve", "--help").stdout


# --------------------------------------------------------------------------- db


def test_db_upgrade_to_an_unknown_revision_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    url = f"sqlite:///{db}"
    filled_sqlite(db)
    before = list(sqlite3.connect(db).iterdump())
    result = run("db", "upgrade", "--to", "nosuchrev", "--url", url)
    assert_error(result, 1, "Unknown schema revision 'nosuchrev'", "0001_initial")
    downgrade = run("db", "downgrade", "nosuchrev", "--yes", "--url", url)
    assert_error(downgrade, 1, "Unknown schema revision 'nosuchrev'")
    assert sorted(p.name for p in tmp_path.iterdir() if ".bak-" in p.name) == []
    assert list(sqlite3.connect(db).iterdump()) == before
    debug = run("db", "upgrade", "--to", "nosuchrev", "--url", url, "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    at_head = run("db", "upgrade", "--url", url)
    assert at_head.returncode == 0, at_head.stderr
    assert "is already at head" in at_head.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if ".bak-" in p.name) == []


def test_db_commands_print_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    filled_sqlite(tmp_path / "x.db")
    current = json.loads(run("db", "current", "--json", "--url", url).stdout)
    assert current["status"] == "current" and current["revision"] == current["head"]
    checked = run("db", "check", "--json", "--url", url)
    assert checked.returncode == 0 and json.loads(checked.stdout)["status"] == "current"
    history = json.loads(run("db", "history", "--json").stdout)
    assert history[0]["is_head"] and history[-1]["down_revision"] is None
    upgraded = json.loads(run("db", "upgrade", "--json", "--url", url).stdout)
    assert upgraded["changed"] is False


# --------------------------------------------------------------------------- store URLs


def test_other_postgresql_drivers_are_refused_with_the_spelling_to_use() -> None:
    env = subprocess_env(REGISTRY_URL="postgresql+psycopg2://me:secret@127.0.0.1:1/lab")
    result = run("ls", env=env)
    assert_error(result, 4, "psycopg 3", "postgresql+psycopg://me:***@127.0.0.1:1/lab")
    assert "secret" not in result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_plain_postgresql_urls_mean_psycopg_3(pg_url: str, scheme: str) -> None:
    from sqlalchemy.engine import make_url

    namespace = f"cli.{uuid.uuid4().hex[:8]}"
    holder = types.new_class("Pg", (SchemeRegistry,), {"logic_namespace": namespace, "url": pg_url})
    holder.register_artifact(mathfuncs.scale)
    plain = make_url(pg_url).set(drivername=scheme).render_as_string(hide_password=False)
    result = run("ls", "--json", env=subprocess_env(REGISTRY_URL=plain))
    assert result.returncode == 0, result.stderr
    assert namespace in [n["name"] for n in json.loads(result.stdout)]


def test_read_only_commands_create_nothing(tmp_path: Path) -> None:
    missing_dir = tmp_path / "nonexistent" / "dir"
    url = f"sqlite:///{missing_dir / 'x.db'}"
    for args in (["ls"], ["show", "a", "b"], ["search", "x"], ["doctor"], ["export", "a"]):
        result = run("--url", url, *args)
        assert_error(result, 4, f"There is no registry store at {missing_dir / 'x.db'}")
    checked = run("--url", url, "db", "check")
    assert (checked.returncode, checked.stdout.split(":")[0]) == (3, "empty")
    assert json.loads(run("--url", url, "db", "current", "--json").stdout)["status"] == "empty"
    assert not (tmp_path / "nonexistent").exists()
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert_error(run("--url", f"sqlite:///{empty}", "ls"), 4, "There is no registry store")


def test_a_directory_that_cannot_be_created(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    exported = tmp_path / "ns.yaml"
    namespace = filled_sqlite(tmp_path / "source.db")
    source = f"sqlite:///{tmp_path / 'source.db'}"
    assert run("--url", source, "export", namespace, "-o", str(exported)).returncode == 0
    target = locked / "sub" / "x.db"
    result = run("--url", f"sqlite:///{target}", "import", str(exported), unprivileged=True)
    assert_error(result, 4, f"The SQLite store {target} cannot be created", "Permission denied")
    assert "database server" not in result.stderr and "credentials" not in result.stderr


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    db = tmp_path / "private.db"
    filled_sqlite(db)
    db.chmod(0o200)
    result = run("--url", f"sqlite:///{db}", "ls", unprivileged=True)
    assert_error(result, 4, f"The SQLite store {db} cannot be read", "Permission denied")
    assert "database server" not in result.stderr


def test_a_read_only_store_can_be_listed_and_read(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    db = shared / "shared.db"
    namespace = filled_sqlite(db)
    assert sorted(p.name for p in shared.iterdir()) == ["shared.db"]
    db.chmod(0o444)
    shared.chmod(0o555)  # no -wal/-shm files can be made beside it either
    url = f"sqlite:///{db}"
    listing = run("--url", url, "ls", namespace, "--json", unprivileged=True)
    assert listing.returncode == 0, listing.stderr
    assert [e["identifier"] for e in json.loads(listing.stdout)] == ["scale"]
    shown = run("--url", url, "show", namespace, "scale", unprivileged=True)
    assert shown.returncode == 0, shown.stderr
    exported = run("--url", url, "export", namespace, unprivileged=True)
    assert exported.returncode == 0, exported.stderr
    document = tmp_path / "renamed.yaml"
    document.write_text(exported.stdout.replace(namespace, namespace + "x"))
    refused = run("--url", url, "import", str(document), unprivileged=True)
    assert_error(refused, 4, "is read-only for this user")
    assert stat.S_IMODE(db.stat().st_mode) == 0o444


# --------------------------------------------------------------------------- --json, drift, --import


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_command_that_prints_data_takes_json() -> None:
    quiet = {"serve", "ui", "schema"}  # servers print logs; schema prints JSON already
    missing = [
        name
        for name, command in _commands(cli)
        if name not in quiet and not any(p.name == "as_json" for p in command.params)
    ]
    assert missing == []


def test_export_and_build_print_json(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    namespace = filled_sqlite(tmp_path / "x.db")
    document = json.loads(run("--url", url, "export", namespace, "--json").stdout)
    assert document["namespace"] == namespace and document["entries"][0]["identifier"] == "scale"
    (tmp_path / "labjson.py").write_text(LAB_MODULE)
    (tmp_path / "run.yaml").write_text('_type: "LabJson:Encoder"\nhidden_dim: "8"\n')
    registry_script = [str(Path(sys.executable).parent / "registry")]
    env = subprocess_env()
    built = run(
        "build", "run.yaml", "--import", "labjson", "--json", env=env, cwd=tmp_path,
        command=registry_script,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout) == {
        "type": "LabJson:Encoder",
        "repr": "Encoder(8)",
        "config": {"_type": "LabJson:Encoder", "hidden_dim": 8},
    }
    dry = run(
        "build", "run.yaml", "--import", "labjson", "--dry-run", "--json", cwd=tmp_path,
        command=registry_script,
    )  # fmt: skip
    assert json.loads(dry.stdout)["valid"] is True


LAB_MODULE = textwrap.dedent(
    """
    from registry import SchemeRegistry

    class Encoder:
        def __init__(self, hidden_dim: int) -> None:
            self.hidden_dim = hidden_dim

        def __repr__(self) -> str:
            return f"Encoder({self.hidden_dim})"

    class LabJson(SchemeRegistry):
        pass

    LabJson.register_artifact(Encoder)
    """
)


def test_build_imports_modules_from_the_current_directory(tmp_path: Path) -> None:
    """The console script, like `python -m`, finds --import modules in the current directory."""
    (tmp_path / "labjson.py").write_text(LAB_MODULE)
    (tmp_path / "run.yaml").write_text('_type: "LabJson:Encoder"\nhidden_dim: 4\n')
    script = [str(Path(sys.executable).parent / "registry")]
    env = subprocess_env()
    assert str(tmp_path) not in env["PYTHONPATH"]
    built = run("build", "run.yaml", "--import", "labjson", cwd=tmp_path, env=env, command=script)
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == "Encoder(4)"
    missing = run("build", "run.yaml", "--import", "nolab", cwd=tmp_path, command=script)
    assert_error(missing, 1, "No module named 'nolab'", "nolab.py")


def test_show_reports_drift_through_editable_installs_and_the_current_directory(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    namespace = f"cli.{uuid.uuid4().hex[:8]}"
    (tmp_path / "labdrift.py").write_text("def metric(x: float) -> float:\n    return x\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import labdrift  # type: ignore[import-not-found]

        from registry.schema_export import entry_schema

        holder = types.new_class(
            "Drift", (FunctionalRegistry,), {"logic_namespace": namespace, "url": url}
        )
        holder.register_artifact(labdrift.metric)
        holder.register_artifact(entry_schema)  # found through the editable install
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("labdrift", None)
    close_stores()
    env = subprocess_env()
    env.pop("PYTHONPATH")  # `registry` comes from the installed package, not from src/
    script = [str(Path(sys.executable).parent / "registry")]
    for name in ("metric", "entry_schema"):
        shown = run("--url", url, "show", namespace, name, cwd=tmp_path, env=env, command=script)
        assert shown.returncode == 0, shown.stderr
        assert "drift:       unchanged" in shown.stdout, (name, shown.stdout)
    (tmp_path / "labdrift.py").write_text("def metric(x: float) -> float:\n    return 2 * x\n")
    shown = run("--url", url, "show", namespace, "metric", cwd=tmp_path, env=env, command=script)
    assert "drift:       changed since version 1" in shown.stdout
