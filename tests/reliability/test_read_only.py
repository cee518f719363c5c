"""Read-only consumers: a SELECT-only PostgreSQL role, a read token, a SQLite file the user can
read but not write. Opening, defining the class, listing and ``get_artifact`` (by import path and
from a pickle) all work; only a write raises, with a ``PermissionDeniedError``.

Before, all three failed at class definition, which wrote the namespace row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _admin_conninfo
from tests.reliability.conftest import child_env, run_json
from tests.server.conftest import READ_TOKEN, WRITE_TOKEN, sqlite_live_server

pytestmark = pytest.mark.slow

NAMESPACE = "lab.readonly"

WRITER = f"""
import json
from registry import FunctionalRegistry
from tests.samples.mathfuncs import add, scale

class Ops(FunctionalRegistry, logic_namespace={NAMESPACE!r}):
    pass

Ops.register_artifact(add)
Ops.register_artifact(scale)
Ops.register_artifact("triple", lambda x: 3 * x)  # no import path: stored as a pickle
print(json.dumps(sorted(Ops.iter_identifiers())))
"""

READER = f"""
import json
import registry
from registry import FunctionalRegistry, PermissionDeniedError
from tests.samples import mathfuncs

out = {{}}
opened = registry.open({NAMESPACE!r})
out["opened"] = sorted(opened.iter_identifiers())

class Ops(FunctionalRegistry, logic_namespace={NAMESPACE!r}):
    pass

out["listed"] = list(Ops.iter_identifiers())
out["add"] = Ops.get_artifact("add")(2, 3)
out["triple"] = Ops.get_artifact("triple")(7)
out["history"] = [r.version for r in Ops.history("add")]
Ops.register_artifact(mathfuncs.add)  # what is stored already: nothing to write
out["again"] = Ops.get_artifact("add")(1, 1)

class Fresh(FunctionalRegistry, logic_namespace="lab.never_written"):
    pass

out["fresh"] = list(Fresh.iter_identifiers())

def refused(write):
    try:
        write()
    except PermissionDeniedError as error:
        return error.message
    return "WRITTEN"

out["register"] = refused(lambda: Ops.register_artifact("more", mathfuncs.not_exported))
out["batch"] = refused(lambda: Ops.safe_register_batch({{"m": mathfuncs.not_exported}}))
out["unregister"] = refused(lambda: Ops.unregister_identifier("add"))
out["fresh_register"] = refused(lambda: Fresh.register_artifact(mathfuncs.not_exported))
out["still"] = sorted(registry.open({NAMESPACE!r}).iter_identifiers())
print(json.dumps(out))
"""


def check_reader(out: dict[str, object]) -> None:
    assert out["opened"] == out["still"] == ["add", "scale", "triple"]
    assert out["listed"] == ["add", "scale", "triple"]
    assert (out["add"], out["triple"], out["history"], out["again"]) == (5, 21, [1], 2)
    assert out["fresh"] == []
    for write in ("register", "batch", "unregister", "fresh_register"):
        assert out[write] != "WRITTEN", write


def _read_only_sqlite(tmp_path: Path, *, directory_writable: bool) -> str:
    folder = tmp_path / "shared"
    folder.mkdir()
    url = f"sqlite:///{folder / 'registry.db'}"
    assert run_json(WRITER, env=child_env(REGISTRY_URL=url)) == ["add", "scale", "triple"]
    (folder / "registry.db").chmod(0o444)
    folder.chmod(0o777 if directory_writable else 0o555)
    return url


@pytest.mark.parametrize("directory_writable", [False, True], ids=["snapshot", "live"])
def test_a_read_only_sqlite_file_is_read(tmp_path: Path, directory_writable: bool) -> None:
    url = _read_only_sqlite(tmp_path, directory_writable=directory_writable)
    env = child_env(REGISTRY_URL=url, REGISTRY_ALLOW_PICKLE="1")
    out = run_json(READER, env=env, drop_privileges=True)
    check_reader(out)
    assert "is read-only for this user" in str(out["register"])
    assert "readonly database" in str(out["register"])


def test_the_unprivileged_reader_really_cannot_write(tmp_path: Path) -> None:
    """The experiment can fail: without the read-only file the same reader writes."""
    folder = tmp_path / "shared"
    folder.mkdir()
    url = f"sqlite:///{folder / 'registry.db'}"
    run_json(WRITER, env=child_env(REGISTRY_URL=url))
    probe = (
        "import sqlite3, json; c = sqlite3.connect({!r}); "
        "c.execute('CREATE TABLE IF NOT EXISTS probe(x)'); c.execute('INSERT INTO probe VALUES (1)'); "
        "c.commit(); print(json.dumps('wrote'))"
    )
    assert run_json(probe.format(str(folder / "registry.db")), drop_privileges=True) == "wrote"
    (folder / "registry.db").chmod(0o444)
    other = folder / "other.db"
    with pytest.raises(AssertionError, match="readonly database"):
        run_json(probe.format(str(folder / "registry.db")), drop_privileges=True)
    folder.chmod(0o555)
    with pytest.raises(AssertionError, match="unable to open database file"):
        run_json(probe.format(str(other)), drop_privileges=True)


@pytest.fixture
def select_only_url(pg_url: str) -> Iterator[str]:
    """The module's database filled by the writer, and a role that may only SELECT from it."""
    role, password = f"registry_reader_{uuid.uuid4().hex[:8]}", "reader-password"
    run_json(WRITER, env=child_env(REGISTRY_URL=pg_url))
    database = make_url(pg_url).database
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    owner = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    yield (
        make_url(pg_url).set(username=role, password=password).render_as_string(hide_password=False)
    )
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE usename = %s AND datname = %s",
            (role, database),
        )
        admin.execute(f"DROP ROLE {role}")


def test_a_select_only_postgres_role_reads(select_only_url: str) -> None:
    out = run_json(READER, env=child_env(REGISTRY_URL=select_only_url, REGISTRY_ALLOW_PICKLE="1"))
    check_reader(out)
    assert "permission denied" in str(out["register"])


def test_a_read_token_reads_through_the_server(tmp_path: Path) -> None:
    server = sqlite_live_server(tmp_path)
    server.start()
    try:
        writer_env = child_env(REGISTRY_URL=server.url, REGISTRY_TOKEN=WRITE_TOKEN)
        run_json(WRITER, env=writer_env)
        reader_env = child_env(
            REGISTRY_URL=server.url, REGISTRY_TOKEN=READ_TOKEN, REGISTRY_ALLOW_PICKLE="1"
        )
        out = run_json(READER, env=reader_env)
    finally:
        server.stop()
    check_reader(out)
    assert "read-only" in str(out["register"])
