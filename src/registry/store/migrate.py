"""Schema revisions: where the alembic scripts live, the version check, locked create/upgrade.

The only module that knows the location of the migration scripts (``registry/_migrations`` in an
installed wheel, the top-level ``migrations/`` in a checkout). It builds the alembic ``Config``
in code and runs every create, upgrade and downgrade under a lock, so several processes opening
one empty database at once all succeed. Imports ``errors``, ``store.engines``, ``store.models``,
``store.sql_direct``.
"""

from __future__ import annotations

import enum
import importlib
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, text
from sqlalchemy.exc import SQLAlchemyError

from registry.errors import SchemaVersionError, StoreError, ValidationError
from registry.store.engines import get_engine, safe_url, sqlite_path, store_error
from registry.store.models import registry_meta
from registry.store.sql_direct import VERSION_TABLE, head_from_files, script_location
from registry.version import install_hint, package_version

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = [
    "VERSION_TABLE",
    "RevisionInfo",
    "SchemaReport",
    "SchemaState",
    "SchemaStatus",
    "alembic_config",
    "check",
    "current_revision",
    "downgrade",
    "ensure_schema",
    "has_schema",
    "head_revision",
    "history",
    "inspect_schema",
    "library_version",
    "script_location",
    "upgrade",
    "verify",
]

#: ``pg_advisory_xact_lock`` key serialising schema changes: the bytes of "registry" as an int.
_PG_SCHEMA_LOCK_KEY = 0x7265676973747279


class SchemaStatus(enum.Enum):
    """How a database's schema revision compares with this package's head revision."""

    EMPTY = "empty"
    CURRENT = "current"
    BEHIND = "behind"
    AHEAD = "ahead"

    @property
    def exit_code(self) -> int:
        """The ``registry db check`` exit code: 0 current, 1 behind, 2 ahead, 3 empty."""
        return {"current": 0, "behind": 1, "ahead": 2, "empty": 3}[self.value]


@dataclass(frozen=True)
class SchemaState:
    """The revision stored in a database and this package's head revision."""

    status: SchemaStatus
    revision: str | None
    head: str


#: ``registry db check`` exit code when the schema differs from the models or the file is damaged.
EXIT_DAMAGED = 5


@dataclass(frozen=True)
class SchemaReport:
    """What ``registry db check`` found: the revision, how the live schema differs from the
    models, and (SQLite) what the integrity check reported."""

    state: SchemaState | None
    """``None`` when the revision could not even be read (a damaged file)."""
    differences: list[str]
    problems: list[str]

    @property
    def exit_code(self) -> int:
        """0 current, 1 behind, 2 ahead, 3 empty, 5 damaged (differences or problems)."""
        if self.differences or self.problems or self.state is None:
            return EXIT_DAMAGED
        return self.state.status.exit_code


@dataclass(frozen=True)
class RevisionInfo:
    """One migration script, for ``registry db history``."""

    revision: str
    down_revision: str | None
    message: str
    is_head: bool


def library_version() -> str:
    """Return the installed package version (recorded in ``registry_meta``)."""
    return package_version()


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Build the alembic ``Config`` in code (no ``alembic.ini`` is read)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if url is not None:
        # ConfigParser interpolates '%': escape it so passwords survive.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """Return the newest revision this package knows (there is exactly one head)."""
    heads = _scripts().get_heads()
    if len(heads) != 1:
        raise StoreError(
            f"The migration scripts have {len(heads)} heads instead of one: {sorted(heads)}",
            suggestions=["Merge the heads with `alembic merge heads` before releasing"],
        )
    return heads[0]


def current_revision(source: Engine | Connection) -> str | None:
    """Return the revision stored in the database, or ``None`` when it has none."""
    if isinstance(source, Engine):
        with source.connect() as conn:
            return current_revision(conn)
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(
        source, opts={"version_table": VERSION_TABLE}
    ).get_current_heads()
    if len(heads) > 1:
        raise SchemaVersionError(
            f"The database records {len(heads)} schema revisions at once: {sorted(heads)}",
            suggestions=["Ask the database administrator to repair registry_alembic_version"],
        )
    return heads[0] if heads else None


def _state(revision: str | None) -> SchemaState:
    head = head_revision()
    if revision is None:
        return SchemaState(SchemaStatus.EMPTY, None, head)
    if revision == head:
        return SchemaState(SchemaStatus.CURRENT, revision, head)
    from alembic.util.exc import CommandError

    try:
        known = _scripts().get_revision(revision) is not None
    except CommandError:
        known = False
    return SchemaState(SchemaStatus.BEHIND if known else SchemaStatus.AHEAD, revision, head)


@contextmanager
def _translated(url: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        raise store_error(exc, url) from exc


def inspect_schema(engine: Engine, url: str) -> SchemaState:
    """Compare the database's revision with this package's head."""
    with _translated(url), engine.connect() as conn:
        return _state(current_revision(conn))


def version_error(state: SchemaState, url: str) -> SchemaVersionError:
    """The error for a database that is behind or ahead of this package."""
    shown = safe_url(url)
    context = {"url": shown, "database_revision": state.revision, "package_head": state.head}
    if state.status is SchemaStatus.BEHIND:
        return SchemaVersionError(
            f"The store at {shown} uses schema revision {state.revision}, older than this "
            f"package's {state.head}",
            suggestions=[
                f"Run `registry db upgrade --url {shown}` (back the database up first)",
            ],
            context=context,
        )
    return SchemaVersionError(
        f"The store at {shown} uses schema revision {state.revision}, which registry "
        f"{library_version()} does not know: a newer registry package upgraded it",
        suggestions=[f"Upgrade the package on this machine: {install_hint(upgrade=True)}"],
        context=context,
    )


def ensure_schema(engine: Engine, url: str, *, auto_upgrade: bool = False) -> SchemaState:
    """Make sure the database is usable by this package, creating the schema when empty.

    Args:
        engine: the engine of ``url``.
        url: the store URL (for messages).
        auto_upgrade: upgrade a database that is behind (only for the default SQLite file);
            the file is backed up first.

    Raises:
        SchemaVersionError: the database is behind (and not auto-upgraded) or ahead.
        StoreError: the database cannot be reached.
    """
    with _translated(url), engine.connect() as conn:
        stored = _stored_revision(conn)
    quick_head = _quick_head()
    if stored is not None and stored == quick_head:  # the common case: no alembic import
        return SchemaState(SchemaStatus.CURRENT, stored, quick_head)
    state = inspect_schema(engine, url)
    if state.status is SchemaStatus.CURRENT:
        return state
    if state.status is SchemaStatus.EMPTY or (state.status is SchemaStatus.BEHIND and auto_upgrade):
        return _migrate_locked(engine, url, "head", upgrading=True, backup=True)
    raise version_error(state, url)


def _quick_head() -> str | None:
    """The head revision read from the revision files without importing alembic (``None``:
    not sure, ask alembic)."""
    return head_from_files(script_location())


def _has_version_table(conn: Connection) -> bool:
    if conn.dialect.name == "sqlite":
        exists = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :table"),
            {"table": VERSION_TABLE},
        ).first()
    else:
        exists = conn.execute(text("SELECT to_regclass(:table)"), {"table": VERSION_TABLE}).scalar()
    return bool(exists)


def _stored_revision(conn: Connection) -> str | None:
    """Read ``registry_alembic_version`` with plain SQL (``None``: missing, empty or several)."""
    if not _has_version_table(conn):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None


def _migrate_locked(
    engine: Engine, url: str, target: str, *, upgrading: bool, backup: bool
) -> SchemaState:
    from alembic import command
    from alembic.util.exc import CommandError

    scripts = _scripts()
    _check_target(scripts, target)
    wanted = scripts.get_current_head() if target == "head" else target
    with _translated(url), _schema_lock(engine) as conn:
        # Another process may have migrated while we waited for the lock.
        before = current_revision(conn)
        if before == wanted or (wanted == "base" and before is None):
            return _state(before)
        if upgrading and _state(before).status is SchemaStatus.AHEAD:
            raise version_error(_state(before), url)
        path = sqlite_path(url)
        copy = None
        if backup and before is not None and path is not None:
            copy = backup_sqlite(path, before)
        config = alembic_config(conn, url)
        try:
            if upgrading:
                command.upgrade(config, target)
            else:
                command.downgrade(config, target)
        except BaseException as exc:
            # The schema transaction rolls back, so the database is unchanged: drop the copy.
            if copy is not None:
                copy.unlink(missing_ok=True)
            if isinstance(exc, CommandError):
                raise ValidationError(
                    f"Cannot {'upgrade' if upgrading else 'downgrade'} {safe_url(url)} from "
                    f"{before or 'base'} to {target}: {exc}",
                    suggestions=[
                        "See where it is with `registry db current` and the revisions with "
                        "`registry db history`"
                    ],
                    context={"url": safe_url(url), "revision": before, "target": target},
                ) from exc
            raise
        after = current_revision(conn)
        if after is not None:
            _record_upgrade(conn)
        return _state(after)


#: Targets alembic resolves itself: head, base and relative steps such as ``-1`` or ``head-1``.
_RELATIVE_TARGET = re.compile(r"^(?:heads?|base)?(?:[+-]\d+)?$")


def _check_target(scripts: ScriptDirectory, target: str) -> None:
    """Refuse a revision these scripts do not know before anything is copied or changed."""
    if _RELATIVE_TARGET.match(target):
        return
    from alembic.util.exc import CommandError

    try:
        if scripts.get_revision(target) is not None:
            return
        problem = f"Unknown schema revision {target!r}"
    except CommandError as exc:
        problem = f"Unknown schema revision {target!r}: {exc}"
    known = [script.revision for script in scripts.walk_revisions()]
    raise ValidationError(
        problem,
        suggestions=[
            f"Known revisions, newest first: {', '.join(known)}; or head, base",
            "List them with: registry db history",
        ],
        context={"revision": target, "known_revisions": known},
    )


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[Connection]:
    """One transaction that no other schema change (or SQLite writer) can run beside."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        is_sqlite = engine.dialect.name == "sqlite"
        if is_sqlite and raw is not None:
            # Batch migrations copy tables; enforced foreign keys would cascade during the copy.
            # The pragma only works outside a transaction, hence on the raw connection.
            raw.execute("PRAGMA foreign_keys=OFF")
            conn.execution_options(registry_begin="EXCLUSIVE")
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    # The store's short timeouts suit registrations, not migrations: let this
                    # transaction wait for the lock and run long statements.
                    conn.execute(text("SET LOCAL lock_timeout = '10min'"))
                    conn.execute(text("SET LOCAL statement_timeout = 0"))
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK_KEY}
                    )
                yield conn
        finally:
            if is_sqlite and raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def _record_upgrade(conn: Connection) -> None:
    values = {"id": 1, "library_version": library_version(), "upgraded_at": func.now()}
    insert = importlib.import_module(f"sqlalchemy.dialects.{conn.dialect.name}").insert
    statement = insert(registry_meta).values(**values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[registry_meta.c.id],
            set_={"library_version": values["library_version"], "upgraded_at": func.now()},
        )
    )


def backup_sqlite(path: Path, revision: str) -> Path:
    """Copy a SQLite file with the online backup API to ``<db>.bak-<rev>-<timestamp>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.bak-{revision}-{stamp}")
    source = sqlite3.connect(path)
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
    return target


# -- Functions behind ``registry db ...`` ------------------------------------------------------


def check(url: str) -> SchemaState:
    """Return how the database at ``url`` compares with this package (never changes it)."""
    return inspect_schema(get_engine(url), url)


def verify(url: str) -> SchemaReport:
    """Check the database at ``url`` as ``registry db check`` does (never changes it).

    Compares the live schema of the registry tables with the models (alembic's autogenerate
    comparison) when the revision is current, and runs SQLite's ``integrity_check`` and
    ``foreign_key_check``.

    Raises:
        StoreError: the database cannot be reached.
    """
    engine = get_engine(url)
    problems = _integrity_problems(engine) if engine.dialect.name == "sqlite" else []
    try:
        state = inspect_schema(engine, url)
    except StoreError:
        if problems:
            return SchemaReport(None, [], problems)
        raise
    differences = _differences(engine, url) if state.status is SchemaStatus.CURRENT else []
    return SchemaReport(state, differences, problems)


def _integrity_problems(engine: Engine) -> list[str]:
    try:
        with engine.connect() as conn:
            found = [str(row[0]) for row in conn.exec_driver_sql("PRAGMA integrity_check")]
            problems = [] if found == ["ok"] else found
            for table, rowid, parent, _ in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                problems.append(f"row {rowid} of {table} refers to a missing row of {parent}")
            return problems
    except SQLAlchemyError as exc:
        return [f"SQLite cannot check it: {getattr(exc, 'orig', None) or exc}"]


def _differences(engine: Engine, url: str) -> list[str]:
    """How the registry tables in the database differ from the models, one line each."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from registry.store.models import metadata

    ours = set(metadata.tables)

    def include_name(name: str | None, kind: str, _parent: object) -> bool:
        return kind != "table" or name in ours  # other applications may share the database

    with _translated(url), engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": VERSION_TABLE,
                "compare_type": True,
                "include_name": include_name,
            },
        )
        diffs = compare_metadata(context, metadata)
    return [_describe(diff) for diff in diffs]


def _describe(diff: object) -> str:
    """One alembic difference as a sentence (``add_*``: the models have it, the database not)."""
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(_describe(item) for item in diff)
    assert isinstance(diff, tuple)
    action = str(diff[0])
    verb, _, what = action.partition("_")
    state = {"add": "missing from the database", "remove": "in the database but not in the models"}
    if what == "table":
        return f"table {diff[1].name} is {state.get(verb, verb)}"
    if what == "column":
        return f"column {diff[2]}.{diff[3].name} is {state.get(verb, verb)}"
    if what in ("index", "constraint", "fk"):
        item = diff[1]
        table = getattr(getattr(item, "table", None), "name", "?")
        kind = {"fk": "foreign key"}.get(what, what)
        return f"{kind} {item.name or '(unnamed)'} on {table} is {state.get(verb, verb)}"
    if verb == "modify":
        table, column = diff[2], diff[3]
        return f"column {table}.{column} differs ({what}: database {diff[5]!r}, models {diff[6]!r})"
    return f"{action}: {diff[1:]!r}"


def has_schema(url: str) -> bool:
    """Return whether the database at ``url`` holds a registry schema (imports no alembic)."""
    engine = get_engine(url)
    with _translated(url), engine.connect() as conn:
        return _has_version_table(conn)


def upgrade(url: str, revision: str = "head", *, backup: bool = True) -> SchemaState:
    """Upgrade the database at ``url`` to ``revision`` under the schema lock.

    Raises:
        SchemaVersionError: the database is newer than this package.
    """
    return _migrate_locked(get_engine(url), url, revision, upgrading=True, backup=backup)


def downgrade(url: str, revision: str, *, backup: bool = True) -> SchemaState:
    """Downgrade the database at ``url`` to ``revision`` (``base`` drops every table)."""
    return _migrate_locked(get_engine(url), url, revision, upgrading=False, backup=backup)


def history() -> list[RevisionInfo]:
    """Return every migration script, newest first."""
    scripts = _scripts()
    heads = set(scripts.get_heads())
    infos: list[RevisionInfo] = []
    for script in scripts.walk_revisions():
        down = script.down_revision
        infos.append(
            RevisionInfo(
                revision=script.revision,
                down_revision=down if isinstance(down, str) or down is None else ",".join(down),
                message=(script.doc or "").strip(),
                is_head=script.revision in heads,
            )
        )
    return infos
