"""Did-you-mean: the trigram index suggests what a full scan suggests, for common typos."""

from __future__ import annotations

import random

import pytest

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
