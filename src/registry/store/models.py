"""SQLAlchemy tables of the persistent store: one ``DeclarativeBase``, typed ``Mapped`` columns.

Used by ``store/sql.py`` for queries and by ``migrations/env.py`` for autogenerate and the
models-versus-migrations drift test. Revision files never import this module. Column sizes come
from ``store.limits``; imports only that and SQLAlchemy.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from registry.store import limits

__all__ = [
    "NAMESPACE_KINDS",
    "Base",
    "BlobRow",
    "EntryRow",
    "HeadRow",
    "MetaRow",
    "NamespaceRow",
    "metadata",
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

#: The registry kinds a namespace may hold (mirrors ``registry.store.base.NamespaceKind``).
NAMESPACE_KINDS = ("function", "type", "scheme")


class Base(DeclarativeBase):
    """Declarative base: naming convention and the Python-type-to-column-type map."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        # Timestamps are compared across machines: always timezone-aware, set by the server.
        datetime: DateTime(timezone=True),
        bytes: LargeBinary(),
    }


metadata = Base.metadata


class MetaRow(Base):
    """The single row describing the database: which library version created and upgraded it."""

    __tablename__ = "registry_meta"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    library_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    upgraded_at: Mapped[datetime | None]


class NamespaceRow(Base):
    """A namespace (``logic_namespace`` of a registry class) and its change counter."""

    __tablename__ = "namespaces"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('function', 'type', 'scheme')",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(limits.NAMESPACE), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    generation: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """Bumped atomically (``UPDATE .. RETURNING``) by every write; caches compare it."""
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class BlobRow(Base):
    """A cloudpickle payload, content-addressed by the SHA-256 of ``data``."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    format: Mapped[str] = mapped_column(String(limits.BLOB_FORMAT))
    python_version: Mapped[str] = mapped_column(String(limits.PYTHON_VERSION))
    pickler_version: Mapped[str] = mapped_column(String(limits.PICKLER_VERSION))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class EntryRow(Base):
    """One immutable version of an artifact; a new version is a new row."""

    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("namespace_id", "identifier", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("namespaces.id", ondelete="CASCADE"))
    identifier: Mapped[str] = mapped_column(String(limits.IDENTIFIER))
    version: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(limits.ORIGIN))
    """Import path ``pkg.mod:qualname`` (or the qualname of a pickled artifact)."""
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    scheme_json: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(Text)
    doc: Mapped[str] = mapped_column(Text)
    source_hash: Mapped[str | None] = mapped_column(String(limits.SOURCE_HASH))
    python_version: Mapped[str] = mapped_column(String(limits.PYTHON_VERSION))
    package: Mapped[str | None] = mapped_column(String(limits.PACKAGE))
    package_version: Mapped[str | None] = mapped_column(String(limits.PACKAGE_VERSION))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(limits.CREATED_BY))
    """``user@host`` of the process that wrote the row."""
    source_file: Mapped[str | None] = mapped_column(String(limits.SOURCE_FILE))
    """The file the definition was read from, as the registering process saw it."""
    source_line: Mapped[int | None] = mapped_column(Integer)
    """First line of the definition in ``source_file``: tells a definition run again from a
    second definition of the same name (``store.base.decide``)."""
    seal_key_id: Mapped[str | None] = mapped_column(String(limits.KEY_ID))
    seal: Mapped[str | None] = mapped_column(String(limits.SEAL))
    """HMAC binding this version to its blob (``registry.pickling``); set by signed writes."""


class HeadRow(Base):
    """The current version of each identifier; its primary key decides who wins a race."""

    __tablename__ = "heads"
    __table_args__ = (Index(None, "namespace_id", "position"),)

    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True
    )
    identifier: Mapped[str] = mapped_column(String(limits.IDENTIFIER), primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(BigInteger)
    """Registration order: the namespace generation when the identifier was (re)created."""
