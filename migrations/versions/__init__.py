"""Revision files, one per schema change; each imports only ``alembic.op`` and SQLAlchemy."""
