"""``HttpStore``: the ``Store`` contract over HTTP to a registry server (``registry.server``).

Standard library only (``http.client``): one keep-alive connection per thread, one round trip
per operation, and a long-poll thread for :meth:`HttpStore.watch`. This module is the one
boundary where HTTP and socket failures become registry errors. Imports ``errors``,
``settings``, ``store.base`` and ``store.wire``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from registry import settings
from registry.errors import (
    PermissionDeniedError,
    RegistryError,
    StoreError,
    ValidationError,
    error_from_dict,
)
from registry.store.base import (
    BlobRecord,
    ChangeCallback,
    ChangeSet,
    EntryDraft,
    EntryRecord,
    NamespaceKind,
    NamespaceRecord,
    Registration,
    Store,
    WatchStatus,
    current_user_host,
    moved_namespaces,
)
from registry.store.wire import (
    blob_from_json,
    changes_from_json,
    draft_to_json,
    entry_from_json,
    json_bytes,
    namespace_from_json,
    registration_from_json,
    result_from_json,
)

__all__ = ["HttpStore"]

T = TypeVar("T")

#: A request body this large that ends in a reset was most likely refused for its size.
_LARGE_REQUEST = 1024 * 1024
#: The change watch retries at least this often once the server is unreachable.
_RECONNECT_CAP_S = 1.0
#: After this long without answers, a warning says caches may be stale.
_STALE_WARNING_S = 10.0

_log = logging.getLogger(__name__)

#: Errors of a kept-alive connection the server closed while idle. Retried once on a fresh
#: connection: the request almost always never reached the application, and when it did, the
#: repeat is harmless (registering the same draft again is UNCHANGED; reads change nothing).
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    http.client.CannotSendRequest,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


class HttpStore(Store):
    """A store that forwards every operation to a registry server in one HTTP round trip.

    Args:
        url: ``http://host:port`` or ``https://host:port``, optionally with a path prefix when
            the server sits behind a reverse proxy under a sub-path.
        token: bearer token; defaults to the ``REGISTRY_TOKEN`` environment variable.
        timeout: seconds to wait for connecting and for each response.
        watch_timeout: seconds one change long-poll may wait on the server.
        ssl_context: for ``https`` URLs; defaults to the system trust store.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        watch_timeout: float = 20.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StoreError(
                f"Not a registry server URL: {url!r}",
                suggestions=["Use http://host:port or https://host:port"],
                context={"url": url},
            )
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._address = f"{parts.scheme}://{parts.netloc}"
        self._timeout = timeout
        self._watch_timeout = watch_timeout
        self._ssl_context = ssl_context
        token = settings.client_token() if token is None else token
        self._headers = {"Accept": "application/json", "User-Agent": "registry-httpstore/1"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._closed = False
        self._watcher: _ChangeWatcher | None = None
        # Namespaces this client wrote to since its last catch-up of them (see changes_since).
        self._written: set[str] = set()
        self._reset_process_state()
        if hasattr(os, "register_at_fork"):
            # A forked child must not share the parent's sockets (two processes reading one
            # response stream), and its watcher thread did not survive the fork.
            this = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _after_fork(this))

    def _reset_process_state(self) -> None:
        self._local = threading.local()
        self._connections: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._connections_lock = threading.Lock()
        self._watcher_lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        # Connections, threads and locks stay behind; the token too: the receiving process
        # reads its own REGISTRY_TOKEN rather than finding a secret inside a pickle.
        return (_rebuild, (self.url, self._timeout, self._watch_timeout))

    @classmethod
    def from_url(cls, url: str) -> HttpStore:
        """Return a store for ``url`` with settings from the environment (``open_store`` hook).

        ``REGISTRY_TOKEN`` is the token, ``REGISTRY_TIMEOUT`` the timeout in seconds.
        """
        return cls(url, timeout=settings.client_timeout())

    # ------------------------------------------------------------------ Store contract

    def ensure_namespace(self, name: str, kind: NamespaceKind) -> NamespaceRecord:
        return self._request(
            "PUT",
            f"/namespaces/{_seg(name)}",
            lambda data: namespace_from_json(data["namespace"]),
            {"kind": kind},
        )

    def get_namespace(self, name: str) -> NamespaceRecord | None:
        return self._request(
            "GET",
            f"/namespaces/{_seg(name)}",
            lambda data: _optional(data["namespace"], namespace_from_json),
        )

    def list_namespaces(self) -> list[NamespaceRecord]:
        return self._request(
            "GET", "/namespaces", lambda data: [namespace_from_json(n) for n in data["namespaces"]]
        )

    def list_entries(self, namespace: str) -> list[EntryRecord]:
        return self._request(
            "GET",
            f"/namespaces/{_seg(namespace)}/entries",
            lambda data: [entry_from_json(item) for item in data["entries"]],
        )

    def list_identifiers(self, namespace: str) -> list[str]:
        return self._request(
            "GET",
            f"/namespaces/{_seg(namespace)}/identifiers",
            lambda data: [str(identifier) for identifier in data["identifiers"]],
        )

    def changes_since(self, namespace: str, generation: int) -> ChangeSet:
        query = f"since={int(generation)}"
        # What the long-poll announced: the server may then answer with a change set it read
        # for another listener, if that reaches this far (server/change_sets.py). Not after
        # this client's own write, which the long-poll may not have announced yet: that
        # catch-up reads afresh, so a client always sees its own writes.
        watcher = self._watcher
        announced = None if watcher is None else watcher.generation_of(namespace)
        wrote = namespace in self._written
        self._written.discard(namespace)
        if announced is not None and announced > generation and not wrote:
            query += f"&at_least={announced}"
        return self._request(
            "GET",
            f"/namespaces/{_seg(namespace)}/changes?{query}",
            lambda data: changes_from_json(data["changes"]),
        )

    def get_entry(self, namespace: str, identifier: str) -> EntryRecord | None:
        return self._request(
            "GET",
            f"/namespaces/{_seg(namespace)}/entries/{_seg(identifier)}",
            lambda data: _optional(data["entry"], entry_from_json),
        )

    def history(self, namespace: str, identifier: str) -> list[EntryRecord]:
        return self._request(
            "GET",
            f"/namespaces/{_seg(namespace)}/entries/{_seg(identifier)}/history",
            lambda data: [entry_from_json(item) for item in data["entries"]],
        )

    def register(self, namespace: str, draft: EntryDraft) -> Registration:
        return self._write(
            namespace,
            "POST",
            f"/namespaces/{_seg(namespace)}/entries",
            registration_from_json,
            _draft_json(draft),
        )

    def register_batch(
        self, namespace: str, drafts: Sequence[EntryDraft]
    ) -> list[Registration | RegistryError]:
        return self._write(
            namespace,
            "POST",
            f"/namespaces/{_seg(namespace)}/batch",
            lambda data: [result_from_json(item) for item in data["results"]],
            {"drafts": [_draft_json(draft) for draft in drafts]},
        )

    def unregister(self, namespace: str, identifier: str) -> bool:
        return self._write(
            namespace,
            "DELETE",
            f"/namespaces/{_seg(namespace)}/entries/{_seg(identifier)}",
            lambda data: bool(data["removed"]),
        )

    def clear(self, namespace: str) -> int:
        return self._write(
            namespace,
            "DELETE",
            f"/namespaces/{_seg(namespace)}/entries",
            lambda data: int(data["removed"]),
        )

    def _write(
        self,
        namespace: str,
        method: str,
        path: str,
        parse: Callable[[dict[str, Any]], T],
        body: Mapping[str, Any] | None = None,
    ) -> T:
        """A request that may change ``namespace``: noted before it is sent and after it is
        answered, so a catch-up running meanwhile in another thread cannot clear the note."""
        self._written.add(namespace)
        try:
            return self._request(method, path, parse, body)
        finally:
            self._written.add(namespace)

    def get_blob(self, sha256: str) -> BlobRecord | None:
        return self._request(
            "GET", f"/blobs/{_seg(sha256)}", lambda data: _optional(data["blob"], blob_from_json)
        )

    def generations(self) -> dict[str, int]:
        return self._request("GET", "/generations", lambda data: _generations(data["generations"]))

    def watch(self, callback: ChangeCallback) -> Callable[[], None]:
        with self._watcher_lock:
            if self._watcher is None:
                self._watcher = _ChangeWatcher(self)
            key = self._watcher.subscribe(callback)

        def unsubscribe() -> None:
            # Through the store, not the watcher: after a fork the watcher is a new one.
            with self._watcher_lock:
                if self._watcher is not None:
                    self._watcher.unsubscribe(key)

        return unsubscribe

    def watch_status(self) -> WatchStatus:
        watcher = self._watcher
        return WatchStatus(watching=False) if watcher is None else watcher.status()

    def close(self) -> None:
        self._closed = True
        with self._watcher_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()

    # ------------------------------------------------------------------ HTTP plumbing

    def health(self) -> dict[str, Any]:
        """Return the server's ``GET /health`` answer (raises when it cannot be reached)."""
        return self._call("GET", "/health")

    def stats(self) -> dict[str, Any]:
        """Return the server's ``GET /stats`` answer: namespaces, entries, per-namespace sizes."""
        return self._call("GET", "/stats")

    def _request(
        self,
        method: str,
        path: str,
        parse: Callable[[dict[str, Any]], T],
        body: Mapping[str, Any] | None = None,
    ) -> T:
        """One round trip, then ``parse`` on the answer; an answer of the wrong shape (another
        service on that port, an incompatible server version) is a ``StoreError``."""
        data = self._call(method, path, body)
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreError(
                f"The registry server at {self._address} gave an unexpected answer to "
                f"{method} {path}: {type(exc).__name__}: {exc}",
                suggestions=["Check that client and server run compatible registry versions"],
                context={"url": self._address},
            ) from exc

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        connection: http.client.HTTPConnection | None = None,
    ) -> dict[str, Any]:
        """Send one request and return its JSON body; raise the registry error it carries."""
        if self._closed:
            raise StoreError(f"This HttpStore for {self._address} is closed")
        payload = None if body is None else json_bytes(body)
        headers = dict(self._headers)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        owned = connection is None
        conn = self._connection() if connection is None else connection
        is_reused = getattr(conn, "sock", None) is not None
        try:
            status, raw = self._round_trip(conn, method, self._prefix + path, payload, headers)
        except _STALE_CONNECTION_ERRORS as exc:
            conn.close()
            if not (owned and is_reused):
                raise self._unreachable(exc, conn.timeout, payload) from exc
            try:  # the server closed an idle keep-alive connection: one fresh attempt
                status, raw = self._round_trip(conn, method, self._prefix + path, payload, headers)
            except (OSError, http.client.HTTPException) as retry_exc:
                conn.close()
                raise self._unreachable(retry_exc, conn.timeout, payload) from retry_exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self._unreachable(exc, conn.timeout, payload) from exc
        return self._decode(status, raw, method, path)

    @staticmethod
    def _round_trip(
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        payload: bytes | None,
        headers: dict[str, str],
    ) -> tuple[int, bytes]:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        if response.will_close:
            conn.close()
        return response.status, raw

    def _decode(self, status: int, raw: bytes, method: str, path: str) -> dict[str, Any]:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise StoreError(
                f"The registry server at {self._address} answered {method} {path} with "
                f"status {status} and a body that is not a JSON object",
                suggestions=[
                    "Check that REGISTRY_URL points to a registry server, not a proxy page"
                ],
                context={"url": self._address, "status": status},
            )
        if 200 <= status < 300:
            return data
        error = data.get("error")
        if status in (401, 403):
            message = error.get("message") if isinstance(error, dict) else None
            raise PermissionDeniedError(
                f"The registry server at {self._address} refused {method} {path}: "
                f"{message or 'permission denied'}",
                suggestions=[
                    "Set REGISTRY_TOKEN to a token the server accepts"
                    if status == 401
                    else "Use a token with scope 'write' for writes"
                ],
                context={"url": self._address, "status": status},
            )
        if isinstance(error, dict):
            raise error_from_dict(error)
        raise StoreError(
            f"The registry server at {self._address} answered {method} {path} with status {status}",
            context={"url": self._address, "status": status},
        )

    def _unreachable(
        self, exc: BaseException, timeout: float | None = None, payload: bytes | None = None
    ) -> StoreError:
        if (
            payload is not None
            and len(payload) > _LARGE_REQUEST
            and isinstance(
                exc, (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)
            )
        ):
            # A server refusing a body far over its limit answers and hangs up while the
            # body is still being sent; the answer is lost in the reset.
            return StoreError(
                f"The registry server at {self._address} closed the connection while receiving "
                f"a {len(payload)}-byte request: it is probably over the server's body limit",
                suggestions=[
                    "Register smaller artifacts (large pickles are a sign that data was "
                    "captured by a closure), or raise the limit: registry serve "
                    "--max-body-bytes",
                ],
                context={"url": self._address, "size": len(payload), "cause": type(exc).__name__},
            )
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return StoreError(
                f"The registry server at {self._address} did not answer within {timeout} s",
                suggestions=["Raise REGISTRY_TIMEOUT, or check the server's load and logs"],
                context={"url": self._address},
            )
        return StoreError(
            f"Cannot connect to the registry server at {self._address}: {exc}",
            suggestions=[
                "Start it with `registry serve` (or `python -m registry`) on that machine",
                "Check REGISTRY_URL, the host name, the port and any firewall in between",
            ],
            context={"url": self._address, "cause": type(exc).__name__},
        )

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if conn is None:
            conn = self._new_connection(self._timeout)
            self._local.connection = conn
        return conn

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._https:
            context = self._ssl_context or ssl.create_default_context()
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=context
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        with self._connections_lock:
            self._connections.add(conn)
        return conn


def _rebuild(url: str, timeout: float, watch_timeout: float) -> HttpStore:
    return HttpStore(url, timeout=timeout, watch_timeout=watch_timeout)


def _seg(value: str) -> str:
    """Quote one path segment (identifiers may hold '%', '?', '#', ...).

    ``.`` and ``..`` are valid identifiers, but proxies resolve them as relative paths, so
    their dots are percent-encoded too.
    """
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


def _draft_json(draft: EntryDraft) -> dict[str, Any]:
    data = draft_to_json(draft)
    # Provenance names the client's user and machine; the server would otherwise put its own.
    data["created_by"] = draft.created_by or current_user_host()
    return data


def _after_fork(ref: weakref.ref[HttpStore]) -> None:
    store = ref()
    if store is None or store._closed:
        return
    inherited = store._watcher
    store._reset_process_state()
    store._watcher = None if inherited is None else _ChangeWatcher(store, inherited)


def _optional(data: Any, parse: Callable[[Any], T]) -> T | None:
    return None if data is None else parse(data)


def _generations(data: Mapping[str, Any]) -> dict[str, int]:
    return {str(name): int(generation) for name, generation in data.items()}


class _ChangeWatcher:
    """Long-polls ``GET /changes`` on a thread of its own and fans changes out to callbacks.

    After a failed poll it retries with back-off; the first answer after a reconnect is
    compared with the last generations seen, so changes made meanwhile are still reported.
    """

    def __init__(self, store: HttpStore, inherited: _ChangeWatcher | None = None) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._connection = store._new_connection(store._watch_timeout + store._timeout)
        self._callbacks: dict[int, ChangeCallback] = {}
        self._next_id = 0
        self._generations: dict[str, int] | None = None
        self._token: str | None = None
        self._failing_since: float | None = None
        self._last_error: str | None = None
        self._warned = False
        if inherited is not None:
            # After a fork: same subscribers, and no baseline, so the first answer reports that
            # anything may have changed (a catch-up the parent had begun never finished here).
            self._callbacks.update(inherited._callbacks)
            self._next_id = inherited._next_id
        else:
            # Take the baseline before returning, so a change made right after watch() counts;
            # if the server is unreachable now, the first answer later resyncs everything.
            with contextlib.suppress(ValidationError):
                self._poll_once(is_first=True)
        self._thread = threading.Thread(target=self._run, name="registry-http-watch", daemon=True)
        self._thread.start()

    def generation_of(self, namespace: str) -> int | None:
        """The generation of ``namespace`` in the last answer of the long-poll, if any."""
        generations = self._generations
        return None if generations is None else generations.get(namespace)

    def subscribe(self, callback: ChangeCallback) -> int:
        with self._lock:
            key = self._next_id
            self._next_id += 1
            self._callbacks[key] = callback
        return key

    def unsubscribe(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)

    def stop(self) -> None:
        self._stopped.set()
        sock = self._connection.sock
        if sock is not None:
            # Unblock a long-poll waiting in recv(); close() alone does not wake it.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._connection.close()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def status(self) -> WatchStatus:
        since = self._failing_since
        return WatchStatus(
            watching=self._thread.is_alive(),
            connected=since is None,
            disconnected_for=None if since is None else time.monotonic() - since,
            last_error=self._last_error,
        )

    def _run(self) -> None:
        backoff = 0.05
        while not self._stopped.is_set():
            try:
                self._poll_once()
                backoff = 0.05
                if self._failing_since is not None:
                    _log.info("registry change watch of %s is back", self._store._address)
                self._failing_since, self._last_error, self._warned = None, None, False
            except Exception as exc:
                if self._stopped.is_set():
                    return  # stop() closed the connection under the poll
                if not isinstance(exc, (ValidationError, KeyError, TypeError, ValueError)):
                    raise
                # Unreachable server or an answer of the wrong shape (a proxy page, a server
                # mid-restart): back off and poll again; the next answer resyncs.
                self._failed(exc)
                if self._stopped.wait(backoff):
                    return
                backoff = min(backoff * 2, _RECONNECT_CAP_S)

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        self._last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if not self._warned and now - self._failing_since >= _STALE_WARNING_S:
            self._warned = True
            _log.warning(
                "registry caches for %s may be stale: changes have not arrived for %.0f s (%s)",
                self._store._address,
                now - self._failing_since,
                self._last_error,
            )

    def _poll_once(self, is_first: bool = False) -> None:
        store = self._store
        query = f"?timeout={0 if is_first else store._watch_timeout:g}"
        if self._token is not None:
            query += f"&since={self._token}"
        data = store._call("GET", "/changes" + query, connection=self._connection)
        token = str(data["token"])
        current = _generations(data["generations"])
        previous, self._generations, self._token = self._generations, current, token
        if previous is None:
            if not is_first:
                self._dispatch(None)  # no baseline to compare with: everything may have changed
            return
        changed = moved_namespaces(previous, current)
        if changed:
            self._dispatch(changed)

    def _dispatch(self, changed: frozenset[str] | None) -> None:
        with self._lock:
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            try:
                callback(changed)
            except Exception:  # one failing listener must not stop the others or the watcher
                continue
