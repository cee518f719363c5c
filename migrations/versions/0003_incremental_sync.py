"""Incremental sync: a change counter per head, tombstones for unregistered identifiers, the
generation of each namespace's last clear, and each namespace's size.

Revision ID: 0003_incremental_sync
Revises: 0002_entry_source_place
Create Date: 2026-11-27

A listener that holds generation G of a namespace reads the heads and tombstones whose
``change`` is above G (both indexed), and drops everything it holds when ``cleared_at`` is
above G, instead of reading the whole namespace. ``namespaces.size`` is kept by every write, so
opening a namespace does not count its heads.

Standalone: uses only ``alembic.op`` and SQLAlchemy Core; tables that move data are written out
here as they were at this revision, never imported from ``registry``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_incremental_sync"
down_revision: str | None = "0002_entry_source_place"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "namespaces",
        sa.Column("cleared_at", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "namespaces", sa.Column("size", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.execute(
        "UPDATE namespaces SET size = "
        "(SELECT count(*) FROM heads WHERE heads.namespace_id = namespaces.id)"
    )
    op.add_column("heads", sa.Column("change", sa.BigInteger(), server_default="0", nullable=False))
    # Existing heads changed no later than their position; any value up to the namespace's
    # generation is correct, since listeners started after this revision read from scratch.
    op.execute("UPDATE heads SET change = position")
    op.create_index(op.f("ix_heads_namespace_id_change"), "heads", ["namespace_id", "change"])
    op.create_table(
        "tombstones",
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("change", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_tombstones_namespace_id_namespaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", "identifier", name=op.f("pk_tombstones")),
    )
    op.create_index(
        op.f("ix_tombstones_namespace_id_change"), "tombstones", ["namespace_id", "change"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tombstones_namespace_id_change"), table_name="tombstones")
    op.drop_table("tombstones")
    op.drop_index(op.f("ix_heads_namespace_id_change"), table_name="heads")
    with op.batch_alter_table("heads") as batch:
        batch.drop_column("change")
    with op.batch_alter_table("namespaces") as batch:
        batch.drop_column("size")
        batch.drop_column("cleared_at")
