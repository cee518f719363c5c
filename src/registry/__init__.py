"""registry: persistent, validated registries of functions, classes and schemes."""

from registry.errors import (
    CoercionError,
    ConformanceError,
    InheritanceError,
    PermissionDeniedError,
    RegistryError,
    RestoreError,
    SchemaVersionError,
    StoreError,
    ValidationError,
)
from registry.registries import (
    FunctionalRegistry,
    SchemeRegistry,
    TypeRegistry,
    find_registry,
)
from registry.registries import open_namespace as open
from registry.settings import configure

__all__ = [
    "CoercionError",
    "ConformanceError",
    "FunctionalRegistry",
    "InheritanceError",
    "PermissionDeniedError",
    "RegistryError",
    "RestoreError",
    "SchemaVersionError",
    "SchemeRegistry",
    "StoreError",
    "TypeRegistry",
    "ValidationError",
    "configure",
    "find_registry",
    "open",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("registry."):
        _obj.__module__ = "registry"
del _name, _obj
