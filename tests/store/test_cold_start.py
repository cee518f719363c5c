"""A cold process: opening a big namespace and one hit read one row, and SQLAlchemy, alembic and
pydantic are never imported."""

from __future__ import annotations

import json
import textwrap
import uuid

import pytest

from registry.store.base import EntryDraft
from registry.store.sql import SqlStore
from tests.conftest import run_python

ENTRIES = 2_000

COLD = textwrap.dedent(
    """
    import json, sys, threading
    import psycopg, sqlite3

    statements = []

    def seen(sql, params=None):
        if not threading.current_thread().name.startswith("registry-watch"):
            statements.append((str(sql), str(params)))

    # Every statement of this process on either driver (the watcher thread's polls aside).
    connect = sqlite3.connect
    def traced(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(seen)
        return conn
    sqlite3.connect = traced
    execute = psycopg.Connection.execute
    def pg_execute(self, query, params=None, **kwargs):
        seen(query, params)
        return execute(self, query, params, **kwargs)
    psycopg.Connection.execute = pg_execute

    from registry import FunctionalRegistry

    namespace, url = sys.argv[1], sys.argv[2]

    class Shared(FunctionalRegistry, logic_namespace=namespace, url=url):
        pass

    opened = len(statements)
    dumps = Shared.get_artifact("e1234")
    hit = statements[opened:]
    names = list(Shared.iter_identifiers())
    listing = statements[opened + len(hit):]
    heavy = ("sqlalchemy", "alembic", "pydantic", "platformdirs")
    print(json.dumps({
        "restored": dumps([1]) == "[1]",
        "opened": statements[:opened],
        "hit": hit,
        "listing": listing,
        "listed": len(names),
        "modules": sorted({m.partition(".")[0] for m in sys.modules if m.startswith(heavy)}),
    }))
    """
)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


def test_one_hit_reads_one_row_and_imports_no_sqlalchemy(url: str) -> None:
    namespace = f"cold.{uuid.uuid4().hex[:8]}"
    store = SqlStore(url)
    store.ensure_namespace(namespace, "function")
    scheme = {"type": "object", "properties": {"obj": {}}}
    store.register_batch(
        namespace,
        [EntryDraft(f"e{i}", "json:dumps", scheme=scheme) for i in range(ENTRIES)],
    )
    store.close()
    done = run_python(COLD.replace("sys.argv[1], sys.argv[2]", f"{namespace!r}, {url!r}"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["restored"] and report["listed"] == ENTRIES
    assert report["modules"] == []  # the read path runs on the bare driver
    # Opening checks the schema revision and reads the namespace row, no entry.
    assert not [sql for sql, _ in report["opened"] if "heads" in sql or "entries" in sql]
    (hit,) = report["hit"]  # one statement, for that identifier
    assert "e1234" in hit[0] + hit[1]  # SQLite expands the parameters into the text
    (listing,) = report["listing"]
    assert "scheme_json" not in listing[0] and "origin" not in listing[0]  # identifiers only
