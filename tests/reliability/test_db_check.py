"""``registry db check`` checks the schema and the file, not just the revision (item 8).

Before: it said "current" after a dropped column, an added column, a dropped table and a dropped
index on both backends, and on a corrupted SQLite file, while every StoreError hint says to run
it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from registry.cli import main as cli_main
from registry.store import migrate
from registry.store.engines import dispose_engine, get_engine
from registry.store.sql import SqlStore
from tests.reliability.conftest import child_env

pytestmark = pytest.mark.slow

CHANGES = {
    "drop column": ("ALTER TABLE entries DROP COLUMN doc", "column entries.doc is missing"),
    "add column": (
        "ALTER TABLE entries ADD COLUMN notes TEXT",
        "column entries.notes is in the database but not in the models",
    ),
    "drop table": ("DROP TABLE registry_meta", "table registry_meta is missing"),
    "drop index": (
        "DROP INDEX ix_heads_namespace_id_position",
        "index ix_heads_namespace_id_position on heads is missing",
    ),
}


def db_check(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli_main(["db", "check", "--url", url])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_sound_database_checks_clean(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    SqlStore(url)
    code, out = db_check(url, capsys)
    assert code == 0, out
    assert "current: database at" in out and "schema: matches the models" in out


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_manual_change_is_reported(
    url: str, change: str, capsys: pytest.CaptureFixture[str]
) -> None:
    SqlStore(url)
    statement, expected = CHANGES[change]
    with get_engine(url).begin() as conn:
        conn.execute(text(statement))
    code, out = db_check(url, capsys)
    assert code == migrate.EXIT_DAMAGED, out
    assert expected in out
    assert "hint: restore the database" in out


def test_another_applications_tables_are_not_differences(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    SqlStore(sqlite_url)
    with get_engine(sqlite_url).begin() as conn:
        conn.execute(text("CREATE TABLE mlflow_runs (id INTEGER PRIMARY KEY)"))
    assert db_check(sqlite_url, capsys)[0] == 0


def _corrupt(path: Path, offset: int) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(b"\xde\xad\xbe\xef" * 256)


@pytest.mark.parametrize(("offset", "expected"), [(4096 * 3, "integrity"), (0, "damaged")])
def test_a_corrupted_sqlite_file_is_reported(tmp_path: Path, offset: int, expected: str) -> None:
    path = tmp_path / "registry.db"
    url = f"sqlite:///{path}"
    store = SqlStore(url)
    store.ensure_namespace("lab.x", "function")
    store.close()
    dispose_engine(url)
    _corrupt(path, offset)
    done = subprocess.run(
        [sys.executable, "-m", "registry", "db", "check", "--url", url],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == migrate.EXIT_DAMAGED, output
    assert expected in output
    assert "Traceback" not in output
