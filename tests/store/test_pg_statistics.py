"""PostgreSQL: a large batch, or a namespace grown one by one to a power of two, refreshes
planner statistics that predate most of the namespace, so the plans that sessions cached while
it was nearly empty are made again.

A session keeps a generic plan of a statement it runs often (psycopg prepares it on its fifth
run). Made while ``heads`` held a few rows and had no statistics, the registration's lookup of
one identifier goes through the ``(namespace_id, change)`` index and filters every head of the
namespace; once ``ANALYZE`` has run, the plan is made again and uses the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import ClientCursor

from registry.store.base import EntryDraft
from registry.store.sql import ANALYZE_AFTER, SqlStore
from registry.store.sql_direct import libpq_url
from registry.store.sql_statements import create_entry_params, entry_params

NAMESPACE = "lab.grown"


@pytest.fixture
def session(empty_pg_url: str) -> Iterator[psycopg.Connection]:
    """A session of its own, with autovacuum kept away from the tables it looks at."""
    with psycopg.connect(str(libpq_url(empty_pg_url)), autocommit=True) as conn:
        SqlStore(empty_pg_url).close()  # creates the schema
        for table in ("heads", "entries"):
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        yield conn


def prepared_lookup(session: psycopg.Connection, store: SqlStore) -> Callable[[str], str]:
    """Prepare the one-trip registration statement in ``session`` with a generic plan, as a
    pooled connection holds it; return a function giving its plan for an identifier."""
    statement = store._driver.create_entry
    order: list[str] = []

    def positional(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    session.execute("SET plan_cache_mode = force_generic_plan")
    session.execute("PREPARE lookup AS " + re.sub(r"%\((\w+)\)s", positional, statement.sql))
    quoting = ClientCursor(session)

    def plan(identifier: str) -> str:
        draft = EntryDraft(identifier, f"lab.mod:{identifier}")
        values = statement.params(create_entry_params(NAMESPACE, entry_params(draft)))
        arguments = quoting.mogrify(", ".join(["%s"] * len(order)), [values[k] for k in order])
        with session.transaction():
            rows = session.execute(f"EXPLAIN ANALYZE EXECUTE lookup({arguments})").fetchall()
            raise psycopg.Rollback()  # EXPLAIN ANALYZE ran the INSERT
        return "\n".join(row[0] for row in rows)

    return plan


def planner_rows(session: psycopg.Connection) -> float:
    row = session.execute("SELECT reltuples FROM pg_class WHERE relname = 'heads'").fetchone()
    assert row is not None
    return float(row[0])


def drafts(prefix: str, count: int) -> list[EntryDraft]:
    return [EntryDraft(f"{prefix}{i}", f"lab.mod:{prefix}{i}") for i in range(count)]


@pytest.fixture
def store(empty_pg_url: str, session: psycopg.Connection) -> Iterator[SqlStore]:
    store = SqlStore(empty_pg_url)
    store.ensure_namespace(NAMESPACE, "function")
    yield store
    store.close()


def plan_made_near_empty(session: psycopg.Connection, store: SqlStore) -> Callable[[str], str]:
    """The lookup's generic plan, made once 100 identifiers are stored (and not analyzed)."""
    store.register_batch(NAMESPACE, drafts("early", 100))
    plan = prepared_lookup(session, store)
    assert "ix_heads_namespace_id_change" in plan("probe")
    return plan


def uses_the_key(plan: str) -> bool:
    return "pk_heads" in plan and "Rows Removed by Filter" not in plan


def test_a_large_batch_makes_cached_plans_use_the_key(
    session: psycopg.Connection, store: SqlStore
) -> None:
    plan = plan_made_near_empty(session, store)
    store.register_batch(NAMESPACE, drafts("bulk", 5_000))
    after = plan("probe")
    assert uses_the_key(after), after
    assert planner_rows(session) == 5_100


def test_statistics_are_refreshed_only_when_most_rows_are_unknown(
    session: psycopg.Connection, store: SqlStore
) -> None:
    store.register_batch(NAMESPACE, drafts("small", ANALYZE_AFTER - 1))
    assert planner_rows(session) < 0  # a smaller batch leaves them to autovacuum
    store.register_batch(NAMESPACE, drafts("first", ANALYZE_AFTER))
    known = planner_rows(session)
    assert known == 2 * ANALYZE_AFTER - 1
    store.register_batch(NAMESPACE, drafts("second", ANALYZE_AFTER))
    assert planner_rows(session) == known  # they still know two thirds
    store.register_batch(NAMESPACE, drafts("third", 2 * ANALYZE_AFTER))
    assert planner_rows(session) == 5 * ANALYZE_AFTER - 1


def test_a_namespace_grown_one_by_one_refreshes_them_when_it_doubles(
    session: psycopg.Connection, store: SqlStore
) -> None:
    plan = plan_made_near_empty(session, store)
    for draft in drafts("one", ANALYZE_AFTER - 101):
        store.register(NAMESPACE, draft)
    assert planner_rows(session) < 0
    store.register(NAMESPACE, EntryDraft("last", "lab.mod:last"))  # the namespace doubles
    assert planner_rows(session) == ANALYZE_AFTER
    after = plan("probe")
    assert uses_the_key(after), after
