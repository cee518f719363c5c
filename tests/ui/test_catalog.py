"""The page's namespace indexes and search, over a real MemoryStore."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from registry.server.ui.catalog import SORT_KEYS, Catalog
from registry.store.base import EntryDraft, EntryRecord
from registry.store.memory import MemoryStore

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
WORDS = ["loss", "metric", "encoder", "decoder", "Focal", "smooth", "cross", "entropy"]


def fill(store: MemoryStore, namespace: str, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    store.ensure_namespace(namespace, "function")
    drafts = []
    for number in range(count):
        name = f"{rng.choice(WORDS)}_{number}"
        drafts.append(
            EntryDraft(
                identifier=name,
                origin=f"lab.{rng.choice(WORDS).lower()}:{name}",
                doc=f"{rng.choice(WORDS)} {rng.choice(WORDS)} of things.",
                created_by=f"{rng.choice(['ada', 'grace', 'linus'])}@gpu-{rng.randint(1, 3)}",
                created_at=START + timedelta(minutes=rng.randint(0, 10_000)),
            )
        )
    store.register_batch(namespace, drafts)


def brute_force(entries: list[EntryRecord], text: str, key: str, descending: bool) -> list[str]:
    words = text.casefold().split()
    found = [
        e
        for e in entries
        if all(w in f"{e.identifier}\n{e.origin}\n{e.doc}".casefold() for w in words)
    ]
    found.sort(key=lambda e: e.identifier.casefold())
    if key != "identifier":
        found.sort(
            key=lambda e: (
                e.created_at
                if key == "created_at"
                else e.version
                if key == "version"
                else getattr(e, key).casefold()
            )
        )
    if descending:
        found.reverse()
    return [e.identifier for e in found]


@pytest.mark.parametrize("key", SORT_KEYS)
@pytest.mark.parametrize("text", ["", "loss", "LOSS metric", "lab.focal", "nothing-like-it"])
@pytest.mark.parametrize("descending", [False, True])
def test_pages_are_the_filtered_sorted_slices(key, text, descending) -> None:
    store = MemoryStore()
    fill(store, "lab.ns", 300)
    index = Catalog(store).namespace("lab.ns")
    assert index is not None
    expected = brute_force(store.list_entries("lab.ns"), text, key, descending)
    seen: list[str] = []
    for offset in range(0, 320, 50):
        page = index.page(text, sort=key, descending=descending, offset=offset, limit=50)
        assert page.total == len(expected)
        seen += [e.identifier for e in page.entries]
    if key in ("identifier", "origin", "created_by"):
        assert seen == expected
    else:  # ties keep identifier order in both directions; compare the sort keys only
        ordered = {e.identifier: e for e in store.list_entries("lab.ns")}
        value = (lambda e: e.created_at) if key == "created_at" else (lambda e: e.version)
        assert [value(ordered[i]) for i in seen] == [value(ordered[i]) for i in expected]
        assert sorted(seen) == sorted(expected)


def test_index_is_reused_until_the_namespace_changes() -> None:
    store = MemoryStore()
    fill(store, "lab.ns", 20)
    catalog = Catalog(store)
    first = catalog.namespace("lab.ns")
    assert catalog.namespace("lab.ns") is first
    store.register("lab.ns", EntryDraft(identifier="late", origin="lab.x:late"))
    second = catalog.namespace("lab.ns")
    assert second is not first
    assert [e.identifier for e in second.page("late").entries] == ["late"]
    store.unregister("lab.ns", "late")
    assert catalog.namespace("lab.ns").page("late").total == 0


def test_latest_registration_and_missing_namespace() -> None:
    store = MemoryStore()
    fill(store, "lab.ns", 50)
    index = Catalog(store).namespace("lab.ns")
    newest = max(store.list_entries("lab.ns"), key=lambda e: e.created_at)
    assert index is not None and index.latest == newest
    assert Catalog(store).namespace("lab.none") is None


def test_search_ranks_identifier_matches_first() -> None:
    store = MemoryStore()
    store.ensure_namespace("lab.a", "function")
    store.ensure_namespace("lab.b", "type")
    drafts = {
        "lab.a": [
            EntryDraft(identifier="focal_loss", origin="lab.losses:focal_loss"),
            EntryDraft(identifier="dice", origin="lab.losses:dice", doc="Better than focal."),
        ],
        "lab.b": [
            EntryDraft(identifier="focal", origin="lab.models:focal"),
            EntryDraft(identifier="unfocal", origin="lab.models:unfocal"),
        ],
    }
    for namespace, items in drafts.items():
        store.register_batch(namespace, items)
    total, hits = Catalog(store).search("Focal")
    assert total == 4
    assert [(h.namespace.name, h.entry.identifier) for h in hits] == [
        ("lab.b", "focal"),  # equal
        ("lab.a", "focal_loss"),  # starts with
        ("lab.b", "unfocal"),  # contains
        ("lab.a", "dice"),  # docstring
    ]
    assert Catalog(store).search("focal", limit=1) == (4, hits[:1])
    assert Catalog(store).search("   ") == (0, [])


def test_typing_on_reuses_earlier_results_without_changing_them() -> None:
    store = MemoryStore()
    fill(store, "lab.ns", 400)
    index = Catalog(store).namespace("lab.ns")
    assert index is not None
    entries = store.list_entries("lab.ns")
    typed = [
        "l",
        "lo",
        "los",
        "loss",
        "loss m",
        "loss me",
        "loss",
        "o",
        "ss",
        "loss_1",
        "cross entropy",
    ]
    for text in typed + typed[::-1]:
        for key, descending in (("identifier", False), ("created_at", True)):
            page = index.page(text, sort=key, descending=descending, limit=1000)
            expected = brute_force(entries, text, key, descending)
            assert sorted(e.identifier for e in page.entries) == sorted(expected), text
            assert page.total == len(expected), text


@pytest.mark.parametrize(
    "text", ["loss", "l", "LOSS_1", "loss_12", "ent", "metric of", "lab.", "zz"]
)
@pytest.mark.parametrize("limit", [1, 7, 50, 1000])
def test_search_agrees_with_ranking_every_match(text: str, limit: int) -> None:
    store = MemoryStore()
    for seed, namespace in enumerate(("lab.a", "lab.b", "lab.c")):
        fill(store, namespace, 150, seed=seed)
    store.register("lab.b", EntryDraft(identifier="loss", origin="lab.x:loss"))
    words = text.casefold().split()
    whole = " ".join(words)
    everything = []
    for namespace in ("lab.a", "lab.b", "lab.c"):
        for entry in store.list_entries(namespace):
            haystack = f"{entry.identifier}\n{entry.origin}\n{entry.doc}".casefold()
            if all(w in haystack for w in words):
                name = entry.identifier.casefold()
                rank = (
                    0
                    if name == whole
                    else 1
                    if name.startswith(whole)
                    else 2
                    if whole in name
                    else 3
                )
                everything.append((rank, name, namespace, entry.identifier))
    everything.sort()
    total, hits = Catalog(store).search(text, limit)
    assert total == len(everything)
    assert [(h.namespace.name, h.entry.identifier) for h in hits] == [
        (namespace, identifier) for *_, namespace, identifier in everything[:limit]
    ]


def test_index_follows_the_store_even_before_a_cache_hears_of_the_change() -> None:
    """The page hears of a change from generations read from the database; a CachedStore whose
    change signal has not arrived must not hand it the old entries (they would stay shown)."""
    from registry.store.cached import CachedStore

    database = MemoryStore()  # signals nothing to the cache: another process's write, unheard
    fill(database, "lab.ns", 5)
    cached = CachedStore(database)
    catalog = Catalog(cached)
    assert cached.list_entries("lab.ns") and catalog.namespace("lab.ns") is not None
    database.register("lab.ns", EntryDraft(identifier="late", origin="lab.x:late"))
    assert cached.get_entry("lab.ns", "late") is None  # the cache has not heard of it yet
    index = catalog.namespace("lab.ns")
    assert index is not None and index.page("late").total == 1
    assert index.record.generation == database.generations()["lab.ns"]
