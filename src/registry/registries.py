"""``FunctionalRegistry``, ``TypeRegistry[Base]`` and ``SchemeRegistry``.

A registry is a class; each subclass gets, once at class creation, its own artifact cache,
lock, resolved generic parameters and a :class:`~registry.store.base.Store` holding its
records (an in-process ``MemoryStore``, or the shared persistent store for classes declared
with ``logic_namespace=``). ``get_artifact`` is a per-class function whose hit path is one dict
lookup; everything else (entry-point plugins, restore by import path, suggestions) happens on a
miss.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, TypeVar, overload

from registry import plugins, refs, validation
from registry.errors import (
    PermissionDeniedError,
    RegistryError,
    ValidationError,
    capped_keys,
    closest_names,
    did_you_mean,
)
from registry.store import limits
from registry.store.base import (
    EntryDraft,
    EntryRecord,
    NamespaceKind,
    Store,
    is_importable_origin,
    kind_mismatch_error,
)
from registry.store.memory import MemoryStore

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "FunctionalRegistry",
    "SchemeRegistry",
    "TypeRegistry",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
A = TypeVar("A")

_MISSING: Any = object()
_NAMESPACE = re.compile(limits.NAMESPACE_PATTERN)


class _Registry:
    """What the three registry kinds share. Users subclass the public kinds, not this."""

    _kind: ClassVar[NamespaceKind]
    _artifacts: ClassVar[dict[str, Any]]
    _lock: ClassVar[threading.RLock]
    _write_lock: ClassVar[threading.Lock]
    _store: ClassVar[Store]
    _namespace: ClassVar[str]
    _persistent: ClassVar[bool] = False
    _namespace_stored: ClassVar[bool] = True
    _strict: ClassVar[bool] = False
    _abstract: ClassVar[bool] = False
    _base: ClassVar[type | None] = None
    _function_spec: ClassVar[validation.FunctionSpec | None] = None
    _schemes: ClassVar[dict[str, tuple[Any, type[BaseModel]]]]
    _versions: ClassVar[dict[str, int]]
    _directory: ClassVar[dict[str, list[weakref.ref[type[_Registry]]]]] = {}

    def __init_subclass__(
        cls,
        *,
        strict: bool | None = None,
        abstract: bool | None = None,
        logic_namespace: str | None = None,
        url: str | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            accepted = ["strict", "abstract", "logic_namespace", "url"]
            hints = [
                did_you_mean(close) for k in unknown if (close := closest_names(k, accepted, 1))
            ]
            raise ValidationError(
                f"{cls.__name__} got unknown class keyword(s): {', '.join(sorted(unknown))}",
                suggestions=[*hints, f"Registries accept: {', '.join(accepted)}"],
                context={"registry_name": cls.__name__, "unknown": sorted(unknown)},
            )
        super().__init_subclass__()
        if cls.__module__ == __name__ and cls.__name__ in _KINDS:
            return  # the public kinds themselves hold nothing
        if strict is not None:
            cls._strict = strict
        if abstract is not None:
            cls._abstract = abstract
        cls._resolve_generic_parameters()
        if cls._abstract and cls._base is None:
            raise ValidationError(
                f"{cls.__name__} is declared abstract=True but names no base class",
                suggestions=[
                    f"Declare it as class {cls.__name__}(TypeRegistry[Base], abstract=True)"
                ],
                context={"registry_name": cls.__name__},
            )
        cls._artifacts = {}
        cls._schemes = {}
        cls._versions = {}
        cls._lock = threading.RLock()
        cls._write_lock = threading.Lock()
        cls._install_getter()
        if logic_namespace is None:
            if url is not None:
                raise ValidationError(
                    f"{cls.__name__} passes url= without logic_namespace=",
                    suggestions=["Add logic_namespace='lab.name' to make the registry persistent"],
                    context={"registry_name": cls.__name__},
                )
            cls._namespace = cls.__qualname__
            cls._store = MemoryStore()
            cls._store.ensure_namespace(cls._namespace, cls._kind)
            cls._persistent = False
        else:
            cls._attach_store(logic_namespace, url)
        cls._directory.setdefault(cls.__name__, []).append(weakref.ref(cls))
        if cls._persistent:
            cls._directory.setdefault(cls._namespace, []).append(weakref.ref(cls))

    # ------------------------------------------------------------------ class creation

    @classmethod
    def _resolve_generic_parameters(cls) -> None:
        for base in cls.__dict__.get("__orig_bases__", ()):
            origin = getattr(base, "__origin__", None)
            args: tuple[Any, ...] = tuple(getattr(base, "__args__", ()))
            if origin is TypeRegistry and args:
                cls._base = args[0] if inspect.isclass(args[0]) else None
            elif origin is FunctionalRegistry and len(args) == 2:
                params = None if args[0] is Ellipsis else tuple(args[0])
                cls._function_spec = validation.FunctionSpec(params, args[1])

    @classmethod
    def _install_getter(cls) -> None:
        artifacts = cls._artifacts
        miss = cls._miss

        # A closure over this class's dict: the hit path is one lookup.
        def get_artifact(identifier: str) -> Any:
            try:
                return artifacts[identifier]
            except KeyError:
                return miss(identifier)
            except TypeError:
                validation.check_identifier(identifier, cls.__name__)
                raise

        get_artifact.__doc__ = _Registry.get_artifact.__doc__
        # A plain function read from a class is not bound, and skipping the staticmethod
        # descriptor saves ~13 ns of a ~45 ns hit.
        cls.get_artifact = get_artifact  # type: ignore[method-assign]

    @classmethod
    def _attach_store(cls, logic_namespace: str, url: str | None) -> None:
        if not isinstance(logic_namespace, str) or not _NAMESPACE.fullmatch(logic_namespace):
            raise ValidationError(
                f"Invalid logic_namespace {logic_namespace!r}: use 1-255 letters, digits, '.', '_' or '-'",
                suggestions=["Use a dotted name such as 'lab.losses'"],
                context={"registry_name": cls.__name__},
            )
        from registry.store import open_store

        cls._namespace = logic_namespace
        cls._persistent = True
        cls._store = open_store(url)
        cls._namespace_stored = cls._find_or_create_namespace()
        cls._store.watch(_ChangeListener(cls))

    @classmethod
    def _find_or_create_namespace(cls) -> bool:
        """Read the namespace first, so that read-only consumers (a SELECT-only database role, a
        read token, a read-only SQLite file) can define the class; return whether it exists.

        A namespace missing from a store this process may not write to is created by the first
        registration, which then reports the permission error.
        """
        record = cls._store.get_namespace(cls._namespace)
        if record is not None:
            if record.kind != cls._kind:
                raise kind_mismatch_error(cls._namespace, record.kind, cls._kind)
            return True
        try:
            cls._store.ensure_namespace(cls._namespace, cls._kind)
        except PermissionDeniedError:
            return False
        return True

    @classmethod
    def _writable_namespace(cls) -> None:
        """Create the namespace before the first write if class creation could not."""
        if not cls._namespace_stored:
            cls._store.ensure_namespace(cls._namespace, cls._kind)
            cls._namespace_stored = True

    # ------------------------------------------------------------------ reads

    @classmethod
    def get_artifact(cls, identifier: str) -> Any:
        """Return the artifact registered under ``identifier``.

        Raises:
            RegistryError: nothing is registered under it (with "did you mean" suggestions).
            CoercionError: the identifier is unhashable or not a string.
            RestoreError: a persistent artifact cannot be imported on this machine.
        """
        raise NotImplementedError  # replaced per class by _install_getter

    @classmethod
    def _miss(cls, identifier: str) -> Any:
        validation.check_identifier(identifier, cls.__name__)
        record = cls._store.get_entry(cls._namespace, identifier)
        if record is None and plugins.load_once():
            return cls.get_artifact(identifier)
        if record is None or not cls._persistent:
            raise cls._missing_error(identifier)
        return cls._restore(record)

    @classmethod
    def _restore(cls, record: EntryRecord) -> Any:
        if record.blob_sha256 is not None:
            artifact = cls._load_blob(record)
        else:
            artifact = refs.import_object(record.origin)
        with cls._lock:
            current = cls._artifacts.get(record.identifier, _MISSING)
            if current is not _MISSING:  # another thread (or the import itself) got there first
                return current
            cls._artifacts[record.identifier] = artifact
            cls._versions[record.identifier] = record.version
        if record.source_hash and not record.blob_sha256:
            found = refs.source_hash(artifact)
            if found is not None and found != record.source_hash:
                warnings.warn(
                    f"{record.origin} changed since it was registered in {cls._namespace!r} "
                    f"(version {record.version}); register it again to record the new version",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return artifact

    @classmethod
    def _load_blob(cls, record: EntryRecord) -> Any:
        from registry import pickling

        blob = cls._store.get_blob(record.blob_sha256 or "")
        return pickling.load_blob(blob, record)

    @classmethod
    def _missing_error(cls, identifier: str) -> RegistryError:
        names = list(cls.iter_identifiers())
        close = closest_names(identifier, names)
        suggestions = [did_you_mean(close)] if close else []
        if not names:
            suggestions.append(
                f"{cls.__name__} is empty: register artifacts before looking them up"
            )
        else:
            suggestions.append(
                "Import the module that registers it, or list it in a 'registry' entry point"
            )
        return RegistryError(
            f"{identifier!r} is not registered in {cls.__name__}",
            suggestions=suggestions,
            context={
                "registry_name": cls.__name__,
                "registry_size": len(names),
                "available_keys": capped_keys(names),
                "identifier": identifier,
            },
        )

    @classmethod
    def has_identifier(cls, identifier: str) -> bool:
        """Return whether something is registered under ``identifier`` (never imports it)."""
        try:
            if identifier in cls._artifacts:
                return True
        except TypeError:
            validation.check_identifier(identifier, cls.__name__)
        return (
            isinstance(identifier, str)
            and cls._store.get_entry(cls._namespace, identifier) is not None
        )

    @classmethod
    def has_artifact(cls, artifact: Any) -> bool:
        """Return whether ``artifact`` (or its definition, for persistent registries) is registered."""
        return bool(cls._identifiers_of(artifact))

    @classmethod
    def iter_identifiers(cls) -> Iterator[str]:
        """Iterate over a snapshot of the identifiers, in registration order."""
        return iter([record.identifier for record in cls._store.list_entries(cls._namespace)])

    @classmethod
    def history(cls, identifier: str) -> list[EntryRecord]:
        """Return every stored version of ``identifier`` with its provenance, oldest first."""
        validation.check_identifier(identifier, cls.__name__)
        return cls._store.history(cls._namespace, identifier)

    @classmethod
    def _identifiers_of(cls, artifact: Any) -> list[str]:
        with cls._lock:
            found = [key for key, value in cls._artifacts.items() if value is artifact]
        origin = refs.origin_of(artifact)
        if cls._persistent and is_importable_origin(origin):
            found += [
                r.identifier
                for r in cls._store.list_entries(cls._namespace)
                if r.origin == origin and r.identifier not in found
            ]
        return found

    # ------------------------------------------------------------------ validation

    @classmethod
    def validate_artifact(cls, artifact: A) -> A:
        """Check ``artifact`` as registration would, store nothing, and return it.

        Raises:
            ValidationError: wrong kind of artifact.
            InheritanceError: ``abstract=True`` and the class does not inherit from the base.
            ConformanceError: ``strict=True`` and the signature or protocol does not match.
        """
        name = cls.__name__
        validation.check_kind(cls._kind, artifact, name)
        if cls._kind == "type":
            klass: type = artifact  # type: ignore[assignment]
            if cls._abstract and cls._base is not None:
                validation.check_inheritance(klass, cls._base, name)
            if cls._strict:
                validation.check_class_conformance(klass, cls._base, name)
        elif cls._strict:
            target: Callable[..., Any] = artifact  # type: ignore[assignment]
            validation.check_function_conformance(target, cls._function_spec, name)
        return artifact

    @classmethod
    def batch_validate(cls, artifacts: Mapping[str, Any]) -> dict[str, bool | ValidationError]:
        """Validate each item; return ``{key: True | the ValidationError}``."""
        results: dict[str, bool | ValidationError] = {}
        for key, artifact in artifacts.items():
            try:
                validation.check_identifier(key, cls.__name__)
                cls.validate_artifact(artifact)
                results[key] = True
            except ValidationError as error:
                results[key] = error
        return results

    @classmethod
    def validate_registry_state(cls) -> dict[str, Any]:
        """Re-validate every registered artifact (restoring persistent ones).

        Returns:
            ``{"registry_name", "total", "valid": [ids], "invalid": {id: error dict}, "ok"}``.
        """
        valid: list[str] = []
        invalid: dict[str, Any] = {}
        for identifier in cls.iter_identifiers():
            try:
                cls.validate_artifact(cls.get_artifact(identifier))
                valid.append(identifier)
            except ValidationError as error:
                invalid[identifier] = error.to_dict()
        return {
            "registry_name": cls.__name__,
            "total": len(valid) + len(invalid),
            "valid": valid,
            "invalid": invalid,
            "ok": not invalid,
        }

    # ------------------------------------------------------------------ writes

    @overload
    @classmethod
    def register_artifact(cls, key_or_artifact: str) -> Callable[[A], A]: ...

    @overload
    @classmethod
    def register_artifact(cls, key_or_artifact: A) -> A: ...

    @overload
    @classmethod
    def register_artifact(cls, key_or_artifact: str, artifact: A) -> A: ...

    @classmethod
    def register_artifact(cls, key_or_artifact: Any, artifact: Any = _MISSING) -> Any:
        """Register an artifact and return it, so this works as a decorator.

        Forms: ``register_artifact(obj)``, ``register_artifact("key", obj)`` and the decorator
        ``@register_artifact("key")``. Registering the same definition again is a no-op; a
        different artifact under a taken identifier raises :class:`RegistryError`.
        """
        if artifact is not _MISSING:
            cls._register(key_or_artifact, artifact)
            return artifact
        if isinstance(key_or_artifact, str):
            key = key_or_artifact
            return lambda obj: cls.register_artifact(key, obj)
        cls._register(None, key_or_artifact)
        return key_or_artifact

    @classmethod
    def _register(cls, identifier: object, artifact: Any) -> str:
        draft = cls._draft(identifier, artifact)
        cls._writable_namespace()
        with cls._write_lock:
            if draft.blob is None:
                registration = cls._store.register(cls._namespace, draft)
            else:
                from registry import pickling

                registration = pickling.register_sealed(cls._store, cls._namespace, draft)
            cls._remember(draft.identifier, artifact, registration.record.version)
        cls._sync_siblings()
        return draft.identifier

    @classmethod
    def _remember(cls, identifier: str, artifact: Any, version: int) -> None:
        with cls._lock:
            cls._artifacts[identifier] = artifact
            cls._versions[identifier] = version
            cls._schemes.pop(identifier, None)

    @classmethod
    def _identifier_for(cls, artifact: Any) -> str:
        name = getattr(inspect.unwrap(artifact), "__name__", None)
        if not isinstance(name, str):
            raise ValidationError(
                f"{artifact!r} has no __name__ to register it under",
                suggestions=[f"Pass an identifier: {cls.__name__}.register_artifact('name', obj)"],
                context={"registry_name": cls.__name__},
            )
        return name

    @classmethod
    def _draft(cls, identifier: object, artifact: Any) -> EntryDraft:
        cls.validate_artifact(artifact)
        key = validation.check_identifier(
            cls._identifier_for(artifact) if identifier is None else identifier, cls.__name__
        )
        origin = refs.origin_of(artifact)
        if not cls._persistent:
            # Source text only tells same-named lambdas apart; reading it costs ~70 us.
            source = refs.source_hash(artifact) if "<lambda>" in origin else None
            return EntryDraft(identifier=key, origin=origin, source_hash=source)
        return cls._persistent_draft(key, artifact, origin)

    @classmethod
    def _persistent_draft(cls, key: str, artifact: Any, origin: str) -> EntryDraft:
        from registry import pickling, schemes

        model = cls._model_for(key, artifact)
        package = origin.partition(":")[0].partition(".")[0]
        blob = None
        if not is_importable_origin(origin):
            blob = pickling.dump_blob(artifact, cls._namespace, key)
        version = _distribution_version(package)
        draft = EntryDraft(
            identifier=key,
            origin=origin,
            source_hash=refs.source_hash(artifact),
            signature=limits.fit_text(refs.signature_text(artifact), limits.SIGNATURE_TEXT),
            scheme=None if model is None else schemes.scheme_json(model),
            doc=limits.fit_text(refs.doc_summary(artifact), limits.DOC),
            blob=blob,
            python_version="{}.{}.{}".format(*sys.version_info[:3]),
            package=package or None,
            package_version=None if version is None else version[: limits.PACKAGE_VERSION],
        )
        limits.check_draft(cls._namespace, draft)  # before any store I/O, per item in batches
        return draft

    @classmethod
    def unregister_identifier(cls, identifier: str) -> None:
        """Remove ``identifier``.

        Raises:
            RegistryError: nothing is registered under it.
        """
        validation.check_identifier(identifier, cls.__name__)
        with cls._write_lock:
            removed = cls._store.unregister(cls._namespace, identifier)
            cls._forget(identifier)
        cls._sync_siblings()
        if not removed:
            raise cls._missing_error(identifier)

    @classmethod
    def _forget(cls, identifier: str) -> None:
        with cls._lock:
            cls._artifacts.pop(identifier, None)
            cls._versions.pop(identifier, None)
            cls._schemes.pop(identifier, None)

    @classmethod
    def _sync_with_store(cls) -> None:
        """Drop cached objects whose stored version moved (changed elsewhere)."""
        current = {r.identifier: r.version for r in cls._store.list_entries(cls._namespace)}
        with cls._lock:
            for identifier, version in list(cls._versions.items()):
                if current.get(identifier) != version:
                    cls._forget(identifier)

    @classmethod
    def _sync_siblings(cls) -> None:
        """Tell other live classes of this process on the same namespace about our write."""
        if not cls._persistent:
            return
        for ref in cls._directory.get(cls._namespace, ()):
            other = ref()
            if other is not None and other is not cls and other._store is cls._store:
                other._sync_with_store()

    @classmethod
    def unregister_artifact(cls, artifact: Any) -> None:
        """Remove every identifier ``artifact`` is registered under.

        Raises:
            RegistryError: the artifact is not registered.
        """
        identifiers = cls._identifiers_of(artifact)
        if not identifiers:
            raise RegistryError(
                f"{refs.origin_of(artifact)} is not registered in {cls.__name__}",
                suggestions=["Check has_artifact() first, or unregister by identifier"],
                context={"registry_name": cls.__name__, "artifact": refs.origin_of(artifact)},
            )
        for identifier in identifiers:
            with cls._write_lock:
                cls._store.unregister(cls._namespace, identifier)
                cls._forget(identifier)
        cls._sync_siblings()

    @classmethod
    def clear_artifacts(cls) -> None:
        """Remove every artifact of this registry (from the store too, if persistent)."""
        with cls._write_lock:
            cls._store.clear(cls._namespace)
            with cls._lock:
                cls._artifacts.clear()
                cls._versions.clear()
                cls._schemes.clear()
        cls._sync_siblings()

    @classmethod
    def safe_register_batch(
        cls, artifacts: Mapping[str, Any], skip_invalid: bool = True
    ) -> dict[str, Any]:
        """Register many artifacts, capturing each item's error.

        With ``skip_invalid=False`` the first error is raised, and the items before it stay
        registered. Otherwise the valid items are written in one store transaction.

        Returns:
            ``{"successful": [keys], "failed": [keys], "total": n, "errors": [{"key", "error",
            "suggestions", "context"}]}``.
        """
        report: dict[str, Any] = {
            "successful": [],
            "failed": [],
            "total": len(artifacts),
            "errors": [],
        }
        if not skip_invalid:
            for key, artifact in artifacts.items():
                cls._register(key, artifact)
                report["successful"].append(key)
            return report
        drafts: list[tuple[EntryDraft, Any]] = []
        for key, artifact in artifacts.items():
            try:
                drafts.append((cls._draft(key, artifact), artifact))
            except ValidationError as error:
                _record_failure(report, key, error)
        if not drafts:
            return report
        cls._writable_namespace()
        with cls._write_lock:
            from registry import pickling

            results = pickling.register_batch_sealed(
                cls._store, cls._namespace, [draft for draft, _ in drafts]
            )
            for (draft, artifact), result in zip(drafts, results, strict=True):
                if isinstance(result, ValidationError):
                    _record_failure(report, draft.identifier, result)
                else:
                    cls._remember(draft.identifier, artifact, result.record.version)
                    report["successful"].append(draft.identifier)
        cls._sync_siblings()
        return report

    @classmethod
    def _register_module_members(
        cls, module: types.ModuleType, wanted: Callable[[Any], bool], raise_error: bool
    ) -> list[str]:
        names = getattr(module, "__all__", None)
        exported = names is not None
        if names is None:
            names = [name for name in vars(module) if not name.startswith("_")]
        registered: list[str] = []
        for name in names:
            member = getattr(module, name, None)
            if not wanted(member):
                continue
            if not exported and getattr(member, "__module__", None) != module.__name__:
                continue  # imported from elsewhere, not defined here
            try:
                registered.append(cls._register(None, member))
            except ValidationError:
                if raise_error:
                    raise
        return registered

    # ------------------------------------------------------------------ schemes

    @classmethod
    def _model_for(cls, identifier: str, artifact: Any) -> type[BaseModel] | None:
        cached = cls._schemes.get(identifier)
        if cached is not None and cached[0] is artifact:
            return cached[1]
        from registry import schemes

        try:
            model = schemes.extract_model(identifier, artifact)
        except ValidationError:
            return None
        with cls._lock:
            cls._schemes[identifier] = (artifact, model)
        return model

    @classmethod
    def _scheme(cls, identifier: str) -> type[BaseModel]:
        artifact = cls.get_artifact(identifier)
        model = cls._model_for(identifier, artifact)
        if model is None:
            from registry import schemes

            return schemes.extract_model(identifier, artifact)  # raises the explanatory error
        return model

    # ------------------------------------------------------------------ factorization

    @classmethod
    def factorize_artifact(cls, identifier: str, /, **config: Any) -> Any:
        """Build ``identifier`` from ``config``; nested ``{"_type": name, ...}`` mappings are
        built first. The whole tree is validated and coerced before anything is called.

        ``_type`` names an artifact of this registry, or ``"Registry:name"`` of another (class
        name or logic namespace); never an import path. See docs/factorization.md.

        Raises:
            ValidationError: with the failing ``_type`` and dotted ``path`` in its context.
        """
        import registry.lookup as lookup  # noqa: PLR0402 - about 0.2 us cheaper per call than from-import

        return lookup.factorize_in(cls, identifier, config)

    @classmethod
    def check_config(cls, identifier: str, /, **config: Any) -> None:
        """Validate a whole config tree as :meth:`factorize_artifact` would, calling nothing.

        Raises:
            ValidationError: with the failing ``_type`` and dotted ``path`` in its context.
        """
        from registry import lookup

        lookup.factorize_in(cls, identifier, config, build=False)

    @classmethod
    def factorize_from_file(
        cls, identifier: str, path: str | os.PathLike[str], engine: str | None = None
    ) -> Any:
        """Build ``identifier`` from the config file ``path``, read by the ``ConfigFileEngine``
        loader for its suffix (or ``engine``)."""
        from registry import engines, lookup

        return lookup.factorize_in(cls, identifier, engines.load_config_file(path, engine))

    @classmethod
    def factorize_from_socket(
        cls, identifier: str, source: Mapping[str, Any], protocol: str = "http"
    ) -> Any:
        """Build ``identifier`` from a config fetched by the ``SocketEngine`` source
        ``protocol`` (``http``: ``{"url": ..., "timeout": 5, "headers": {...}}``)."""
        from registry import engines, lookup

        return lookup.factorize_in(
            cls, identifier, engines.fetch_config(identifier, source, protocol)
        )

    @classmethod
    def to_config(cls, obj: Any) -> Any:
        """Return a config that rebuilds ``obj`` with :meth:`factorize_artifact`; this
        registry's artifacts are named without the ``Registry:`` prefix."""
        from registry import lookup

        return lookup.to_config_in(cls, obj)


_KINDS = ("FunctionalRegistry", "TypeRegistry", "SchemeRegistry")


def _record_failure(report: dict[str, Any], key: object, error: ValidationError) -> None:
    report["failed"].append(key)
    report["errors"].append(
        {
            "key": key,
            "error": error.message,
            "suggestions": error.suggestions,
            "context": error.context,
        }
    )


def _distribution_version(package: str) -> str | None:
    if not package:
        return None
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


class _ChangeListener:
    """Forwards store change signals to one registry class without keeping it alive."""

    def __init__(self, registry: type[_Registry]) -> None:
        self._registry = weakref.ref(registry)

    def __call__(self, namespaces: frozenset[str] | None) -> None:
        cls = self._registry()
        if cls is not None and (namespaces is None or cls._namespace in namespaces):
            cls._sync_with_store()


class FunctionalRegistry(_Registry, Generic[P, R]):
    """A registry of functions. ``FunctionalRegistry[[int], int]`` with ``strict=True`` checks
    each function against ``Callable[[int], int]``; without generics, strict mode requires
    every parameter and the return to be annotated."""

    _kind = "function"

    @classmethod
    def register_module_functions(
        cls, module: types.ModuleType, raise_error: bool = True
    ) -> list[str]:
        """Register the functions a module defines (its ``__all__`` if it has one)."""
        return cls._register_module_members(module, inspect.isfunction, raise_error)


class TypeRegistry(_Registry, Generic[T]):
    """A registry of classes. ``TypeRegistry[Base]`` with ``abstract=True`` requires subclasses
    of ``Base``; with ``strict=True`` classes must implement every member of ``Base`` (an ABC or
    a ``typing.Protocol``) with compatible signatures."""

    _kind = "type"

    @classmethod
    def register_module_subclasses(
        cls, module: types.ModuleType, raise_error: bool = True
    ) -> list[str]:
        """Register the classes a module defines that subclass the registry's base (all classes
        when the registry has none)."""
        base = cls._base

        def wanted(member: Any) -> bool:
            if not inspect.isclass(member) or member is base:
                return False
            return base is None or not cls._abstract or base in member.__mro__

        return cls._register_module_members(module, wanted, raise_error)


class SchemeRegistry(_Registry):
    """A registry of callables with pydantic schemes built from their signatures."""

    _kind = "scheme"

    @classmethod
    def register_module_callables(
        cls, module: types.ModuleType, raise_error: bool = True
    ) -> list[str]:
        """Register the functions and classes a module defines (its ``__all__`` if it has one)."""
        return cls._register_module_members(
            module, lambda m: inspect.isfunction(m) or inspect.isclass(m), raise_error
        )

    @classmethod
    def get_model(cls, identifier: str) -> type[BaseModel]:
        """Return the pydantic model ``<identifier>Config`` describing the artifact's parameters."""
        return cls._scheme(identifier)

    @classmethod
    def build_config(cls, identifier: str, **values: Any) -> BaseModel:
        """Validate ``values`` against the artifact's scheme and return the config instance.

        Raises:
            ValidationError: a value is missing, unknown or cannot be coerced (each is named).
        """
        from registry import schemes

        return schemes.validate_config(identifier, cls._scheme(identifier), values)

    @classmethod
    def execute(
        cls, identifier: str, config: BaseModel | Mapping[str, Any] | None = None, **values: Any
    ) -> Any:
        """Validate ``config`` (a config instance or a mapping, plus keyword values) and call the
        artifact with it."""
        merged: BaseModel | Mapping[str, Any]
        if config is None:
            merged = values
        elif values:
            base = dict(config)
            merged = {**base, **values}
        else:
            merged = config
        from registry import schemes

        validated = schemes.validate_config(identifier, cls._scheme(identifier), merged)
        return schemes.call_with_config(cls.get_artifact(identifier), validated)
