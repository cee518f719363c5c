"""The pydantic models of one registry's identifiers, built once and dropped when stale.

A model comes from the live artifact (``schemes.extract_model``, kept while that same object
is registered under the identifier) or, for a persistent artifact not loaded in this process,
from the scheme JSON stored at registration (``schemes.model_from_scheme``, kept per stored
version). ``schemes`` (and pydantic with it) is imported on the first model, so declaring a
registry does not pay for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel


__all__ = ["SchemeCache"]


class SchemeCache(Mapping[str, "type[BaseModel]"]):
    """Identifier -> the model of the live artifact; beside it, the models of stored records.

    Reads take no lock (a dict lookup); writes happen under the registry's lock, so a model
    built for an artifact that was replaced meanwhile is never mistaken for the new one's: the
    entry remembers the object it was built from.
    """

    __slots__ = ("_live", "_lock", "_stored")

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._live: dict[str, tuple[Any, type[BaseModel]]] = {}
        self._stored: dict[str, tuple[int, type[BaseModel]]] = {}

    def use_lock(self, lock: threading.RLock) -> None:
        """Take writes under ``lock`` from now on (the registry's new lock after a fork)."""
        self._lock = lock

    def __getitem__(self, identifier: str) -> type[BaseModel]:
        return self._live[identifier][1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._live)

    def __len__(self) -> int:
        return len(self._live)

    def of_artifact(self, identifier: str, artifact: Any) -> type[BaseModel]:
        """Return the model of ``artifact`` registered under ``identifier``.

        Raises:
            ValidationError: no model can be built from its signature (the reason is named).
        """
        cached = self._live.get(identifier)
        if cached is not None and cached[0] is artifact:
            return cached[1]
        from registry import schemes  # on first use: schemes import pydantic

        model = schemes.extract_model(identifier, artifact)
        with self._lock:
            self._live[identifier] = (artifact, model)
        return model

    def of_stored(
        self, identifier: str, version: int, scheme: Mapping[str, Any]
    ) -> type[BaseModel]:
        """Return the model rebuilt from the scheme JSON stored with ``version``."""
        cached = self._stored.get(identifier)
        if cached is not None and cached[0] == version:
            return cached[1]
        from registry import schemes  # on first use: schemes import pydantic

        model = schemes.model_from_scheme(identifier, scheme)
        with self._lock:
            self._stored[identifier] = (version, model)
        return model

    def forget(self, identifier: str) -> None:
        """Drop the live model of ``identifier`` (its artifact was replaced or removed)."""
        self._live.pop(identifier, None)

    def clear_live(self) -> None:
        """Drop every live model (the registry was cleared)."""
        self._live.clear()

    def clear(self) -> None:
        """Drop every model, live and stored."""
        with self._lock:
            self._live.clear()
            self._stored.clear()
