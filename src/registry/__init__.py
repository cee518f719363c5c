"""registry: persistent, validated registries of functions, classes and schemes."""

from registry.errors import (
    CoercionError,
    ConformanceError,
    InheritanceError,
    NotFoundError,
    PermissionDeniedError,
    RegistryError,
    RestoreError,
    SchemaVersionError,
    SettingsError,
    StoreError,
    ValidationError,
)
from registry.namespaces import find_registry
from registry.namespaces import open_namespace as open
from registry.registries import FunctionalRegistry, SchemeRegistry, TypeRegistry
from registry.settings import configure

# isort: split
# Factorization sits above the registries (its engines are registries themselves) and installs
# itself in them when imported, so it comes after them.
from registry.factorize import (
    ConfigFileEngine,
    SocketEngine,
    dump_config,
    load_config_file,
    to_config,
)

__all__ = [
    "CoercionError",
    "ConfigFileEngine",
    "ConformanceError",
    "FunctionalRegistry",
    "InheritanceError",
    "NotFoundError",
    "PermissionDeniedError",
    "RegistryError",
    "RestoreError",
    "SchemaVersionError",
    "SchemeRegistry",
    "SettingsError",
    "SocketEngine",
    "StoreError",
    "TypeRegistry",
    "ValidationError",
    "configure",
    "dump_config",
    "find_registry",
    "load_config_file",
    "open",
    "to_config",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("registry."):
        _obj.__module__ = "registry"
del _name, _obj


def __getattr__(name: str) -> str:
    # The version is read from the installed metadata on first use, not at every import.
    if name == "__version__":
        from registry.version import package_version

        return package_version()
    raise AttributeError(f"module 'registry' has no attribute {name!r}")
