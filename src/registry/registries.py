"""``FunctionalRegistry``, ``TypeRegistry[Base]`` and ``SchemeRegistry``.

A registry is a class; each subclass gets, once at class creation, its own artifact cache,
lock, resolved generic parameters and a :class:`~registry.store.base.Store` holding its
records (an in-process ``MemoryStore``, or the shared persistent store for classes declared
with ``logic_namespace=``). ``get_artifact`` is a per-class function whose hit path is one dict
lookup; everything else (entry-point plugins, restore by import path, suggestions) happens on a
miss.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, Protocol, TypeVar, overload

from registry import drafts, plugins, refs, sources, speedups, validation
from registry.errors import (
    NotFoundError,
    PermissionDeniedError,
    RegistryError,
    ValidationError,
    capped_keys,
    closest_names,
    did_you_mean,
    jsonable,
)
from registry.scheme_cache import SchemeCache
from registry.store import limits
from registry.store.base import (
    ChangeSet,
    EntryDraft,
    EntryRecord,
    NamespaceKind,
    Outcome,
    Registration,
    Store,
    is_importable_origin,
    kind_mismatch_error,
)
from registry.store.memory import MemoryStore

if TYPE_CHECKING:
    from pydantic import BaseModel

    from registry.suggest import NameIndex

__all__ = [
    "Factorization",
    "FunctionalRegistry",
    "SchemeRegistry",
    "TypeRegistry",
    "install_factorization",
]

#: Identifiers a registry class created since its did-you-mean index, kept to extend the index
#: at the next miss; beyond this many, the next miss lists the namespace instead.
_CREATED_UNTIL_LISTED = 256

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
A = TypeVar("A")

_MISSING: Any = object()
_NAMESPACE = re.compile(limits.NAMESPACE_PATTERN)


class Factorization(Protocol):
    """What registry classes ask of the factorization layer, ``registry.factorize``.

    That layer sits above the registries (its engines are registries, its lookups resolve
    names in them), so registries never import it: it installs itself here with
    :func:`install_factorization` when it is imported, which ``import registry`` does.
    """

    def factorize_function(self, registry: type[_Registry]) -> Callable[..., Any]:
        """Return the ``factorize_artifact(identifier, /, *args, **config)`` of ``registry``."""
        ...

    def factorize(
        self,
        registry: type[_Registry],
        identifier: str,
        args: tuple[Any, ...],
        config: Any,
        *,
        build: bool = True,
    ) -> Any:
        """Validate ``config`` (positional values ``args``) and build it (``build=False``: only
        validate)."""
        ...

    def load_config_file(self, path: str | os.PathLike[str], engine: str | None) -> Any:
        """Return the config in the file ``path`` (``ConfigFileEngine``)."""
        ...

    def fetch_config(self, identifier: str, source: Any, protocol: str) -> Any:
        """Return the config for ``identifier`` fetched from ``source`` (``SocketEngine``)."""
        ...

    def to_config(self, registry: type[_Registry], obj: Any) -> Any:
        """Return the config of ``obj`` with ``registry``'s artifacts named without prefix."""
        ...


def install_factorization(layer: Factorization) -> None:
    """Give every registry class the factorization layer (``registry.factorize`` calls this)."""
    _Registry._factorization = layer


class _Memo:
    """What a registry class learns from its own registrations and misses.

    It is one object set at class creation, written through its attributes, because writing
    an attribute of the class itself invalidates the interpreter's caches of that class's
    attributes: CPython 3.13 stops specializing them after about a thousand such writes, and
    every later ``Registry.get_artifact`` then costs about 1.8 times as much.
    """

    __slots__ = ("expect_unchanged", "suggestions")

    def __init__(self) -> None:
        self.expect_unchanged = True
        """Whether the last registration changed nothing. The next one is then first looked up
        as it is stored (``_stored_as_is``); after a write it is drafted at once, so a run of
        new registrations pays no extra read."""
        self.suggestions: tuple[int, NameIndex, tuple[str, ...]] | None = None
        """The did-you-mean index at a generation, and the identifiers this class created since."""


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
    _schemes: ClassVar[SchemeCache]
    _versions: ClassVar[dict[str, int]]
    _memo: ClassVar[_Memo]
    _validated: ClassVar[validation.ValidationCache]
    _directory: ClassVar[dict[str, list[weakref.ref[type[_Registry]]]]] = {}
    _factorization: ClassVar[Factorization]

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
        cls._versions = {}
        cls._memo = _Memo()
        cls._validated = validation.ValidationCache()
        cls._lock = threading.RLock()
        cls._schemes = SchemeCache(cls._lock)
        cls._write_lock = threading.Lock()
        cls._install_getter()
        cls._install_factorizer()
        if logic_namespace is None:
            if url is not None:
                raise ValidationError(
                    f"{cls.__name__} passes url= without logic_namespace=",
                    suggestions=["Add logic_namespace='lab.name' to make the registry persistent"],
                    context={"registry_name": cls.__name__},
                )
            cls._namespace = refs.display_name(cls)
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

        # A closure over this class's dict: the hit path is one lookup. Where the C extension is
        # built, its Getter serves the hits without a Python frame (the dict's own bound
        # __getitem__ would too, but would raise an unhashable identifier's TypeError where
        # nothing can turn it into the documented CoercionError) and calls this for the rest.
        def get_artifact(identifier: str) -> Any:
            try:
                return artifacts[identifier]
            except KeyError:
                return miss(identifier)
            except TypeError:
                validation.check_identifier(identifier, cls.__name__)
                raise

        get_artifact.__doc__ = _Registry.get_artifact.__doc__
        # A plain function (or a C callable) read from a class is not bound: skipping the
        # staticmethod descriptor saves ~13 ns of a ~45 ns hit.
        getter = (
            get_artifact if speedups.Getter is None else speedups.Getter(artifacts, get_artifact)
        )
        cls.get_artifact = getter  # type: ignore[method-assign]

    @classmethod
    def _install_factorizer(cls) -> None:
        def factorize_artifact(identifier: str, /, *args: Any, **config: Any) -> Any:
            # Made on first use: factorization imports pydantic.
            factorize = cls._factorization.factorize_function(cls)
            cls.factorize_artifact = factorize  # type: ignore[method-assign]
            return factorize(identifier, *args, **config)

        factorize_artifact.__doc__ = _Registry.factorize_artifact.__doc__
        # A plain function on the class, like get_artifact: one call frame to a generated builder.
        cls.factorize_artifact = factorize_artifact  # type: ignore[method-assign]

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
        cls._store.watch_changes(logic_namespace, _ChangeListener(cls))

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
        # A change that arrived while we imported was applied to the store's view before its
        # listener ran, and the listener did not see this artifact yet: look once more.
        latest = cls._store.get_entry(cls._namespace, record.identifier)
        if latest is None or latest.version != record.version:
            cls._forget(record.identifier)
        if record.source_hash and not record.blob_sha256:
            found = refs.source_hash(artifact, index=False)
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
    def _missing_error(cls, identifier: str, operation: str = "get_artifact") -> RegistryError:
        index = cls._name_index()
        names = index.names
        close = index.closest(identifier)
        suggestions = [did_you_mean(close)] if close else []
        if not names:
            suggestions.append(
                f"{cls.__name__} is empty: register artifacts before looking them up"
            )
        else:
            suggestions.append(
                "Import the module that registers it, or list it in a 'registry' entry point"
            )
        error = NotFoundError(
            f"{identifier!r} is not registered in {cls.__name__}",
            suggestions=suggestions,
            context={
                "registry_name": cls.__name__,
                "registry_size": len(names),
                "available_keys": capped_keys(names),
                "identifier": identifier,
            },
        )
        cls._add_context(error, operation, key=identifier)
        return error

    @classmethod
    def _add_context(cls, error: ValidationError, operation: str, **facts: Any) -> None:
        """Add the context keys the seed documented (``operation``, ``registry_type``, ``key``,
        ...) to ``error`` where it does not have them yet."""
        known = {
            "operation": operation,
            "registry_name": cls.__name__,
            "registry_type": _REGISTRY_TYPES[cls._kind],
            **facts,
        }
        for key, value in known.items():
            if value is not None:
                error.context.setdefault(key, jsonable(value))

    @classmethod
    def _name_index(cls) -> NameIndex:
        """The did-you-mean index of the identifiers, following the namespace when it moved."""
        record = cls._store.get_namespace(cls._namespace)
        generation = -1 if record is None else record.generation
        cached = cls._memo.suggestions
        if cached is not None and cached[0] == generation:
            index, created = cached[1], cached[2]
            if not created:
                return index
            index = index.extended(created)
        else:
            from registry.suggest import NameIndex

            names = cls._store.list_identifiers(cls._namespace)
            index = NameIndex(names) if cached is None else cached[1].follow(names)
        cls._memo.suggestions = (generation, index, ())
        return index

    @classmethod
    def _follow_own_write(cls, registration: Registration) -> None:
        """Let the did-you-mean index follow this class's registration without listing the
        namespace again (a listing and a comparison grow with the namespace). A write that
        moved the namespace one generation past the index was the only change: it appended
        the identifier (created) or left the names as they were (a new version)."""
        cached = cls._memo.suggestions
        if cached is None or registration.generation != cached[0] + 1:
            return  # nothing written, or other writes came between: the next miss lists
        _, index, created = cached
        if registration.outcome is Outcome.CREATED:
            if len(created) >= _CREATED_UNTIL_LISTED:
                return  # cheaper to list the namespace at the next miss
            created += (registration.record.identifier,)
        cls._memo.suggestions = (registration.generation, index, created)

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
        return iter(cls._store.list_identifiers(cls._namespace))

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

        In a ``strict=True`` registry a pass is remembered in the validation cache (see
        :meth:`configure_validation`).

        Raises:
            ValidationError: wrong kind of artifact.
            InheritanceError: ``abstract=True`` and the class does not inherit from the base.
            ConformanceError: ``strict=True`` and the signature or protocol does not match.
        """
        try:
            cls._validate(artifact)
        except ValidationError as error:
            cls._add_context(error, "validate_artifact")
            raise
        return artifact

    @classmethod
    def _validate(cls, artifact: Any) -> None:
        if not cls._strict:  # kind and inheritance checks cost less than a cache lookup
            cls._check_artifact(artifact)
            return
        if artifact in cls._validated:
            return
        cls._check_artifact(artifact)
        cls._validated.add(artifact)

    @classmethod
    def _check_artifact(cls, artifact: Any) -> None:
        """Run every check of this registry on ``artifact`` (no cache)."""
        name = cls.__name__
        validation.check_kind(cls._kind, artifact, name)
        if cls._kind == "type":
            klass: type = artifact
            if cls._abstract and cls._base is not None:
                validation.check_inheritance(klass, cls._base, name)
            if cls._strict:
                validation.check_class_conformance(klass, cls._base, name)
        elif cls._strict:
            target: Callable[..., Any] = artifact
            validation.check_function_conformance(target, cls._function_spec, name)

    @classmethod
    def batch_validate(cls, artifacts: Mapping[str, Any]) -> dict[str, bool | ValidationError]:
        """Validate each item; return ``{key: True | the ValidationError}``."""
        results: dict[str, bool | ValidationError] = {}
        for key, artifact in artifacts.items():
            try:
                validation.check_identifier(key, cls.__name__)
                cls._validate(artifact)
                results[key] = True
            except ValidationError as error:
                cls._add_context(error, "batch_validate", key=key)
                results[key] = error
        return results

    @classmethod
    def validate_registry_state(cls) -> dict[str, Any]:
        """Check every registered artifact again, bypassing the validation cache (persistent
        artifacts are restored, which may warn, for example that their source changed).

        Returns:
            The seed's report ``{"total_artifacts": n, "validation_errors": [{"key", "error",
            "suggestions"}], "warnings": [{"key", "warning"}], "cache_stats": {...}}`` (the
            cache statistics are :meth:`get_validation_stats`), and beside it
            ``"registry_name"``, ``"total"``, ``"valid": [ids]``, ``"invalid": {id: error
            dict}`` and ``"ok"``.
        """
        from registry import batches  # on first use: keeps import registry lean

        valid: list[str] = []
        invalid: dict[str, ValidationError] = {}
        noticed: list[dict[str, str]] = []
        for identifier in cls.iter_identifiers():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    artifact = cls.get_artifact(identifier)
                    cls._check_artifact(artifact)
                    cls._validated.add(artifact)
                    valid.append(identifier)
                except ValidationError as error:
                    cls._add_context(error, "validate_registry_state", key=identifier)
                    invalid[identifier] = error
            noticed += [{"key": identifier, "warning": str(w.message)} for w in caught]
        return batches.state_report(
            cls.__name__, valid, invalid, noticed, cls.get_validation_stats()
        )

    @classmethod
    def clear_validation_cache(cls) -> int:
        """Forget which artifacts passed validation, and the schemes built from signatures;
        return how many validation entries were dropped. Call it after changing a registered
        class in place."""
        cls._schemes.clear()
        return cls._validated.clear()

    @classmethod
    def configure_validation(
        cls, cache_size: int | None = None, cache_ttl: float | None = None
    ) -> None:
        """Set this registry's validation cache, which remembers the artifacts that passed the
        ``strict=True`` signature checks: at most ``cache_size`` artifacts (``0`` turns it off),
        each for ``cache_ttl`` seconds. Defaults: 1000 and 300.

        Raises:
            ValidationError: a negative size or a time-to-live that is not positive.
        """
        cls._validated.configure(cache_size, cache_ttl)

    @classmethod
    def get_validation_stats(cls) -> dict[str, Any]:
        """Return what this registry caches: the validation cache's ``total_entries``,
        ``active_entries``, ``expired_entries``, ``max_size``, ``ttl_seconds``, ``hits`` and
        ``misses``, plus ``cached_artifacts`` (live objects) and ``cached_schemes``."""
        return {
            **cls._validated.stats(),
            "cached_artifacts": len(cls._artifacts),
            "cached_schemes": len(cls._schemes),
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
        ``@register_artifact("key")``. Registering the same definition again (the same object,
        a module reloaded, a cell or script run again) is quiet; a different artifact under a
        taken identifier, or a second definition of the same name elsewhere in one source
        file, raises :class:`RegistryError`.

        ``register_artifact("key")`` alone registers nothing until its result is applied to an
        artifact; a result that is never applied warns (``RuntimeWarning``) when dropped.

        Raises:
            ValidationError: the artifact fails the registry's checks, or a lone string is
                not a valid identifier (a string is not a function, class or scheme).
            RegistryError: the identifier is taken by something else.
        """
        if artifact is not _MISSING:
            cls._register(key_or_artifact, artifact)
            return artifact
        if isinstance(key_or_artifact, str):
            return _PendingRegistration(cls, cls._decorator_key(key_or_artifact))
        cls._register(None, key_or_artifact)
        return key_or_artifact

    @classmethod
    def _decorator_key(cls, key: str) -> str:
        """Return ``key`` for ``@register_artifact(key)``, or explain that a string is no artifact."""
        try:
            return validation.check_identifier(key, cls.__name__)
        except ValidationError as invalid:
            error = ValidationError(
                f"{cls.__name__}.register_artifact({key!r}): a string is not a function, class "
                f"or scheme, and {key!r} is not a valid identifier for the decorator form "
                "@register_artifact('name') either",
                suggestions=[
                    f"Register the object itself: {cls.__name__}.register_artifact(obj)",
                    f"Or give it a name: {cls.__name__}.register_artifact('name', obj)",
                    *invalid.suggestions,
                ],
                context=invalid.context,
            )
        cls._add_context(error, "register_artifact", artifact_name=key)
        raise error

    @classmethod
    def _register(cls, identifier: object, artifact: Any) -> str:
        try:
            key, origin = cls._key_and_origin(identifier, artifact)
            stored = (
                cls._stored_as_is(key, origin, artifact) if cls._memo.expect_unchanged else None
            )
            if stored is not None:
                cls._remember(key, artifact, stored.version)
                return key
            draft = cls._draft_of(key, origin, artifact)
            cls._writable_namespace()
            with cls._write_lock:
                if draft.blob is None:
                    registration = cls._store.register(cls._namespace, draft)
                else:
                    from registry import pickling

                    registration = pickling.register_sealed(cls._store, cls._namespace, draft)
                cls._remember(draft.identifier, artifact, registration.record.version)
                cls._follow_own_write(registration)
                cls._memo.expect_unchanged = registration.outcome is Outcome.UNCHANGED
        except ValidationError as error:
            given = identifier if identifier is not None else getattr(artifact, "__name__", None)
            cls._add_context(
                error, "register_artifact", key=given, artifact_name=refs.display_name(artifact)
            )
            raise
        cls._sync_siblings([draft.identifier])
        return draft.identifier

    @classmethod
    def _remember(cls, identifier: str, artifact: Any, version: int) -> None:
        with cls._lock:
            cls._artifacts[identifier] = artifact
            cls._versions[identifier] = version
            cls._schemes.forget(identifier)

    @classmethod
    def _identifier_of(cls, artifact: Any) -> str:
        """Return the identifier ``register_artifact(obj)`` uses: the ``__name__`` (after
        unwrapping ``functools.wraps`` chains). Override it in a registry class for another
        naming rule; what it returns must be a valid identifier."""
        name = getattr(inspect.unwrap(artifact), "__name__", None)
        if not isinstance(name, str):
            raise ValidationError(
                f"{artifact!r} has no __name__ to register it under",
                suggestions=[f"Pass an identifier: {cls.__name__}.register_artifact('name', obj)"],
                context={"registry_name": cls.__name__},
            )
        return name

    @classmethod
    def _stored_as_is(cls, key: str, origin: str, artifact: Any) -> EntryRecord | None:
        """Return the stored record when registering ``artifact`` under ``key`` would change
        nothing (its module imported again, in a new process or the same one): the same import
        path, definition line and source hash are stored. The store would decide so too (``decide``:
        unchanged, nothing written); telling it from one read spares drafting the entry (its
        scheme needs pydantic) and a persistent store's write path (SQLAlchemy). A read-only
        consumer that imports modules registering into its registries writes nothing.
        ``None``: draft and register as usual."""
        if not cls._persistent:
            return None
        if not is_importable_origin(origin) or "<lambda>" in origin:
            return None  # a pickle, or lambdas told apart by hash alone: the store decides
        current = cls._store.get_entry(cls._namespace, key)
        if current is None or current.origin != origin or current.source_hash is None:
            return None
        line, source_hash = sources.line_and_hash(artifact)
        if source_hash != current.source_hash or line != current.source_line:
            return None
        return current

    @classmethod
    def _key_and_origin(cls, identifier: object, artifact: Any) -> tuple[str, str]:
        """Validate ``artifact``; return the identifier to register it under and its origin."""
        cls._validate(artifact)
        key = validation.check_identifier(
            cls._identifier_of(artifact) if identifier is None else identifier, cls.__name__
        )
        return key, refs.origin_of(artifact)

    @classmethod
    def _draft(cls, identifier: object, artifact: Any) -> EntryDraft:
        return cls._draft_of(*cls._key_and_origin(identifier, artifact), artifact)

    @classmethod
    def _draft_of(cls, key: str, origin: str, artifact: Any) -> EntryDraft:
        if cls._persistent:
            place = sources.place_of(artifact)
            return drafts.persistent_draft(cls._namespace, key, artifact, origin, place)
        # Reading (and, once per file version, parsing) the source is only needed to tell a
        # second definition from a re-run: when the identifier is held by the same origin at
        # another line. The memory store makes that question a dict lookup.
        lambda_ = "<lambda>" in origin
        place = sources.place_of(artifact, read=lambda_)
        if place is not None and not lambda_:
            current = cls._store.get_entry(cls._namespace, key)
            if (
                current is not None
                and current.origin == origin
                and current.source_line != place.line
            ):
                place = sources.place_of(artifact)
        source = place.source_hash if place is not None else None
        if source is None and lambda_:
            source = refs.source_hash(artifact)  # no source file: tell lambdas apart by bytecode
        return EntryDraft(
            identifier=key, origin=origin, source_hash=source, **drafts.place_fields(place)
        )

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
        cls._sync_siblings([identifier])
        if not removed:
            raise cls._missing_error(identifier, "unregister_identifier")

    @classmethod
    def _after_fork_in_child(cls) -> None:
        """In a forked child: a lock that a thread of the parent held (a registration in
        flight) would never be released here."""
        cls._lock = threading.RLock()
        cls._schemes.use_lock(cls._lock)
        cls._write_lock = threading.Lock()

    @classmethod
    def _forget(cls, identifier: str) -> None:
        with cls._lock:
            cls._artifacts.pop(identifier, None)
            cls._versions.pop(identifier, None)
            cls._schemes.forget(identifier)

    @classmethod
    def _apply_changes(cls, changes: ChangeSet | None) -> None:
        """Drop cached objects whose stored version moved elsewhere (``None``: check all)."""
        if changes is None:
            current = {r.identifier: r.version for r in cls._store.list_entries(cls._namespace)}
            stale = [i for i, version in list(cls._versions.items()) if current.get(i) != version]
        else:
            moved = {record.identifier: record.version for record in changes.records}
            versions = cls._versions
            stale = [i for i in changes.removed if i in versions]
            stale += [i for i, version in moved.items() if versions.get(i, version) != version]
            if changes.cleared:
                stale += [i for i, version in list(versions.items()) if moved.get(i) != version]
        for identifier in stale:
            cls._forget(identifier)

    @classmethod
    def _sync_siblings(cls, identifiers: Iterable[str] | None) -> None:
        """Tell other live classes of this process on the same namespace that we wrote
        ``identifiers`` (``None``: all of them)."""
        if not cls._persistent:
            return
        for ref in cls._directory.get(cls._namespace, ()):
            other = ref()
            if other is not None and other is not cls and other._store is cls._store:
                with other._lock:
                    for identifier in list(other._versions) if identifiers is None else identifiers:
                        other._forget(identifier)

    @classmethod
    def unregister_artifact(cls, artifact: Any) -> None:
        """Remove every identifier ``artifact`` is registered under.

        Raises:
            RegistryError: the artifact is not registered.
        """
        identifiers = cls._identifiers_of(artifact)
        if not identifiers:
            error = NotFoundError(
                f"{refs.display_name(artifact)} ({refs.origin_of(artifact)}) is not registered "
                f"in {cls.__name__}",
                suggestions=["Check has_artifact() first, or unregister by identifier"],
                context={"registry_name": cls.__name__, "artifact": refs.origin_of(artifact)},
            )
            cls._add_context(
                error, "unregister_artifact", artifact_name=refs.display_name(artifact)
            )
            raise error
        for identifier in identifiers:
            with cls._write_lock:
                cls._store.unregister(cls._namespace, identifier)
                cls._forget(identifier)
        cls._sync_siblings(identifiers)

    @classmethod
    def clear_artifacts(cls) -> None:
        """Remove every artifact of this registry (from the store too, if persistent)."""
        with cls._write_lock:
            cls._store.clear(cls._namespace)
            with cls._lock:
                cls._artifacts.clear()
                cls._versions.clear()
                cls._schemes.clear_live()
        cls._sync_siblings(None)

    @classmethod
    def safe_register_batch(
        cls, artifacts: Mapping[str, Any], skip_invalid: bool = True
    ) -> dict[str, Any]:
        """Register many artifacts, capturing each item's error.

        With ``skip_invalid=False`` the first error is raised, and the items before it stay
        registered. Otherwise the valid items are drafted and written
        :data:`~registry.batches.BATCH_CHUNK` at a time, each chunk in one store transaction,
        so the memory a batch takes does not grow with its size; each item's result is its own
        either way.

        Returns:
            ``{"successful": [keys], "failed": [keys], "total": n, "errors": [{"key", "error",
            "suggestions", "context"}]}``.
        """
        from registry import batches  # on first use: keeps import registry lean

        report = batches.new_batch_report(len(artifacts))
        if not skip_invalid:
            for key, artifact in artifacts.items():
                cls._register(key, artifact)
                report["successful"].append(key)
            return report
        for chunk in batches.chunks(list(artifacts.items())):
            cls._register_chunk(chunk, report)
        cls._sync_siblings(report["successful"])
        return report

    @classmethod
    def _register_chunk(cls, items: Sequence[tuple[str, Any]], report: dict[str, Any]) -> None:
        """Draft ``items`` and write the valid ones in one store transaction."""
        from registry import batches  # on first use: keeps import registry lean

        drafted: list[tuple[EntryDraft, Any]] = []
        with sources.files_checked_once():
            for key, artifact in items:
                try:
                    drafted.append((cls._draft(key, artifact), artifact))
                except ValidationError as error:
                    cls._add_context(error, "safe_register_batch", key=key)
                    batches.record_failure(report, key, error)
        if not drafted:
            return
        cls._writable_namespace()
        with cls._write_lock:
            from registry import pickling

            results = pickling.register_batch_sealed(
                cls._store, cls._namespace, [draft for draft, _ in drafted]
            )
            for (draft, artifact), result in zip(drafted, results, strict=True):
                if isinstance(result, ValidationError):
                    cls._add_context(result, "safe_register_batch", key=draft.identifier)
                    batches.record_failure(report, draft.identifier, result)
                else:
                    cls._remember(draft.identifier, artifact, result.record.version)
                    report["successful"].append(draft.identifier)

    @classmethod
    def _register_module_members(
        cls,
        module: types.ModuleType,
        wanted: Callable[[Any], bool],
        raise_error: bool,
        operation: str,
    ) -> types.ModuleType:
        from registry import scanning  # on first use: keeps import registry lean

        def artifact(member: Any) -> bool:
            # A registry declared in the module is not one of its artifacts.
            return wanted(member) and not (
                inspect.isclass(member) and issubclass(member, _Registry)
            )

        return scanning.register_members(
            module,
            artifact,
            functools.partial(cls._register, None),
            raise_error=raise_error,
            registry_name=cls.__name__,
            operation=operation,
        )

    # ------------------------------------------------------------------ schemes

    @classmethod
    def _scheme(cls, identifier: str) -> type[BaseModel]:
        return cls._schemes.of_artifact(identifier, cls.get_artifact(identifier))

    @classmethod
    def _described(cls, identifier: str) -> type[BaseModel]:
        """Return the scheme of ``identifier`` without importing anything: the live artifact's
        when it is loaded, else (persistent registries) the one stored at registration."""
        validation.check_identifier(identifier, cls.__name__)
        if not cls._persistent or identifier in cls._artifacts:
            return cls._scheme(identifier)
        record = cls._store.get_entry(cls._namespace, identifier)
        if record is None or record.scheme is None:
            return cls._scheme(identifier)  # raises the missing error, or imports to explain
        return cls._schemes.of_stored(identifier, record.version, record.scheme)

    # ------------------------------------------------------------------ factorization

    @classmethod
    def factorize_artifact(cls, identifier: str, /, *args: Any, **config: Any) -> Any:
        """Build ``identifier`` from ``config``; nested ``{"_type": name, ...}`` mappings are
        built first. The whole tree is validated and coerced before anything is called.

        Positional values fill the parameters in order, as in a call
        (``factorize_artifact("make_sgd", 0.1)``); they are the config's ``_args_``.
        ``_type`` names an artifact of this registry, or ``"Registry:name"`` of another (class
        name or logic namespace); never an import path. See docs/factorization.md.

        Raises:
            ValidationError: with the failing ``_type`` and dotted ``path`` in its context.
        """
        raise NotImplementedError  # replaced per class by _install_factorizer

    @classmethod
    def check_config(cls, identifier: str, /, *args: Any, **config: Any) -> None:
        """Validate a whole config tree as :meth:`factorize_artifact` would, calling nothing.

        Raises:
            ValidationError: with the failing ``_type`` and dotted ``path`` in its context.
        """
        cls._factorization.factorize(cls, identifier, args, config, build=False)

    @classmethod
    def factorize_from_file(
        cls,
        identifier: str,
        path: str | os.PathLike[str] | None = None,
        engine: str | None = None,
        *,
        filepath: str | os.PathLike[str] | None = None,
    ) -> Any:
        """Build ``identifier`` from the config file ``path`` (the seed's ``filepath=`` is
        accepted too), read by the ``ConfigFileEngine`` loader for its suffix (or ``engine``).

        Raises:
            ValidationError: no file given (or two), no engine, unreadable file, invalid config.
        """
        chosen = validation.one_of("factorize_from_file", path=path, filepath=filepath)
        layer = cls._factorization
        return layer.factorize(cls, identifier, (), layer.load_config_file(chosen, engine))

    @classmethod
    def factorize_from_socket(
        cls,
        identifier: str,
        source: Mapping[str, Any] | None = None,
        protocol: str = "http",
        *,
        socket_config: Mapping[str, Any] | None = None,
    ) -> Any:
        """Build ``identifier`` from a config fetched by the ``SocketEngine`` source
        ``protocol`` (``http``: ``{"url": ..., "timeout": 5, "headers": {...}}``); the seed's
        ``socket_config=`` is accepted for ``source``. The seed's ``rpc`` protocol is retired
        (docs/factorization.md says why).

        Raises:
            ValidationError: no source given (or two), unknown protocol, fetch or config error.
        """
        chosen = validation.one_of(
            "factorize_from_socket", source=source, socket_config=socket_config
        )
        layer = cls._factorization
        return layer.factorize(
            cls, identifier, (), layer.fetch_config(identifier, chosen, protocol)
        )

    @classmethod
    def to_config(cls, obj: Any) -> Any:
        """Return a config that rebuilds ``obj`` with :meth:`factorize_artifact`; this
        registry's artifacts are named without the ``Registry:`` prefix."""
        return cls._factorization.to_config(cls, obj)


_KINDS = ("FunctionalRegistry", "TypeRegistry", "SchemeRegistry")
_REGISTRY_TYPES: dict[NamespaceKind, str] = {
    "function": "FunctionalRegistry",
    "type": "TypeRegistry",
    "scheme": "SchemeRegistry",
}


class _PendingRegistration:
    """What ``register_artifact("name")`` returns: applied to an artifact, it registers it
    under ``name``; dropped without ever being applied, it warns, since nothing was registered
    (``Losses.register_artifact("l2")`` on a line of its own is an easy slip)."""

    __slots__ = ("_applied", "_identifier", "_registry")

    def __init__(self, registry: type[_Registry], identifier: str) -> None:
        self._registry = registry
        self._identifier = identifier
        self._applied = False

    def __call__(self, artifact: A) -> A:
        self._applied = True
        registered: A = self._registry.register_artifact(self._identifier, artifact)
        return registered

    def __repr__(self) -> str:
        return f"<pending registration of {self._identifier!r} in {self._registry.__name__}>"

    def __del__(self) -> None:
        if self._applied:
            return
        name, key = self._registry.__name__, self._identifier
        warnings.warn(
            f"{name}.register_artifact({key!r}) was never applied to an artifact, so nothing "
            f"was registered under {key!r}: use it as a decorator, @{name}.register_artifact"
            f"({key!r}), or pass the artifact, {name}.register_artifact({key!r}, obj)",
            RuntimeWarning,
            stacklevel=2,
        )


def _after_fork_in_child() -> None:
    classes = {ref() for refs_ in _Registry._directory.values() for ref in refs_}
    for cls in classes:
        if cls is not None:
            cls._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows, where processes are spawned
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _ChangeListener:
    """Forwards store change signals to one registry class without keeping it alive."""

    def __init__(self, registry: type[_Registry]) -> None:
        self._registry = weakref.ref(registry)

    def __call__(self, changes: ChangeSet | None) -> None:
        cls = self._registry()
        if cls is not None:
            cls._apply_changes(changes)


class FunctionalRegistry(_Registry, Generic[P, R]):
    """A registry of functions. ``FunctionalRegistry[[int], int]`` with ``strict=True`` checks
    each function against ``Callable[[int], int]``; without generics, strict mode requires
    every parameter and the return to be annotated."""

    _kind = "function"

    @classmethod
    def register_module_functions(
        cls, module: types.ModuleType, raise_error: bool = True
    ) -> types.ModuleType:
        """Register the functions of a module's ``__all__`` (without one: the public functions
        it defines) and return the module.

        Raises:
            ValidationError: with ``raise_error=True``, the first function that fails the
                registry's checks (its context names ``module_name``); with ``False`` it is
                skipped.
        """
        return cls._register_module_members(
            module, inspect.isfunction, raise_error, "register_module_functions"
        )


class TypeRegistry(_Registry, Generic[T]):
    """A registry of classes. ``TypeRegistry[Base]`` with ``abstract=True`` requires subclasses
    of ``Base``; with ``strict=True`` classes must implement every member of ``Base`` (an ABC or
    a ``typing.Protocol``) with compatible signatures."""

    _kind = "type"

    @classmethod
    def register_module_subclasses(
        cls, module: types.ModuleType, raise_error: bool = True
    ) -> types.ModuleType:
        """Register the classes of a module's ``__all__`` (without one: the public classes it
        defines), except the registry's base itself, and return the module.

        Raises:
            InheritanceError: with ``raise_error=True``, a class that does not inherit the base
                of an ``abstract=True`` registry (its context names ``module_name``); other
                checks raise their own errors. With ``False`` such classes are skipped.
        """
        base = cls._base
        return cls._register_module_members(
            module,
            lambda member: inspect.isclass(member) and member is not base,
            raise_error,
            "register_module_subclasses",
        )


class SchemeRegistry(_Registry):
    """A registry of callables with pydantic schemes built from their signatures."""

    _kind = "scheme"

    @classmethod
    def register_module_callables(
        cls,
        module: types.ModuleType,
        raise_error: bool = True,
        *,
        include_functions: bool = True,
        include_classes: bool = True,
    ) -> types.ModuleType:
        """Register the functions and classes of a module's ``__all__`` (without one: the
        public ones it defines) and return the module.

        Raises:
            ValidationError: with ``raise_error=True``, the first one whose scheme cannot be
                built (its context names ``module_name``); with ``False`` it is skipped.
        """

        def wanted(member: Any) -> bool:
            if inspect.isclass(member):
                return include_classes
            return include_functions and inspect.isfunction(member)

        return cls._register_module_members(
            module, wanted, raise_error, "register_module_callables"
        )

    @classmethod
    def get_model(cls, identifier: str) -> type[BaseModel]:
        """Return the pydantic model ``<identifier>Config`` describing the artifact's parameters.

        Nothing is imported: in a persistent registry whose artifact is not loaded in this
        process, the model is rebuilt from the JSON Schema stored at registration (types JSON
        Schema cannot describe accept any value there).
        """
        return cls._described(identifier)

    @classmethod
    def build_config(cls, identifier: str, **values: Any) -> BaseModel:
        """Validate ``values`` against the artifact's scheme and return the config instance.
        Like :meth:`get_model`, this imports nothing; :meth:`execute` checks the config again
        against the artifact itself.

        Raises:
            ValidationError: a value is missing, unknown or cannot be coerced (each is named).
        """
        from registry import schemes

        return schemes.validate_config(identifier, cls._described(identifier), values)

    @classmethod
    def execute(
        cls, identifier: str, config: BaseModel | Mapping[str, Any] | None = None, **values: Any
    ) -> Any:
        """Validate ``config`` (a config instance or a mapping, plus keyword values) and call the
        artifact with it."""
        from registry import schemes

        merged: BaseModel | Mapping[str, Any]
        if config is None:
            merged = values
        elif values:
            merged = {**schemes.config_values(config), **values}
        else:
            merged = config

        validated = schemes.validate_config(identifier, cls._scheme(identifier), merged)
        return schemes.call_with_config(cls.get_artifact(identifier), validated)
