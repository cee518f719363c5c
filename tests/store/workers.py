"""Worker processes for the multi-process store tests: ``python workers.py COMMAND ARGS...``.

Each command prints one JSON line on stdout. Start times are wall-clock instants handed in by
the test, so every worker has imported everything before the race starts.
"""

from __future__ import annotations

import json
import sys
import time

from registry.errors import RegistryError, ValidationError
from registry.store import open_store
from registry.store.base import EntryDraft


def _wait_until(start: float) -> None:
    delay = start - time.time()
    if delay > 0:
        time.sleep(delay)


def first_open(url: str, start: str) -> dict[str, object]:
    """Open (and so create) the store at the same instant as the other workers."""
    import registry.store.sql  # noqa: F401 - import before the start line

    _wait_until(float(start))
    try:
        store = open_store(url)
        store.ensure_namespace("lab.first", "function")
        store.register("lab.first", EntryDraft("f", "lab.mod:f"))
    except ValidationError as error:
        return {"ok": False, "error": str(error)}
    return {"ok": True}


def race(url: str, namespace: str, origin: str, start: str, rounds: str) -> dict[str, object]:
    """Round k: register ``origin`` under ``name<k>`` at the same instant as the other workers."""
    store = open_store(url)
    won: list[bool] = []
    errors: list[str] = []
    for round_number in range(int(rounds)):
        _wait_until(float(start) + 0.5 * round_number)
        try:
            store.register(namespace, EntryDraft(f"name{round_number}", origin))
            won.append(True)
        except RegistryError as error:
            won.append(False)
            errors.append(error.message)
    return {"won": won, "errors": errors}


def write_at(url: str, namespace: str, identifier: str, start: str) -> dict[str, object]:
    """Register one entry at ``start``; report the wall-clock time right after the commit."""
    store = open_store(url)
    _wait_until(float(start))
    store.register(namespace, EntryDraft(identifier, f"lab.mod:{identifier}"))
    return {"committed_at": time.time()}


def unregister_at(url: str, namespace: str, identifier: str, start: str) -> dict[str, object]:
    """Unregister one entry at ``start``; report the wall-clock time right after the commit."""
    store = open_store(url)
    _wait_until(float(start))
    store.unregister(namespace, identifier)
    return {"committed_at": time.time()}


def batches_forever(url: str, namespace: str, size: str) -> dict[str, object]:
    """Write batches of ``size`` new entries until killed."""
    store = open_store(url)
    count = int(size)
    for round_number in range(10**9):
        drafts = [
            EntryDraft(f"b{round_number}_{i}", f"lab.mod:b{round_number}_{i}") for i in range(count)
        ]
        store.register_batch(namespace, drafts)
        print(json.dumps({"batch": round_number}), flush=True)
    return {}


COMMANDS = {
    "first_open": first_open,
    "race": race,
    "write_at": write_at,
    "unregister_at": unregister_at,
    "batches_forever": batches_forever,
}

if __name__ == "__main__":
    result = COMMANDS[sys.argv[1]](*sys.argv[2:])
    print(json.dumps(result), flush=True)
