"""Did-you-mean: the trigram index suggests what a full scan suggests, for common typos."""

from __future__ import annotations

import importlib
import json
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry import FunctionalRegistry, RegistryError, suggest

WORDS = ["focal", "loss", "dice", "cross", "entropy", "resnet", "block", "unet", "encoder"]
WORDS += ["decoder", "attention", "head", "scale", "norm", "batch", "layer", "conv", "pool"]


def names(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    found: set[str] = set()
    while len(found) < count:
        name = "_".join(rng.sample(WORDS, rng.randint(1, 3)))
        found.add(f"{name}_{rng.randint(0, 99_999)}" if rng.random() < 0.7 else name)
    return sorted(found)


def typos(name: str, rng: random.Random) -> list[str]:
    position = rng.randrange(1, len(name) - 1)
    return [
        name[:position] + "x" + name[position + 1 :],  # substitution
        name[:position] + name[position + 1 :],  # deletion
        name[:position] + "q" + name[position:],  # insertion
        name[: position - 1] + name[position] + name[position - 1] + name[position + 1 :],
        name.upper(),
    ]


def test_the_index_suggests_what_a_full_scan_suggests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suggest, "INDEX_AFTER_SCANS", 0)
    pool = names(suggest.SCAN_LIMIT * 3)
    index = suggest.NameIndex(pool)
    rng = random.Random(3)
    agreed = total = 0
    for name in rng.sample(pool, 40):
        for query in typos(name, rng):
            total += 1
            scanned = suggest.closest(query, pool, 1)
            indexed = index.closest(query, 1)
            agreed += indexed == scanned
            if query != name.upper():
                assert name in index.closest(query, 3), (query, name)
    assert agreed >= 0.95 * total
    assert index.indexed


def test_a_large_list_is_scanned_until_its_lookups_pay_for_the_index() -> None:
    pool = names(suggest.SCAN_LIMIT * 2)
    index = suggest.NameIndex(pool)
    queries = [f"{word}_los{n}" for n in range(8) for word in ("focal", "dice", "resnet")]
    assert len(queries) == suggest.INDEX_AFTER_SCANS
    for query in queries:
        assert index.closest(query, 3) == suggest.closest(query, pool, 3)
        assert not index.indexed
    assert index.closest("focal_los", 1) == ["focal_loss"]
    assert index.indexed


def test_a_repeated_query_is_answered_from_memory_and_never_pays_for_an_index() -> None:
    pool = names(suggest.SCAN_LIMIT * 2)
    index = suggest.NameIndex(pool)
    expected = suggest.closest("dice_lsos", pool, 3)
    for _ in range(suggest.INDEX_AFTER_SCANS * 2):
        answer = index.closest("dice_lsos", 3)
        assert answer == expected
        answer.clear()  # the caller's copy: the remembered answer stays whole
    assert not index.indexed  # only new queries count towards the index
    assert index.closest("dice_lsos", 1) == expected[:1]  # another limit, another answer


def test_remembered_answers_are_bounded() -> None:
    index = suggest.NameIndex(names(200))
    for n in range(suggest.REMEMBERED_QUERIES * 3):
        index.closest(f"focal_{n}")
    assert len(index._answers) == suggest.REMEMBERED_QUERIES
    assert ("focal_0", 3) not in index._answers  # the oldest went first
    assert (f"focal_{suggest.REMEMBERED_QUERIES * 3 - 1}", 3) in index._answers


# Few letters, so that names tie on score and the order of equal scores is tested too.
short_names = st.lists(st.text("abcd", min_size=1, max_size=5), max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    before=short_names,
    appended=st.lists(short_names, min_size=1, max_size=3),
    queries=st.lists(st.text("abcd", min_size=1, max_size=5), min_size=1, max_size=4),
    limit=st.integers(1, 4),
)
def test_an_index_that_follows_appended_names_answers_as_a_fresh_scan(
    before: list[str], appended: list[list[str]], queries: list[str], limit: int
) -> None:
    index = suggest.NameIndex(before)
    for query in queries:
        index.closest(query, limit)  # remembered, then carried over the changes below
    names = list(before)
    for more in appended:
        names = names + more
        index = index.follow(names)
        for query in queries:
            assert index.closest(query, limit) == suggest.closest(query, names, limit)
    assert index.closest(queries[0], limit) == suggest.closest(queries[0], names, limit)


def test_following_a_removal_starts_afresh() -> None:
    index = suggest.NameIndex(["focal_loss", "dice_loss", "ce_loss"])
    assert index.closest("focal_los", 1) == ["focal_loss"]
    remaining = ["dice_loss", "ce_loss"]
    answer = index.follow(remaining).closest("focal_los", 3)
    assert answer == suggest.closest("focal_los", remaining, 3)
    assert "focal_loss" not in answer
    tied = suggest.NameIndex(["loss_a", "loss_b"])
    assert tied.closest("loss", 1) == ["loss_a"]  # equal scores: the first name
    assert tied.follow(["loss_b", "loss_a"]).closest("loss", 1) == ["loss_b"]


def test_a_followed_index_keeps_its_trigram_index_for_a_bounded_tail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(suggest, "INDEX_AFTER_SCANS", 0)
    monkeypatch.setattr(suggest, "UNINDEXED_TAIL", 10)
    pool = names(suggest.SCAN_LIMIT * 2)
    index = suggest.NameIndex(pool)
    assert index.closest("focal_los", 1) == ["focal_loss"]
    assert index.indexed
    grown = pool + ["unet_encoder_lossy", "focal_loss_v2"]
    followed = index.follow(grown)
    assert followed.indexed  # taken over, not built again
    assert followed.closest("unet_encoder_lossx", 1) == ["unet_encoder_lossy"]  # the tail
    assert followed.closest("focal_loss_v", 1) == ["focal_loss_v2"]
    assert followed.closest("focal_los", 1) == ["focal_loss"]
    too_many = grown + [f"extra_{n}" for n in range(11)]
    rebuilt = followed.follow(too_many)
    assert not rebuilt.indexed  # the tail would cost more than a lookup: built again
    assert rebuilt.closest("extra_1x", 1) == ["extra_1"]
    assert rebuilt.indexed  # the scans were counted already


def test_small_lists_are_scanned_and_nothing_alike_gives_nothing() -> None:
    index = suggest.NameIndex(["focal_loss", "dice_loss"])
    assert index.closest("focal_los")[0] == "focal_loss"
    assert index.closest("zzzzzzzz") == []
    assert suggest.closest("dice", iter(["dice_loss", "other"]), 1) == ["dice_loss"]


def test_a_registry_miss_suggests_and_follows_new_registrations() -> None:
    class Losses(FunctionalRegistry):
        pass

    def focal_loss(x: float) -> float:
        return x

    Losses.register_artifact(focal_loss)
    with pytest.raises(RegistryError) as caught:
        Losses.get_artifact("focal_los")
    assert caught.value.suggestions[0] == "Did you mean 'focal_loss'?"

    def dice_loss(x: float) -> float:
        return x

    Losses.register_artifact(dice_loss)
    with pytest.raises(RegistryError) as caught:
        Losses.get_artifact("dice_los")
    assert caught.value.suggestions[0].startswith("Did you mean 'dice_loss'")
    assert caught.value.context["registry_size"] == 2

    def focal_los(x: float) -> float:  # registered after "focal_lox" was asked for
        return x

    with pytest.raises(RegistryError) as caught:
        Losses.get_artifact("focal_lox")
    assert caught.value.suggestions[0].startswith("Did you mean 'focal_loss'")
    Losses.register_artifact(focal_los)
    with pytest.raises(RegistryError) as caught:
        Losses.get_artifact("focal_lox")
    assert caught.value.suggestions[0] == "Did you mean 'focal_los' or 'focal_loss'?"
    Losses.unregister_identifier("focal_loss")
    with pytest.raises(RegistryError) as caught:
        Losses.get_artifact("focal_lox")
    assert caught.value.suggestions[0] == "Did you mean 'focal_los'?"


def test_a_persistent_registry_miss_follows_its_own_and_other_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    namespace = "tests.suggest_follow"

    class Mine(FunctionalRegistry, logic_namespace=namespace, url=url):
        pass

    class Other(FunctionalRegistry, logic_namespace=namespace, url=url):
        pass

    def suggested(name: str) -> str:
        with pytest.raises(RegistryError) as caught:
            Mine.get_artifact(name)
        return caught.value.suggestions[0]

    Mine.register_artifact("focal_loss", json.dumps)
    assert suggested("focal_lox") == "Did you mean 'focal_loss'?"
    Mine.register_artifact("focal_lo", json.dumps)  # the only write since the miss
    assert suggested("focal_lox") == "Did you mean 'focal_lo' or 'focal_loss'?"
    Other.register_artifact("focal_los", json.dumps)  # another class's write comes between
    module = tmp_path / "suggest_follow_losses.py"
    module.write_text("def dice_loss(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    losses = importlib.import_module(module.stem)
    Mine.register_artifact(losses.dice_loss)
    assert suggested("focal_lox") == "Did you mean 'focal_lo', 'focal_los' or 'focal_loss'?"
    module.write_text("def dice_loss(x):\n    return 2 * x\n")
    Mine.register_artifact(importlib.reload(losses).dice_loss)  # a new version: same names
    assert Mine.history("dice_loss")[-1].version == 2
    assert suggested("dice_lox") == "Did you mean 'dice_loss' or 'focal_lo'?"
    Mine.unregister_identifier("focal_lo")
    assert suggested("focal_lox") == "Did you mean 'focal_los' or 'focal_loss'?"
    sys.modules.pop(module.stem, None)
