"""registry: persistent, validated registries of functions, classes and schemes."""

from __future__ import annotations

from registry.errors import (
    CoercionError,
    ConformanceError,
    InheritanceError,
    RegistryError,
    RestoreError,
    SchemaVersionError,
    StoreError,
    ValidationError,
)

__all__ = [
    "CoercionError",
    "ConformanceError",
    "InheritanceError",
    "RegistryError",
    "RestoreError",
    "SchemaVersionError",
    "StoreError",
    "ValidationError",
]
