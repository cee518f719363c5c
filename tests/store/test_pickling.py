"""The pickle policy: every refusal of ``load_blob`` is exercised, and the happy paths."""

from __future__ import annotations

import dataclasses

import pytest

from registry import settings
from registry.errors import RestoreError
from registry.pickling import dump_blob, key_id_for, load_blob, seal
from registry.store.base import BlobRecord, EntryRecord

KEY = b"lab secret key"


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_ALLOW_PICKLE", raising=False)
    monkeypatch.delenv("REGISTRY_SIGNING_KEY", raising=False)
    settings.reset()


def stored(obj: object) -> BlobRecord:
    draft = dump_blob(obj, "lab.losses", "scaled")
    return BlobRecord(**dataclasses.asdict(draft))


def entry_of(
    record: BlobRecord,
    *,
    key: bytes | None = None,
    identifier: str = "scaled",
    version: int = 1,
    namespace: str = "lab.losses",
) -> EntryRecord:
    """The entry using ``record``, sealed with ``key`` when given."""
    return EntryRecord(
        namespace,
        identifier,
        version,
        "__main__:<lambda>",
        blob_sha256=record.sha256,
        seal=None if key is None else seal(key, namespace, identifier, version, record),
    )


def test_unsigned_blob_loads_with_the_opt_in() -> None:
    record = stored(lambda x: x * 3)
    assert load_blob(record, entry_of(record), allow_pickle=True)(2) == 6


def test_opt_in_from_env_and_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    record = stored(lambda x: x + 1)
    monkeypatch.setenv("REGISTRY_ALLOW_PICKLE", "1")
    assert load_blob(record)(1) == 2
    settings.configure(allow_pickle=False)  # configure() wins over the environment
    with pytest.raises(RestoreError, match="Refusing to unpickle"):
        load_blob(record)


def test_refused_without_opt_in() -> None:
    record = stored(lambda x: x)
    with pytest.raises(RestoreError) as caught:
        load_blob(record, entry_of(record))
    assert "runs arbitrary code" in caught.value.message
    assert any("REGISTRY_ALLOW_PICKLE=1" in hint for hint in caught.value.suggestions)
    assert caught.value.context["identifier"] == "scaled"


def test_sealed_entry_loads_with_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SIGNING_KEY", KEY.decode())
    record = stored(lambda x: -x)
    entry = entry_of(record, key=KEY)
    assert entry.seal is not None and entry.seal.key_id == key_id_for(KEY)
    assert load_blob(record, entry, allow_pickle=True)(5) == -5


def test_missing_seal_refused_when_a_key_is_configured() -> None:
    record = stored(lambda x: x)
    with pytest.raises(RestoreError, match="not signed"):
        load_blob(record, entry_of(record), allow_pickle=True, signing_key=KEY)
    with pytest.raises(RestoreError, match="not signed"):
        load_blob(record, allow_pickle=True, signing_key=KEY)  # no entry: nothing vouches


def test_wrong_seal_refused_before_unpickling() -> None:
    record = stored(lambda x: x)
    entry = entry_of(record, key=KEY)
    assert entry.seal is not None
    tampered = dataclasses.replace(entry, seal=dataclasses.replace(entry.seal, signature="0" * 64))
    with pytest.raises(RestoreError, match="seal does not match"):
        load_blob(record, tampered, allow_pickle=True, signing_key=KEY)


def test_seal_binds_the_blob_metadata() -> None:
    record = stored(lambda x: x)
    entry = entry_of(record, key=KEY)
    relabelled = dataclasses.replace(record, pickler_version="0.0.1")
    with pytest.raises(RestoreError, match="seal does not match"):
        load_blob(relabelled, entry, allow_pickle=True, signing_key=KEY)


def test_seal_binds_the_entry_to_its_blob() -> None:
    """Pointing an entry at another entry's signed blob, or moving a seal, is refused."""
    harmless = stored(lambda x: x)
    dangerous = stored(lambda x: "rm -rf")
    cleanup = entry_of(dangerous, key=KEY, identifier="cleanup")
    assert load_blob(dangerous, cleanup, allow_pickle=True, signing_key=KEY)(1) == "rm -rf"
    scaled = entry_of(harmless, key=KEY)
    # the attacker points 'scaled' at the cleanup blob, keeping or copying a valid seal
    repointed = dataclasses.replace(scaled, blob_sha256=dangerous.sha256)
    copied = dataclasses.replace(repointed, seal=cleanup.seal)
    for forged in (repointed, copied):
        with pytest.raises(RestoreError, match="seal does not match"):
            load_blob(dangerous, forged, allow_pickle=True, signing_key=KEY)
    # ...or moves version 1's seal onto version 2, or into another namespace
    for moved in (
        dataclasses.replace(scaled, version=2),
        dataclasses.replace(scaled, namespace="lab.other"),
    ):
        with pytest.raises(RestoreError, match="seal does not match"):
            load_blob(harmless, moved, allow_pickle=True, signing_key=KEY)


def test_an_entry_must_name_the_blob_it_is_loaded_with() -> None:
    record, other = stored(lambda x: x), stored(lambda x: x + 1)
    with pytest.raises(RestoreError, match="names blob"):
        load_blob(other, entry_of(record), allow_pickle=True)


def test_other_key_refused() -> None:
    record = stored(lambda x: x)
    with pytest.raises(RestoreError, match="signed with another key"):
        load_blob(record, entry_of(record, key=b"another key"), allow_pickle=True, signing_key=KEY)


def test_swapped_payload_refused() -> None:
    """An attacker with database access replaces the data but keeps the signed hash."""
    record = stored(lambda x: x)
    entry = entry_of(record, key=KEY)
    evil = stored(lambda x: "pwned")
    swapped = dataclasses.replace(record, data=evil.data)
    with pytest.raises(RestoreError, match="does not match its SHA-256"):
        load_blob(swapped, entry, allow_pickle=True, signing_key=KEY)


def test_missing_blob_refused_clearly() -> None:
    entry = EntryRecord("lab.losses", "scaled", 1, "__main__:<lambda>", blob_sha256="ab" * 32)
    with pytest.raises(RestoreError, match="missing from the store"):
        load_blob(None, entry, allow_pickle=True)


def test_other_python_version_refused() -> None:
    record = dataclasses.replace(stored(lambda x: x), python_version="3.7.17")
    with pytest.raises(RestoreError) as caught:
        load_blob(record, allow_pickle=True)
    assert "Python 3.7.17" in caught.value.message


def test_other_cloudpickle_version_refused() -> None:
    record = dataclasses.replace(stored(lambda x: x), pickler_version="0.0.1")
    with pytest.raises(RestoreError, match="cloudpickle 0.0.1"):
        load_blob(record, allow_pickle=True)


def test_blob_round_trip_through_a_sql_store(sqlite_url: str) -> None:
    from registry.store.base import EntryDraft
    from registry.store.sql import SqlStore

    store = SqlStore(sqlite_url)
    store.ensure_namespace("lab.losses", "function")
    blob = dump_blob(lambda x: x * 10, "lab.losses", "scaled")
    draft = EntryDraft(
        "scaled", "__main__:<lambda>", blob=blob, seal=seal(KEY, "lab.losses", "scaled", 1, blob)
    )
    store.register("lab.losses", draft)
    entry = store.get_entry("lab.losses", "scaled")
    assert entry is not None and entry.blob_sha256 == blob.sha256 and entry.seal == draft.seal
    record = store.get_blob(blob.sha256)
    assert record is not None
    assert load_blob(record, entry, allow_pickle=True, signing_key=KEY)(4) == 40
