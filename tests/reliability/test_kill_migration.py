"""kill -9 in the middle of a migration leaves the database at the old revision, whole.

A test revision adds a column, then pauses (when asked to) before creating a table; the
upgrading process is killed during the pause. Every revision runs in one transaction under the
schema lock (PostgreSQL advisory lock, SQLite ``BEGIN EXCLUSIVE``), so afterwards the revision,
the tables and the data are exactly as before, and the next upgrade completes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

from registry.store import migrate
from registry.store.engines import dispose_engine, get_engine
from registry.store.sql import SqlStore
from tests.reliability.conftest import child_env
from tests.store.test_contract import draft

pytestmark = pytest.mark.slow

PAUSING_REVISION = '''"""Add entries.note, then (paused) the table notes: a test fixture."""
import os
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "9999_pausing"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    marker = os.environ.get("PAUSE_MARKER")
    if marker:
        Path(marker).write_text("paused")
        time.sleep(60)
    op.create_table("notes", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("notes")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("note")
'''

UPGRADE = """
import sys
from pathlib import Path
from registry.store import migrate
migrate.script_location = lambda: Path(sys.argv[1])
migrate.upgrade(sys.argv[2], backup=False)
print("upgraded")
"""


def test_kill_9_mid_migration_leaves_the_old_revision_whole(url: str, tmp_path: Path) -> None:
    store = SqlStore(url)
    store.ensure_namespace("lab.kept", "function")
    store.register_batch("lab.kept", [draft(f"f{i}") for i in range(50)])
    head = migrate.head_revision()
    scripts = tmp_path / "next_migrations"
    shutil.copytree(
        migrate.script_location(), scripts, ignore=shutil.ignore_patterns("__pycache__")
    )
    (scripts / "versions" / "9999_pausing.py").write_text(PAUSING_REVISION.format(head=head))
    marker = tmp_path / "paused"
    upgrading = subprocess.Popen(
        [sys.executable, "-c", UPGRADE, str(scripts), url],
        env=child_env(PAUSE_MARKER=str(marker)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert upgrading.poll() is None, upgrading.communicate()
        assert time.monotonic() < deadline, "the migration never reached its pause"
        time.sleep(0.05)
    os.kill(upgrading.pid, signal.SIGKILL)
    upgrading.wait(10)

    dispose_engine(url)
    assert migrate.check(url).revision == head
    columns = {c["name"] for c in inspect(get_engine(url)).get_columns("entries")}
    assert "note" not in columns
    assert "notes" not in inspect(get_engine(url)).get_table_names()
    assert len(SqlStore(url).list_entries("lab.kept")) == 50
    assert migrate.verify(url).exit_code == 0  # schema whole, file sound

    finished = subprocess.run(
        [sys.executable, "-c", UPGRADE, str(scripts), url],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    dispose_engine(url)
    assert "notes" in inspect(get_engine(url)).get_table_names()
    with get_engine(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM entries").scalar() == 50
