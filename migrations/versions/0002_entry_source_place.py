"""Record where each artifact version was defined: entries.source_file and entries.source_line.

Registrations compare the place to tell a definition run again (a reload, a cell or script run
again) from a second definition of the same name in one file. Rows written before this
revision have no place (NULL), which the comparison treats as unknown.

Revision ID: 0002_entry_source_place
Revises: 0001_initial
Create Date: 2026-12-01

Standalone: uses only ``alembic.op`` and SQLAlchemy Core, never ``registry`` models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_entry_source_place"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("source_file", sa.String(1024), nullable=True))
        batch.add_column(sa.Column("source_line", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("source_line")
        batch.drop_column("source_file")
