"""Migrations: empty -> head, down and up again, models vs. migrations, version checks, backups."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from registry.cli import main as cli_main
from registry.errors import SchemaVersionError
from registry.store import migrate
from registry.store.engines import get_engine
from registry.store.models import metadata
from registry.store.sql import SqlStore
from tests.conftest import run_python, subprocess_env

REPO = Path(__file__).resolve().parents[2]
OUR_TABLES = {"registry_meta", "namespaces", "entries", "heads", "blobs"}

#: A later revision, as the next release of the package would ship it (its parent is replaced
#: by the current head).
NEXT_REVISION = '''"""Add entries.deprecated (test fixture).

Revision ID: 9999_test_next
Revises: {head}
"""
import sqlalchemy as sa
from alembic import op

revision = "9999_test_next"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("deprecated", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("deprecated")
'''


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        migrate.downgrade(url, "base", backup=False)  # the module's database is shared
        return url
    return str(request.getfixturevalue("sqlite_url"))


@pytest.fixture
def next_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Scripts of a package one revision newer than this one."""
    scripts = tmp_path / "next_migrations"
    shutil.copytree(
        migrate.script_location(), scripts, ignore=shutil.ignore_patterns("__pycache__")
    )
    # The next revision follows whatever this package's head is.
    head = migrate.head_revision()
    (scripts / "versions" / "9999_test_next.py").write_text(NEXT_REVISION.format(head=head))
    monkeypatch.setattr(migrate, "script_location", lambda: scripts)
    return scripts


def tables(url: str) -> set[str]:
    return set(inspect(get_engine(url)).get_table_names())


def test_exactly_one_head() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    assert scripts.get_heads() == [migrate.head_revision()]
    assert migrate._quick_head() == migrate.head_revision()


def test_quick_head_agrees_with_alembic(next_release: Path) -> None:
    assert migrate._quick_head() == migrate.head_revision() == "9999_test_next"


def test_opening_a_current_database_does_not_import_alembic(sqlite_url: str) -> None:
    migrate.upgrade(sqlite_url)
    code = (
        "import sys\n"
        "from registry.store import open_store\n"
        f"open_store({sqlite_url!r}).list_namespaces()\n"
        "print('alembic' in sys.modules)\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_revision_files_stand_alone() -> None:
    for path in (migrate.script_location() / "versions").glob("*.py"):
        source = path.read_text()
        assert "import registry" not in source and "from registry" not in source, path


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    assert migrate.check(db_url).status is migrate.SchemaStatus.EMPTY
    state = migrate.upgrade(db_url)
    assert (state.status, state.revision) == (migrate.SchemaStatus.CURRENT, migrate.head_revision())
    assert OUR_TABLES <= tables(db_url)
    assert "registry_alembic_version" in tables(db_url)
    assert "alembic_version" not in tables(db_url)
    with get_engine(db_url).connect() as conn:
        version = conn.execute(text("SELECT library_version FROM registry_meta")).scalar()
    assert version == migrate.library_version()

    assert migrate.downgrade(db_url, "base", backup=False).status is migrate.SchemaStatus.EMPTY
    assert not (OUR_TABLES & tables(db_url))
    assert migrate.upgrade(db_url).status is migrate.SchemaStatus.CURRENT
    assert OUR_TABLES <= tables(db_url)


def test_models_and_migrations_agree(db_url: str) -> None:
    migrate.upgrade(db_url)
    with get_engine(db_url).connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": migrate.VERSION_TABLE, "compare_type": True}
        )
        assert compare_metadata(context, metadata) == []


def test_database_behind_says_run_upgrade(sqlite_url: str, next_release: Path) -> None:
    migrate.upgrade(sqlite_url, "0001_initial")
    with pytest.raises(SchemaVersionError) as caught:
        SqlStore(sqlite_url)
    assert "older than this package" in caught.value.message
    assert any("registry db upgrade" in hint for hint in caught.value.suggestions)
    assert cli_main(["db", "check", "--url", sqlite_url]) == 1


def test_postgres_behind_says_run_upgrade(empty_pg_url: str, next_release: Path) -> None:
    migrate.upgrade(empty_pg_url, "0001_initial")
    with pytest.raises(SchemaVersionError) as caught:
        SqlStore(empty_pg_url)
    assert "older than this package" in caught.value.message
    assert any("registry db upgrade" in hint for hint in caught.value.suggestions)
    assert cli_main(["db", "check", "--url", empty_pg_url]) == 1


def test_database_ahead_says_upgrade_the_package(sqlite_url: str) -> None:
    migrate.upgrade(sqlite_url)
    with get_engine(sqlite_url).begin() as conn:
        conn.execute(text("UPDATE registry_alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaVersionError) as caught:
        SqlStore(sqlite_url)
    assert "newer registry package" in caught.value.message
    assert any("pip install -U lab-registry" in hint for hint in caught.value.suggestions)
    assert cli_main(["db", "check", "--url", sqlite_url]) == 2
    with pytest.raises(SchemaVersionError):
        migrate.upgrade(sqlite_url)  # never "upgrade" a database we do not understand


def test_postgres_ahead_is_refused_too(pg_url: str) -> None:
    migrate.upgrade(pg_url)
    with get_engine(pg_url).begin() as conn:
        conn.execute(text("UPDATE registry_alembic_version SET version_num = '9999_future'"))
    try:
        with pytest.raises(SchemaVersionError, match="newer registry package"):
            SqlStore(pg_url)
    finally:
        with get_engine(pg_url).begin() as conn:
            conn.execute(
                text("UPDATE registry_alembic_version SET version_num = :head"),
                {"head": migrate.head_revision()},
            )


def test_default_file_is_upgraded_after_a_backup(sqlite_url: str, next_release: Path) -> None:
    migrate.upgrade(sqlite_url, "0001_initial")
    store = SqlStore(sqlite_url, auto_upgrade=True)
    assert migrate.check(sqlite_url).revision == "9999_test_next"
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    backups = list(path.parent.glob(f"{path.name}.bak-0001_initial-*"))
    assert len(backups) == 1
    store.close()


def test_default_url_is_a_file_in_the_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry import settings
    from registry.store import close_stores, open_store

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("REGISTRY_URL", raising=False)
    settings.reset()
    url = settings.resolve_url()
    assert url == f"sqlite:///{tmp_path / 'data' / 'registry' / 'registry.db'}"
    assert settings.is_default_url(url)
    store = open_store()
    try:
        assert store is open_store(url)
        assert (tmp_path / "data" / "registry" / "registry.db").is_file()
    finally:
        close_stores()


def test_cli_db_commands(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["db", "check", "--url", sqlite_url]) == 3
    assert cli_main(["db", "upgrade", "--url", sqlite_url]) == 0
    assert cli_main(["db", "check", "--url", sqlite_url]) == 0
    assert cli_main(["db", "current", "--url", sqlite_url]) == 0
    assert migrate.head_revision() in capsys.readouterr().out
    assert cli_main(["db", "downgrade", "base", "--yes", "--url", sqlite_url]) == 0
    assert cli_main(["db", "check", "--url", sqlite_url]) == 3
    assert cli_main(["db", "check", "--url", "postgresql+psycopg://u:secret@127.0.0.1:1/x"]) == 4
    err = capsys.readouterr().err
    assert "Cannot reach the store" in err and "secret" not in err


def test_python_dash_m_registry_db_history() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "registry", "db", "history"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"{migrate.head_revision()} (head)" in done.stdout
    assert "<base> -> 0001_initial" in done.stdout


@pytest.mark.slow
def test_installed_wheel_creates_and_upgrades_a_database(tmp_path: Path) -> None:
    """``pip install`` (not editable) into a fresh venv ships the migrations and they run."""
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(wheels)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("lab_registry-*.whl")
    venv = tmp_path / "venv"
    # A plain venv, as on a user's machine: the wheel brings its dependencies from the index
    # (pip's cache makes this quick after the first run); nothing leaks in from the test venv.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    env = subprocess_env()
    env.pop("PYTHONPATH")
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    probe = subprocess.run(
        [str(python), "-c", "from registry.store import migrate; print(migrate.script_location())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert str(venv) in probe.stdout and "_migrations" in probe.stdout
    compiled = subprocess.run(
        [
            str(python),
            "-c",
            "from registry import speedups; print(speedups.ACTIVE, speedups.REASON)",
        ],
        cwd=tmp_path,
        env={name: value for name, value in env.items() if name != "REGISTRY_NO_SPEEDUPS"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # pip compiled the C extension into the wheel (this machine has a compiler)
    assert compiled.stdout.startswith("True"), compiled.stdout + compiled.stderr
    upgrade = subprocess.run(
        [str(venv / "bin" / "registry"), "db", "upgrade", "--url", url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert migrate.check(url).status is migrate.SchemaStatus.CURRENT
