"""Shared fixtures: subprocess runner, SQLite files and throw-away PostgreSQL databases.

PostgreSQL comes from ``REGISTRY_TEST_PG_URL`` (default: the local cluster set up by
``.ci/postgres.sh``). Each test module gets its own database, dropped afterwards. When the
server is unreachable, PostgreSQL tests fail under ``CI=true`` and are skipped otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# No test may touch the user's real default store (~/.local/share/registry): point the data
# directory, which subprocesses inherit too, at a throw-away folder.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="registry-tests-data-")
os.environ.pop("REGISTRY_URL", None)
# A subprocess that dies of a signal (a crash inside a C extension) prints every thread's
# Python stack on stderr, which the failing test then shows: one `registry ls` on PostgreSQL
# aborted once with "double free or corruption" and nothing else to go on.
os.environ.setdefault("PYTHONFAULTHANDLER", "1")


def run_python(
    code: str, *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with this checkout's sources first on the path."""
    merged = {**os.environ, **(env or {})}
    merged["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), str(ROOT), merged.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=merged,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def python() -> object:
    return run_python


SRC_DIR = ROOT / "src"
DEFAULT_PG_URL = "postgresql+psycopg://registry:registry@127.0.0.1:5432/registry_test"


def pg_admin_url() -> str:
    return os.environ.get("REGISTRY_TEST_PG_URL", DEFAULT_PG_URL)


def _pg_unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


def _admin_conninfo() -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(pg_admin_url()).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def _create_pg_database() -> str:
    """Create a uniquely named database; return its SQLAlchemy URL (fail/skip if no server)."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"registry_t_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(_admin_conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        _pg_unavailable(str(exc).strip().splitlines()[0])
    return make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    from registry.store import close_stores
    from registry.store.engines import dispose_engine

    close_stores()
    dispose_engine(url)
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        # FORCE cannot end an autovacuum worker (a superuser's process) that a busy test
        # started on this database: it finishes within moments, so try again.
        for attempt in range(50):
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
                return
            except psycopg.errors.InsufficientPrivilege:
                if attempt == 49:
                    raise
                time.sleep(0.1)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test module; dropped at the end."""
    url = _create_pg_database()
    yield url
    _drop_pg_database(url)


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped at the end."""
    url = _create_pg_database()
    yield url
    _drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A new SQLite file URL; its engine is disposed afterwards."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    yield url
    from registry.store import close_stores
    from registry.store.engines import dispose_engine

    close_stores()
    dispose_engine(url)


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for worker processes: this checkout's ``src`` first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC_DIR), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env.update(extra)
    return env
