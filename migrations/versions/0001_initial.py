"""Initial schema: meta row, namespaces, blobs, immutable entry versions and head pointers.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-26

Standalone: uses only ``alembic.op`` and SQLAlchemy Core, never ``registry`` models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "registry_meta",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("library_version", sa.String(64), nullable=False),
        _created_at(),
        sa.Column("upgraded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_registry_meta_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_meta")),
    )
    op.create_table(
        "namespaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False),
        _created_at(),
        sa.CheckConstraint(
            "kind IN ('function', 'type', 'scheme')", name=op.f("ck_namespaces_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_namespaces")),
        sa.UniqueConstraint("name", name=op.f("uq_namespaces_name")),
    )
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("python_version", sa.String(32), nullable=False),
        sa.Column("pickler_version", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("signature", sa.String(128), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(1024), nullable=False),
        sa.Column("blob_sha256", sa.String(64), nullable=True),
        sa.Column("scheme_json", sa.Text(), nullable=True),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("source_hash", sa.String(128), nullable=True),
        sa.Column("python_version", sa.String(32), nullable=False),
        sa.Column("package", sa.String(255), nullable=True),
        sa.Column("package_version", sa.String(64), nullable=True),
        _created_at(),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_entries_version_positive")),
        sa.ForeignKeyConstraint(
            ["blob_sha256"], ["blobs.sha256"], name=op.f("fk_entries_blob_sha256_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_entries_namespace_id_namespaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
        sa.UniqueConstraint(
            "namespace_id",
            "identifier",
            "version",
            name=op.f("uq_entries_namespace_id_identifier_version"),
        ),
    )
    op.create_table(
        "heads",
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_heads_entry_id_entries"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_heads_namespace_id_namespaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", "identifier", name=op.f("pk_heads")),
    )
    op.create_index(op.f("ix_heads_namespace_id_position"), "heads", ["namespace_id", "position"])


def downgrade() -> None:
    op.drop_index(op.f("ix_heads_namespace_id_position"), table_name="heads")
    op.drop_table("heads")
    op.drop_table("entries")
    op.drop_table("blobs")
    op.drop_table("namespaces")
    op.drop_table("registry_meta")
