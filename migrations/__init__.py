"""Alembic migration scripts of the registry store (installed as ``registry._migrations``)."""
