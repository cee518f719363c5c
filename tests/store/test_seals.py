"""Seals stick: every backend keeps an entry's seal, replaces it on a signed re-registration and
refuses one made for another version (issue 14, item 2)."""

from __future__ import annotations

import pytest

from registry.errors import RegistryError
from registry.pickling import seal
from registry.store.base import EntryDraft, Outcome, Store
from tests.store.test_contract import blob

KEY, OTHER_KEY = b"lab key", b"rotated key"


def _draft(
    namespace: str, payload: bytes, *, key: bytes | None = None, version: int = 1
) -> EntryDraft:
    pickled = blob(payload)
    sealed = None if key is None else seal(key, namespace, "scaled", version, pickled)
    return EntryDraft("scaled", "__main__:<lambda>", source_hash="s1", blob=pickled, seal=sealed)


def test_a_seal_is_kept_with_its_entry(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    draft = _draft(namespace, b"one", key=KEY)
    registered = store.register(namespace, draft).record
    assert registered.seal == draft.seal
    assert store.get_entry(namespace, "scaled").seal == draft.seal  # type: ignore[union-attr]
    assert store.list_entries(namespace)[0].seal == draft.seal
    assert store.history(namespace, "scaled")[0].seal == draft.seal


def test_a_signed_write_seals_bytes_stored_unsigned(store: Store, namespace: str) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, _draft(namespace, b"one"))
    before = store.get_namespace(namespace).generation  # type: ignore[union-attr]
    again = store.register(namespace, _draft(namespace, b"one", key=KEY))
    assert again.outcome is Outcome.UNCHANGED
    assert again.record.version == 1 and again.record.seal is not None
    assert store.get_entry(namespace, "scaled").seal == again.record.seal  # type: ignore[union-attr]
    # other processes' caches must hear about it: the generation moved
    assert store.get_namespace(namespace).generation > before  # type: ignore[union-attr]
    # rotating keys: the same bytes registered with a new key replace the seal
    rotated = store.register(namespace, _draft(namespace, b"one", key=OTHER_KEY))
    assert rotated.record.seal is not None and rotated.record.seal != again.record.seal
    assert [r.version for r in store.history(namespace, "scaled")] == [1]


def test_a_seal_for_another_version_is_refused_and_writes_nothing(
    store: Store, namespace: str
) -> None:
    store.ensure_namespace(namespace, "function")
    store.register(namespace, _draft(namespace, b"one", key=KEY))
    # new bytes become version 2: a seal made for version 5 is refused, naming version 2
    with pytest.raises(RegistryError) as caught:
        store.register(namespace, _draft(namespace, b"two", key=KEY, version=5))
    assert caught.value.context["expected_version"] == 2
    assert [r.version for r in store.history(namespace, "scaled")] == [1]
    # unchanged bytes stay version 1: a seal for version 2 is refused as well
    with pytest.raises(RegistryError) as caught:
        store.register(namespace, _draft(namespace, b"one", key=OTHER_KEY, version=2))
    assert caught.value.context["expected_version"] == 1
    results = store.register_batch(namespace, [_draft(namespace, b"two", key=KEY, version=5)])
    assert isinstance(results[0], RegistryError)
    assert results[0].context["expected_version"] == 2
    assert [r.version for r in store.history(namespace, "scaled")] == [1]


def test_signed_new_bytes_are_a_new_version(store: Store, namespace: str) -> None:
    """The same definition pickled to other bytes: the signer vouches for its own bytes only."""
    store.ensure_namespace(namespace, "function")
    store.register(namespace, _draft(namespace, b"one"))
    unsigned = store.register(namespace, _draft(namespace, b"two"))
    assert unsigned.outcome is Outcome.UNCHANGED  # unsigned: same definition, nothing written
    signed = store.register(namespace, _draft(namespace, b"two", key=KEY, version=2))
    assert signed.outcome is Outcome.NEW_VERSION and signed.record.version == 2
    assert signed.record.blob_sha256 == blob(b"two").sha256


def test_registries_seal_for_the_version_the_store_assigns(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry import FunctionalRegistry

    monkeypatch.setenv("REGISTRY_SIGNING_KEY", "registry-test-signing-key")
    monkeypatch.setenv("REGISTRY_ALLOW_PICKLE", "1")

    class Ops(FunctionalRegistry, logic_namespace="lab.seal_versions", url=sqlite_url):
        pass

    Ops.register_artifact("f", lambda x: x + 1)
    Ops.unregister_identifier("f")
    # the store numbers this one 2 (history goes on); the first seal, made for 1, is refused
    plus_two = lambda x: x + 2  # noqa: E731 - a lambda is what gets pickled
    Ops.register_artifact("f", plus_two)
    report = Ops.safe_register_batch({"g": lambda x: x * 3, "f": plus_two})
    assert report["failed"] == [], report["errors"]
    for identifier, version in (("f", 2), ("g", 1)):
        record = Ops._store.get_entry("lab.seal_versions", identifier)
        assert record is not None and record.seal is not None
        assert (record.version, record.seal.version) == (version, version)
        Ops._forget(identifier)  # the next get restores from the store, checking the seal
    assert (Ops.get_artifact("f")(1), Ops.get_artifact("g")(1)) == (3, 3)
