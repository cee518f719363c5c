"""Registrations on the driver connection under ``SqlStore``: fewer round trips on PostgreSQL,
less Python per statement on SQLite.

A registration is a short fixed sequence of statements: the locking read of the identifier's
state, then the writes. On PostgreSQL that is ``BEGIN``, the read, the write (one statement:
entry, head, tombstone, generation and ``NOTIFY``) and ``COMMIT``: four round trips when sent
one by one. :class:`OwnTransaction` sends the ``BEGIN`` with the read and the ``COMMIT`` with
the write (psycopg's pipeline mode): two. The locking read still comes before anything is
decided or written, in the same transaction, so the guarantees do not change. SQLAlchemy has
no pipeline API, and psycopg sends the ``BEGIN`` it opens itself in a round trip of its own,
so the transaction runs on the driver connection (driver autocommit, explicit ``BEGIN`` and
``COMMIT``). A new identifier, or one registered again unchanged, needs no read beforehand: one
statement sent alone in autocommit (:meth:`OwnTransaction.fetch_alone`) is its whole
transaction, one round trip. On SQLite, where a statement costs ~10 us in the database and
several times that in SQLAlchemy's execution machinery, :func:`fetch_row` and :func:`execute`
run a registration's statements on the driver connection inside SQLAlchemy's transaction.

The statements are SQLAlchemy's, compiled once (:class:`DriverStatement`). Driver errors
become SQLAlchemy's again (a broken connection is invalidated), so the retries and messages of
``engines.run_transaction`` apply unchanged. Imports SQLAlchemy, and psycopg when used.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

__all__ = ["DriverErrors", "DriverStatement", "OwnTransaction", "execute", "fetch_row"]


class DriverStatement:
    """A SQLAlchemy statement compiled once into the driver's SQL text, with the values of
    the parameters SQLAlchemy generated for literals (``generation + 1``)."""

    def __init__(
        self, statement: Any, dialect: Dialect, column_keys: list[str] | None = None
    ) -> None:
        # column_keys: the columns an INSERT is given values for (the others take defaults).
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        if compiled._bind_processors:  # values go to the driver as they are
            raise TypeError(f"{statement} needs SQLAlchemy's bind processors")
        self.sql: str = compiled.string
        self.defaults = {
            name: bind.value
            for name, bind in compiled.binds.items()
            if not bind.required and bind.callable is None
        }
        # SQLite's driver takes positional parameters ("?") in this order.
        self._positions: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positiontup is not None else None
        )

    def params(self, values: dict[str, Any]) -> Any:
        merged = {**self.defaults, **values} if self.defaults else values
        if self._positions is None:
            return merged
        return tuple(merged[name] for name in self._positions)


def fetch_row(
    conn: Connection, statement: DriverStatement, values: dict[str, Any]
) -> dict[str, Any] | None:
    """Run ``statement`` on the driver connection of ``conn`` (in its transaction); return the
    first row as a dict, ``created_at`` read as a ``datetime`` (SQLite returns its text)."""
    with DriverErrors(conn, statement.sql, values):
        cursor = conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            statement.sql, statement.params(values)
        )
        row = cursor.fetchone()
        if row is None:
            return None
        found = dict(zip([column[0] for column in cursor.description], row, strict=True))
        if isinstance(found.get("created_at"), str):
            found["created_at"] = datetime.fromisoformat(found["created_at"])
        return found


def execute(conn: Connection, statement: DriverStatement, values: dict[str, Any]) -> None:
    """Run ``statement`` on the driver connection of ``conn`` (in its transaction)."""
    with DriverErrors(conn, statement.sql, values):
        conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            statement.sql, statement.params(values)
        )


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
        from psycopg.pq import TransactionStatus

        driver = self._driver
        if driver.closed:
            return  # invalidated: the pool throws the connection away
        try:
            if driver.info.transaction_status != TransactionStatus.IDLE:  # ours is still open
                with self._errors("COMMIT" if kind is None else "ROLLBACK"):
                    driver.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            if not driver.closed:
                driver.autocommit = False

    def begin_and_fetch(self, statement: DriverStatement, values: dict[str, Any]) -> Any:
        """``BEGIN`` and ``statement`` in one round trip; the first row as a dict, or None."""
        (row,) = self.begin_and_fetch_each([(statement, values)])
        return row

    def begin_and_fetch_each(
        self, steps: list[tuple[DriverStatement, dict[str, Any]]]
    ) -> list[Any]:
        """``BEGIN`` and each ``(statement, values)`` of ``steps`` in order, in one round trip;
        the first row of each as a dict, or None."""
        return self._pipelined(steps, begin="BEGIN", as_dicts=True)

    def fetch_alone(self, statement: DriverStatement, values: dict[str, Any]) -> Any:
        """``statement`` as a transaction of its own (autocommit): one round trip; its first
        row as a dict, or None."""
        rows = self.fetch_all_alone(statement, values)
        return rows[0] if rows else None

    def fetch_all_alone(
        self, statement: DriverStatement, values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """``statement`` as a transaction of its own (autocommit): one round trip; its rows
        as dicts."""
        from psycopg.rows import dict_row

        with (
            self._errors(statement.sql, values),
            self._driver.cursor(row_factory=dict_row) as cursor,
        ):
            cursor.execute(statement.sql, statement.params(values))
            rows: list[dict[str, Any]] = cursor.fetchall()
            return rows

    def execute_and_commit(self, statement: DriverStatement, values: dict[str, Any]) -> Any:
        """``statement`` and ``COMMIT`` in one round trip; the statement's first row.

        If the statement fails, PostgreSQL skips the ``COMMIT`` (the pipeline is aborted)
        and the exit rolls back.
        """
        (row,) = self.execute_each_and_commit([(statement, values)])
        return row

    def execute_each_and_commit(
        self, steps: list[tuple[DriverStatement, dict[str, Any]]]
    ) -> list[Any]:
        """Each ``(statement, values)`` of ``steps`` in order, then ``COMMIT``, in one round
        trip; the first row of each (a tuple, or None). A failing statement skips the rest."""
        return self._pipelined(steps, commit=True)

    def _pipelined(
        self,
        steps: list[tuple[DriverStatement, dict[str, Any]]],
        *,
        begin: str | None = None,
        commit: bool = False,
        as_dicts: bool = False,
    ) -> list[Any]:
        """Send ``begin``, the steps and ``COMMIT`` in one pipeline (one round trip); return
        each step's first row, or None for a statement that returns none."""
        from psycopg.rows import dict_row

        driver = self._driver
        sql = "; ".join(statement.sql for statement, _ in steps)
        with self._errors(sql, [values for _, values in steps]):
            cursors = [
                driver.cursor(row_factory=dict_row) if as_dicts else driver.cursor() for _ in steps
            ]
            with driver.pipeline():
                if begin is not None:
                    driver.execute(begin)
                for cursor, (statement, values) in zip(cursors, steps, strict=True):
                    cursor.execute(statement.sql, statement.params(values))
                if commit:
                    driver.execute("COMMIT")
            found: list[Any] = []
            for cursor in cursors:
                if cursor.description is None:  # a statement without rows (an INSERT)
                    found.append(None)
                else:
                    found.append(cursor.fetchone())
                cursor.close()
            return found

    def _errors(self, sql: str, values: Any = None) -> DriverErrors:
        return DriverErrors(self._conn, sql, values)


class DriverErrors:
    """Raise driver errors as SQLAlchemy raises them: ``IntegrityError`` for a constraint,
    ``OperationalError`` for a lock, ``connection_invalidated`` (and the connection dropped
    from the pool) for a broken one."""

    def __init__(self, conn: Connection, sql: str, values: Any = None) -> None:
        self._conn, self._sql, self._values = conn, sql, values

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: Any, _tb: object) -> None:
        driver_error = self._conn.dialect.loaded_dbapi.Error
        if kind is None or not issubclass(kind, driver_error):
            return
        conn = self._conn
        driver: Any = conn.connection.driver_connection
        lost = bool(
            conn.dialect.is_disconnect(error, driver, None) or getattr(driver, "closed", False)
        )
        if lost:
            conn.invalidate(error)
        raise DBAPIError.instance(
            self._sql,
            self._values,
            error,
            driver_error,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from error
