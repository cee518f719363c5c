"""Tables of the persistent store, as SQLAlchemy Core ``Table`` objects on one ``MetaData``.

Used by ``store/sql*.py`` for queries and by ``migrations/env.py`` for autogenerate and the
models-versus-migrations drift test. Revision files never import this module. Column sizes come
from ``store.limits``. Imports only that and SQLAlchemy Core: the store maps no objects, and
``sqlalchemy.orm`` alone costs ~60 ms of a cold start, so a process that only reads never
imports it.
"""

from __future__ import annotations

import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from registry.store import limits

__all__ = [
    "blobs",
    "entries",
    "heads",
    "metadata",
    "namespaces",
    "registry_meta",
    "tombstones",
]

#: Explicit constraint names: SQLite leaves constraints unnamed, and alembic batch migrations
#: can only drop or alter a constraint they can name.
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _created_at() -> Column[datetime.datetime]:
    # Timestamps are compared across machines: timezone-aware, set by the database server.
    return Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False)


#: The single row describing the database: which library version created and upgraded it.
registry_meta = Table(
    "registry_meta",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("library_version", String(64), nullable=False),
    _created_at(),
    Column("upgraded_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("id = 1", name="single_row"),
)

#: A namespace (``logic_namespace`` of a registry class) and its change counters.
namespaces = Table(
    "namespaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(limits.NAMESPACE), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    # Bumped atomically (``UPDATE .. RETURNING``) by every write; caches compare it.
    Column("generation", BigInteger, server_default="0", nullable=False),
    # The generation of the last ``clear``: a cache holding less must drop what it has.
    Column("cleared_at", BigInteger, server_default="0", nullable=False),
    # How many identifiers are registered (the rows of ``heads``), kept by every write.
    Column("size", BigInteger, server_default="0", nullable=False),
    _created_at(),
    CheckConstraint("kind IN ('function', 'type', 'scheme')", name="kind"),
)

#: A cloudpickle payload, content-addressed by the SHA-256 of ``data``.
blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("format", String(limits.BLOB_FORMAT), nullable=False),
    Column("python_version", String(limits.PYTHON_VERSION), nullable=False),
    Column("pickler_version", String(limits.PICKLER_VERSION), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    _created_at(),
)

#: One immutable version of an artifact; a new version is a new row.
entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "namespace_id", Integer, ForeignKey("namespaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("identifier", String(limits.IDENTIFIER), nullable=False),
    Column("version", Integer, nullable=False),
    # Import path ``pkg.mod:qualname`` (or the qualname of a pickled artifact).
    Column("origin", String(limits.ORIGIN), nullable=False),
    Column("blob_sha256", String(64), ForeignKey("blobs.sha256"), nullable=True),
    Column("scheme_json", Text, nullable=True),
    Column("signature", Text, nullable=False),
    Column("doc", Text, nullable=False),
    Column("source_hash", String(limits.SOURCE_HASH), nullable=True),
    Column("python_version", String(limits.PYTHON_VERSION), nullable=False),
    Column("package", String(limits.PACKAGE), nullable=True),
    Column("package_version", String(limits.PACKAGE_VERSION), nullable=True),
    _created_at(),
    # ``user@host`` of the process that wrote the row.
    Column("created_by", String(limits.CREATED_BY), nullable=False),
    # The file the definition was read from, as the registering process saw it.
    Column("source_file", String(limits.SOURCE_FILE), nullable=True),
    # First line of the definition in ``source_file``: tells a definition run again from a
    # second definition of the same name (``store.base.decide``).
    Column("source_line", Integer, nullable=True),
    # HMAC binding this version to its blob (``registry.pickling``); set by signed writes.
    Column("seal_key_id", String(limits.KEY_ID), nullable=True),
    Column("seal", String(limits.SEAL), nullable=True),
    UniqueConstraint("namespace_id", "identifier", "version"),
    CheckConstraint("version >= 1", name="version_positive"),
)

#: The current version of each identifier; its primary key decides who wins a race.
heads = Table(
    "heads",
    metadata,
    Column(
        "namespace_id", Integer, ForeignKey("namespaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("identifier", String(limits.IDENTIFIER), nullable=False),
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), nullable=False),
    # Registration order: the namespace generation when the identifier was (re)created.
    Column("position", BigInteger, nullable=False),
    # The namespace generation of this row's last change: listeners read ``change > theirs``.
    Column("change", BigInteger, server_default="0", nullable=False),
    PrimaryKeyConstraint("namespace_id", "identifier"),
    Index(None, "namespace_id", "position"),
    Index(None, "namespace_id", "change"),
)

#: Identifiers unregistered since their namespace's last ``clear``, with the generation of the
#: removal, so listeners learn of removals without reading the namespace. Registering the
#: identifier again deletes its row.
tombstones = Table(
    "tombstones",
    metadata,
    Column(
        "namespace_id", Integer, ForeignKey("namespaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("identifier", String(limits.IDENTIFIER), nullable=False),
    Column("change", BigInteger, nullable=False),
    PrimaryKeyConstraint("namespace_id", "identifier"),
    Index(None, "namespace_id", "change"),
)
