"""Finding registries by name: live classes (``find_registry``) and stored namespaces without
their class definition (``registry.open``)."""

from __future__ import annotations

import threading
import types

from registry.errors import NotFoundError, RegistryError, capped_keys, closest_names, did_you_mean
from registry.registries import FunctionalRegistry, SchemeRegistry, TypeRegistry, _Registry

__all__ = ["find_registry", "open_namespace"]


def find_registry(name: str) -> type[_Registry]:
    """Return the live registry class called ``name`` (a class name or a logic namespace).

    When the same definition ran several times (a notebook cell run again), the newest class
    is returned.

    Raises:
        RegistryError: no such registry, or different classes share the name.
    """
    alive = [ref() for ref in _Registry._directory.get(name, ())]
    found = list({id(c): c for c in alive if c is not None}.values())
    origins = sorted({f"{c.__module__}.{c.__qualname__}" for c in found})
    if len(origins) == 1:
        # One definition, possibly run again (a notebook cell, a reload): the newest class wins.
        return found[-1]
    if found:
        raise RegistryError(
            f"Several registries are called {name!r}: {', '.join(origins)}",
            suggestions=["Refer to a persistent registry by its logic_namespace instead"],
            context={"registry_name": name, "candidates": origins},
        )
    names = [key for key, refs_ in _Registry._directory.items() if any(r() for r in refs_)]
    raise NotFoundError(
        f"No registry called {name!r}",
        suggestions=[did_you_mean(closest_names(name, names))]
        if closest_names(name, names)
        else ["Define (or import) the registry class first"],
        context={"registry_name": name, "available_keys": capped_keys(sorted(names))},
    )


_OPENED: dict[tuple[str | None, str], type[_Registry]] = {}
_OPEN_LOCK = threading.Lock()


def open_namespace(namespace: str, *, url: str | None = None) -> type[_Registry]:
    """Return a registry class for a stored namespace without its class definition.

    The registry kind is read from the store.

    Raises:
        NotFoundError: the namespace does not exist in the store.
    """
    from registry.store import open_store

    with _OPEN_LOCK:
        opened = _OPENED.get((url, namespace))
        if opened is not None:
            return opened
        record = open_store(url).get_namespace(namespace)
        if record is None:
            known = [n.name for n in open_store(url).list_namespaces()]
            raise NotFoundError(
                f"Namespace {namespace!r} does not exist in the store",
                suggestions=[did_you_mean(closest_names(namespace, known))]
                if closest_names(namespace, known)
                else ["Declare a registry class with this logic_namespace and register something"],
                context={"registry_name": namespace, "available_keys": capped_keys(known)},
            )
        kind_class = {
            "function": FunctionalRegistry,
            "type": TypeRegistry,
            "scheme": SchemeRegistry,
        }[record.kind]
        name = namespace.rpartition(".")[2] or namespace
        opened = types.new_class(name, (kind_class,), {"logic_namespace": namespace, "url": url})
        _OPENED[(url, namespace)] = opened
        return opened
