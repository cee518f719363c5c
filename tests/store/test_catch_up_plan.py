"""A listener's catch-up reads the changed heads through the ``(namespace_id, change)`` index
on PostgreSQL even when the table's statistics predate the namespace, as they do for a
namespace filled since the last ANALYZE; ordered by position, the planner walked the
``(namespace_id, position)`` index instead and filtered every head of the namespace."""

from __future__ import annotations

import uuid

import psycopg

from registry.store.base import EntryDraft
from registry.store.sql import SqlStore
from registry.store.sql_direct import _CHANGES_PG, _pyformat, libpq_url

HEADS = 5_000


def plan_of(url: str, sql: str, params: dict[str, int]) -> str:
    with psycopg.connect(str(libpq_url(url)), autocommit=True) as conn:
        return "\n".join(row[0] for row in conn.execute("EXPLAIN ANALYZE " + sql, params))


def filtered_on(plan: str, table: str) -> bool:
    """Whether a plan node reading ``table`` removed rows with a filter."""
    reading = False
    for line in plan.splitlines():
        if "->" in line or not line.startswith(" "):  # a node: does it read the table?
            reading = f" on {table} " in f"{line} "
        elif reading and "Rows Removed by Filter" in line:
            return True
    return False


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
    params = {"name": grown, "since": before}

    direct = plan_of(pg_url, _pyformat(_CHANGES_PG), params)
    compiled = store._sql.changes.compile(dialect=store._engine.dialect)
    through_sqlalchemy = plan_of(pg_url, str(compiled), {**compiled.params, **params})
    for plan in (direct, through_sqlalchemy):
        assert "ix_heads_namespace_id_change" in plan, plan
        assert not filtered_on(plan, "heads"), plan
        assert not filtered_on(plan, "entries"), plan

    changes = store.changes_since(grown, before)
    assert [record.identifier for record in changes.added] == ["late"]
    store.close()
