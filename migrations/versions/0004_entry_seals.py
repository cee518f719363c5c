"""Seals move from blobs to entries: an HMAC binds each entry version to its blob.

A blob is content-addressed and shared by every entry whose pickle has the same bytes, so a
signature on the blob could not say which entry it vouches for, and a signed write of bytes
stored earlier unsigned left them unsigned. Blob signatures made before this revision cannot be
turned into entry seals (that needs the key): readers that require signatures refuse those
entries until they are registered again with the key.

Revision ID: 0004_entry_seals
Revises: 0003_incremental_sync
Create Date: 2026-12-01

Standalone: uses only ``alembic.op`` and SQLAlchemy Core, never ``registry`` models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_entry_seals"
down_revision: str | None = "0003_incremental_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("seal_key_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("seal", sa.String(128), nullable=True))
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("key_id")
        batch.drop_column("signature")


def downgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("key_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("signature", sa.String(128), nullable=True))
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("seal")
        batch.drop_column("seal_key_id")
