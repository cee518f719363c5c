"""Alembic environment of the registry store.

Runs with a connection handed in by ``registry.store.migrate`` through
``config.attributes["connection"]`` (that caller holds the lock and the transaction), or builds
its own ``NullPool`` engine from ``sqlalchemy.url`` when a developer runs ``alembic`` by hand.
"""

from __future__ import annotations

import logging
import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

#: Our own version table, so the store can share a database with other alembic users.
VERSION_TABLE = "registry_alembic_version"

config = context.config

# Leave logging alone when the host application (or registry itself) already configured it.
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _target_metadata() -> Any:
    # Only autogenerate and the drift check need the models; plain upgrades work without them.
    try:
        from registry.store.models import metadata
    except ImportError:
        return None
    return metadata


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=_target_metadata(),
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things; batch mode copies the table there and is a no-op elsewhere.
        render_as_batch=True,
        compare_type=True,
        # A failure stops at the last clean revision instead of undoing the whole run.
        transaction_per_migration=True,
        **options,
    )


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def _own_engine_run(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        # pysqlite does not BEGIN before DDL; take over so every revision is transactional.
        @event.listens_for(engine, "connect")
        def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA foreign_keys=OFF")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.connect() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


def _developer_url() -> str:
    # ``alembic -x url=...`` wins over REGISTRY_URL, which wins over alembic.ini.
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("REGISTRY_URL")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "set REGISTRY_URL, pass -x url=..., or set sqlalchemy.url in alembic.ini"
        )
    return url


def run_migrations_offline() -> None:
    """Write the SQL to stdout (``alembic upgrade --sql``)."""
    _configure(url=_developer_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the database through the given connection, or through a throw-away engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    _own_engine_run(_developer_url())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
