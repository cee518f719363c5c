"""The change channel of the registry server: long-poll on a token derived from generations.

``ChangeHub`` keeps one view of the store's generations per worker process. It refreshes that
view when this worker writes, when the store signals a change from elsewhere
(``Store.watch``), and, while clients are waiting, every ``poll_interval`` seconds so workers
behind one database see each other's writes even without store signals.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from registry.store.base import Store
from registry.store.wire import change_token

__all__ = ["ChangeHub"]


@dataclass
class _LoopState:
    """The asyncio primitives of a started hub, bound to the worker's event loop."""

    loop: asyncio.AbstractEventLoop
    refresh_requested: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    refreshing: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None


class ChangeHub:
    """Wakes long-poll requests when any namespace generation changes."""

    def __init__(self, store: Store, poll_interval: float = 0.05) -> None:
        self._store = store
        self._poll_interval = poll_interval
        self._generations: dict[str, int] = {}
        self._token = change_token({})
        self._waiting = 0
        self._state: _LoopState | None = None
        self._unwatch: Callable[[], None] | None = None

    async def start(self) -> None:
        """Start the refresh loop on the running event loop (called at app startup)."""
        state = self._state = _LoopState(asyncio.get_running_loop())
        await self._refresh(state)
        self._unwatch = self._store.watch(lambda _namespaces: self.notify())
        state.task = asyncio.create_task(self._run(state), name="registry-change-hub")

    async def stop(self) -> None:
        """Stop the refresh loop and the store subscription (called at app shutdown)."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        state, self._state = self._state, None
        if state is not None and state.task is not None:
            state.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await state.task

    def notify(self) -> None:
        """Ask for a refresh; safe to call from any thread (write routes, store watchers)."""
        state = self._state
        if state is None or state.loop.is_closed() or not self._waiting:
            # Nobody waits: no need to wake the event loop (once per write, from every
            # worker). A waiter that arrives later refreshes before it waits.
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between check and call
            state.loop.call_soon_threadsafe(state.refresh_requested.set)

    async def wait(self, since: str | None, timeout: float) -> tuple[str, dict[str, int]]:
        """Return ``(token, generations)`` once the token differs from ``since`` or at timeout."""
        state = self._state
        if state is None:
            raise RuntimeError("ChangeHub.wait() before start()")
        if since != self._token:
            # The client may come from another worker: make sure our view is current.
            await self._refresh(state)
            if since != self._token:
                return self._token, dict(self._generations)
        self._waiting += 1
        state.refresh_requested.set()  # wake the loop so it starts polling for this waiter
        try:
            async with state.changed:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        state.changed.wait_for(lambda: self._token != since), timeout
                    )
        finally:
            self._waiting -= 1
        return self._token, dict(self._generations)

    async def _run(self, state: _LoopState) -> None:
        while True:
            timeout = self._poll_interval if self._waiting else None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(state.refresh_requested.wait(), timeout)
            state.refresh_requested.clear()
            if not self._waiting:
                # Nobody to wake: skip the store read. The next waiter triggers a refresh
                # before it waits, so a skipped change is still seen.
                continue
            try:
                await self._refresh(state)
            except Exception:  # a store hiccup must not end the channel; retry next round
                await asyncio.sleep(self._poll_interval)

    async def _refresh(self, state: _LoopState) -> None:
        # One refresh at a time, so an older read never overwrites a newer one.
        async with state.refreshing:
            generations = await asyncio.to_thread(self._store.generations)
            token = change_token(generations)
            if token == self._token:
                return
            self._generations, self._token = generations, token
        async with state.changed:
            state.changed.notify_all()
