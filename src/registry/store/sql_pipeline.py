"""PostgreSQL registration in two round trips: psycopg's pipeline mode under ``SqlStore``.

A registration on PostgreSQL is ``BEGIN``, the locking read of the identifier's state, the
write (one statement: entry, head, tombstone, generation and ``NOTIFY``) and ``COMMIT``. Sent
one by one, that is four round trips (each a few hundred microseconds on a LAN). Here the
``BEGIN`` travels with the read and the ``COMMIT`` with the write: the locking read still
comes before anything is decided or written, in the same transaction, so the guarantees do
not change.

SQLAlchemy has no pipeline API, and psycopg sends the ``BEGIN`` it opens on its own in a round
trip of its own, so :class:`OwnTransaction` runs the transaction itself on the driver
connection of the SQLAlchemy ``Connection`` in use (driver autocommit, explicit ``BEGIN`` and
``COMMIT``), with statements SQLAlchemy compiled once. Driver errors become SQLAlchemy's again
(a broken connection is invalidated), so the retries and messages of
``engines.run_transaction`` apply unchanged. Imports SQLAlchemy, and psycopg when used.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

__all__ = ["DriverStatement", "OwnTransaction"]


class DriverStatement:
    """A SQLAlchemy statement compiled once into the driver's SQL text, with the values of
    the parameters SQLAlchemy generated for literals (``generation + 1``)."""

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled._bind_processors:  # values go to psycopg as they are
            raise TypeError(f"{statement} needs SQLAlchemy's bind processors")
        self.sql: str = compiled.string
        self.defaults = {
            name: bind.value
            for name, bind in compiled.binds.items()
            if not bind.required and bind.callable is None
        }

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **values} if self.defaults else values


class OwnTransaction:
    """One transaction run on the driver connection of ``conn``, which must have sent nothing
    yet in its SQLAlchemy transaction (that one then finds nothing to commit or roll back).

    Use as a context manager: it commits what is still open on a clean exit and rolls back
    on an exception, and gives the connection back in the driver's usual (non-autocommit)
    mode.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._driver: Any = conn.connection.driver_connection

    def __enter__(self) -> OwnTransaction:
        self._driver.autocommit = True  # no BEGIN of psycopg's own, in a round trip of its own
        return self

    def __exit__(self, kind: type[BaseException] | None, error: object, _tb: object) -> None:
        driver = self._driver
        if driver.closed:
            return  # invalidated: the pool throws the connection away
        try:
            if driver.info.transaction_status != 0:  # not IDLE: still in our transaction
                with self._errors("COMMIT" if kind is None else "ROLLBACK"):
                    driver.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            if not driver.closed:
                driver.autocommit = False

    def begin_and_fetch(self, statement: DriverStatement, values: dict[str, Any]) -> Any:
        """``BEGIN`` and ``statement`` in one round trip; the first row as a dict, or None."""
        from psycopg.rows import dict_row

        driver = self._driver
        with self._errors(statement.sql, values):
            cursor = driver.cursor(row_factory=dict_row)
            with driver.pipeline():
                driver.execute("BEGIN")
                cursor.execute(statement.sql, statement.params(values))
            row = cursor.fetchone()
            cursor.close()
            return row

    def execute_and_commit(self, statement: DriverStatement, values: dict[str, Any]) -> Any:
        """``statement`` and ``COMMIT`` in one round trip; the statement's first row.

        If the statement fails, PostgreSQL skips the ``COMMIT`` (the pipeline is aborted)
        and the exit rolls back.
        """
        driver = self._driver
        with self._errors(statement.sql, values):
            cursor = driver.cursor()
            with driver.pipeline():
                cursor.execute(statement.sql, statement.params(values))
                driver.execute("COMMIT")
            row = cursor.fetchone()
            cursor.close()
            return row

    def _errors(self, sql: str, values: Any = None) -> _DriverErrors:
        return _DriverErrors(self._conn, sql, values)


class _DriverErrors:
    """Raise driver errors as SQLAlchemy raises them: ``IntegrityError`` for a constraint,
    ``connection_invalidated`` (and the connection dropped from the pool) for a broken one."""

    def __init__(self, conn: Connection, sql: str, values: Any) -> None:
        self._conn, self._sql, self._values = conn, sql, values

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: Any, _tb: object) -> None:
        import psycopg

        if kind is None or not issubclass(kind, psycopg.Error):
            return
        conn = self._conn
        driver: Any = conn.connection.driver_connection
        lost = bool(conn.dialect.is_disconnect(error, driver, None) or driver.closed)
        if lost:
            conn.invalidate(error)
        raise DBAPIError.instance(
            self._sql,
            self._values,
            error,
            psycopg.Error,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from error
