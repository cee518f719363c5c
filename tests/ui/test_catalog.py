"""The page's namespace indexes (built, brought up to date from change sets, outlined) and search,
over real stores: a MemoryStore, and an SQLite file where another store writes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.server.ui import catalog as catalog_module
from registry.server.ui.catalog import SORT_KEYS, Catalog, NamespaceIndex, Outline
from registry.store.base import EntryDraft, EntryRecord, Store
from registry.store.memory import MemoryStore
from registry.store.sql import SqlStore

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


# -- indexes brought up to date from change sets ------------------------------------------------

NAMES = ["loss", "Loss", "LOSS_2", "dice", "a", "B"]  # equal when case is ignored: ties
MOMENTS = [None, START, START + timedelta(minutes=1), START + timedelta(minutes=2)]


def draft_of(number: int, variant: int, moment: int = 0) -> EntryDraft:
    """Identifier ``NAMES[number]``; another ``variant`` is a new version of the same code."""
    name = NAMES[number]
    return EntryDraft(
        identifier=name,
        origin=f"lab.{name.lower()}:{name}",
        source_hash=f"{variant:064x}",
        doc=f"{WORDS[variant % len(WORDS)]} of {name}",
        created_by=["ada@gpu-1", "grace@gpu-2"][variant % 2],
        created_at=MOMENTS[moment % len(MOMENTS)],
    )


def assert_same_index(index: NamespaceIndex, store: Store, namespace: str) -> None:
    """``index`` answers exactly as an index built afresh from ``list_entries`` would."""
    record = store.get_namespace(namespace)
    assert record is not None
    rebuilt = NamespaceIndex(record, store.list_entries(namespace))
    assert index.record == rebuilt.record
    assert index.entries == rebuilt.entries
    assert (index.names, index.haystacks) == (rebuilt.names, rebuilt.haystacks)
    assert index.positions == rebuilt.positions
    for key in SORT_KEYS:
        assert index.order(key) == rebuilt.order(key), key
    assert index.latest == rebuilt.latest
    for text in ("", "loss", "of b"):
        for descending in (False, True):
            got = index.page(text, sort="created_at", descending=descending, limit=5)
            assert got == rebuilt.page(text, sort="created_at", descending=descending, limit=5)


names = st.integers(0, len(NAMES) - 1)
variants = st.integers(0, 3)
moments = st.integers(0, len(MOMENTS) - 1)
operations = st.one_of(
    st.tuples(st.just("register"), names, variants, moments),
    st.tuples(st.just("batch"), st.lists(st.tuples(names, variants, moments), max_size=6)),
    st.tuples(st.just("unregister"), names),
    # unregistered and registered again between two looks: it moves to the end
    st.tuples(st.just("again"), names, variants, moments),
    st.tuples(st.just("clear")),
    # the page looks at the namespace, having sorted it by some keys (orders to carry forward)
    st.tuples(st.just("look"), st.sets(st.sampled_from(SORT_KEYS))),
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(operations, max_size=25), resort_above=st.sampled_from([0, 2, 256]))
def test_an_index_brought_up_to_date_equals_one_built_afresh(
    steps: list[tuple[Any, ...]], resort_above: int
) -> None:
    store = MemoryStore()
    store.ensure_namespace("lab.ns", "function")
    catalog = Catalog(store)
    with mock.patch.object(catalog_module, "RESORT_ABOVE", resort_above):
        for step in steps:
            if step[0] == "register":
                store.register("lab.ns", draft_of(*step[1:]))
            elif step[0] == "batch":
                store.register_batch("lab.ns", [draft_of(*item) for item in step[1]])
            elif step[0] == "unregister":
                store.unregister("lab.ns", NAMES[step[1]])
            elif step[0] == "again":
                store.unregister("lab.ns", NAMES[step[1]])
                store.register("lab.ns", draft_of(*step[1:]))
            elif step[0] == "clear":
                store.clear("lab.ns")
            else:
                index = catalog.namespace("lab.ns")
                assert index is not None
                for key in step[1]:
                    index.order(key)
        index = catalog.namespace("lab.ns")
        assert index is not None
        assert_same_index(index, store, "lab.ns")


class ListsOnce(SqlStore):
    """A real SQLite store that refuses a second ``list_entries`` of a namespace: the catalog
    must follow it by change sets alone."""

    listed = False

    def list_entries(self, namespace: str) -> list[EntryRecord]:
        assert not self.listed, "the catalog read the whole namespace again"
        self.listed = True
        return super().list_entries(namespace)


def test_a_page_follows_registrations_versions_unregisters_and_clears_by_changes(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    store = SqlStore(url)  # another process's writes, on the same SQLite file
    store.ensure_namespace("lab.ns", "function")
    store.register_batch("lab.ns", [draft_of(n, 0, n) for n in range(5)])
    page_store = ListsOnce(url)
    catalog = Catalog(page_store)
    index = catalog.namespace("lab.ns")
    assert index is not None
    for key in ("identifier", "created_at", "version"):
        index.order(key)

    def again(number: int) -> None:  # unregistered and back between two looks
        store.unregister("lab.ns", NAMES[number])
        store.register("lab.ns", draft_of(number, 2))

    steps = [
        lambda: store.register("lab.ns", draft_of(5, 0)),  # a new identifier
        lambda: store.register("lab.ns", draft_of(0, 1, 3)),  # a new version of "loss"
        lambda: store.unregister("lab.ns", "Loss"),
        lambda: store.register("lab.ns", draft_of(1, 2)),  # "Loss" again, now at the end
        lambda: again(3),
        lambda: store.register_batch("lab.ns", [draft_of(2, 1), draft_of(3, 3), draft_of(4, 0)]),
        lambda: store.clear("lab.ns"),
        lambda: store.register("lab.ns", draft_of(5, 1)),
    ]
    for step in steps:
        before = catalog.namespace("lab.ns")
        step()
        after = catalog.namespace("lab.ns")
        assert after is not None and after is not before
        assert_same_index(after, store, "lab.ns")
    assert [e.identifier for e in after.entries] == ["B"]
    page_store.close()
    store.close()


def test_a_namespace_that_goes_back_in_generations_is_read_afresh() -> None:
    """Another database behind the same URL (restored from a backup, say)."""
    first = MemoryStore()
    first.ensure_namespace("lab.ns", "function")
    for number in range(4):
        first.register("lab.ns", draft_of(number, 0))
    catalog = Catalog(first)
    assert catalog.namespace("lab.ns") is not None
    second = MemoryStore()
    second.ensure_namespace("lab.ns", "function")
    second.register("lab.ns", draft_of(5, 0))
    catalog.store = second
    index = catalog.namespace("lab.ns")
    assert index is not None and [e.identifier for e in index.entries] == ["B"]
    assert_same_index(index, second, "lab.ns")


def test_a_first_look_at_a_large_namespace_is_an_outline_until_its_index_is_read() -> None:
    store = MemoryStore()
    fill(store, "lab.big", 300)
    for name in ("tie", "TIE", "Tie"):  # equal but for case: in registration order
        store.register("lab.big", EntryDraft(identifier=name, origin=f"lab.x:{name}"))
    fill(store, "lab.small", 5)
    catalog = Catalog(store)
    with mock.patch.object(catalog_module, "OUTLINE_ABOVE", 100):
        outline = catalog.preview("lab.big")
        small = catalog.preview("lab.small")
        assert isinstance(outline, Outline) and isinstance(small, NamespaceIndex)
        assert [type(view) for view in catalog.previews()] in (
            [Outline, NamespaceIndex],  # still reading lab.big
            [NamespaceIndex, NamespaceIndex],
        )
        assert catalog.preview("lab.none") is None
    assert not outline.complete and outline.latest is None and outline.size == 303
    index = catalog.namespace("lab.big")  # waits for the read the preview started
    assert index is not None and index.complete
    for descending in (False, True):
        for offset in (0, 50, 280, 290):
            expected = index.page(descending=descending, offset=offset, limit=50)
            assert outline.page(descending=descending, offset=offset, limit=50) == expected
    with pytest.raises(ValueError, match="use the index"):
        outline.page("loss")
    with pytest.raises(ValueError, match="use the index"):
        outline.page(sort="created_at")
    with mock.patch.object(catalog_module, "OUTLINE_ABOVE", 100):
        assert catalog.preview("lab.big") is index  # read once: the index from now on
