"""A listener's catch-up reads the changed heads through the ``(namespace_id, change)`` index
on PostgreSQL even when the table's statistics predate the namespace, as they do for a
namespace filled since the last ANALYZE; ordered by position, the planner walked the
``(namespace_id, position)`` index instead and filtered every head of the namespace."""

from __future__ import annotations

import uuid

import psycopg

from registry.store.base import EntryDraft
from registry.store.sql import SqlStore
from registry.store.sql_direct import _CHANGED_HEADS_PG, _pyformat, libpq_url

HEADS = 5_000


def plan_of(url: str, sql: str, params: dict[str, int]) -> str:
    with psycopg.connect(str(libpq_url(url)), autocommit=True) as conn:
        return "\n".join(row[0] for row in conn.execute("EXPLAIN ANALYZE " + sql, params))


def test_catch_up_reads_only_the_changed_heads_with_stale_statistics(pg_url: str) -> None:
    store = SqlStore(pg_url)
    analysed, grown = (f"plan.{uuid.uuid4().hex[:8]}" for _ in range(2))
    for namespace in (analysed, grown):
        store.ensure_namespace(namespace, "function")
        drafts = [EntryDraft(f"f{i}", f"lab.module:f{i}") for i in range(HEADS)]
        store.register_batch(namespace, drafts)
        if namespace == analysed:
            with psycopg.connect(str(libpq_url(pg_url)), autocommit=True) as conn:
                conn.execute("ANALYZE heads")
    before = store.changes_since(grown, 0).generation
    store.register(grown, EntryDraft("late", "lab.module:late"))
    with psycopg.connect(str(libpq_url(pg_url)), autocommit=True) as conn:
        row = conn.execute("SELECT id FROM namespaces WHERE name = %s", (grown,)).fetchone()
    assert row is not None
    params = {"namespace_id": int(row[0]), "since": before}

    direct = plan_of(pg_url, _pyformat(_CHANGED_HEADS_PG), params)
    compiled = store._sql.changed_heads.compile(dialect=store._engine.dialect)
    through_sqlalchemy = plan_of(pg_url, str(compiled), {**compiled.params, **params})
    for plan in (direct, through_sqlalchemy):
        assert "ix_heads_namespace_id_change" in plan, plan
        assert "Rows Removed by Filter" not in plan, plan

    changes = store.changes_since(grown, before)
    assert [record.identifier for record in changes.added] == ["late"]
    store.close()
