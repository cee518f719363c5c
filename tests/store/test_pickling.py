"""The pickle policy: every refusal of ``load_blob`` is exercised, and the happy paths."""

from __future__ import annotations

import dataclasses

import pytest

from registry import settings
from registry.errors import RestoreError
from registry.pickling import dump_blob, key_id_for, load_blob
from registry.store.base import BlobRecord, EntryRecord

KEY = b"lab secret key"


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_ALLOW_PICKLE", raising=False)
    monkeypatch.delenv("REGISTRY_SIGNING_KEY", raising=False)
    settings.reset()


def stored(obj: object, *, signing_key: bytes | None = None) -> BlobRecord:
    draft = dump_blob(obj, "lab.losses", "scaled", signing_key=signing_key)
    return BlobRecord(**dataclasses.asdict(draft))


def test_unsigned_blob_loads_with_the_opt_in() -> None:
    record = stored(lambda x: x * 3)
    assert record.signature is None and record.key_id is None
    assert load_blob(record, allow_pickle=True)(2) == 6


def test_opt_in_from_env_and_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    record = stored(lambda x: x + 1)
    monkeypatch.setenv("REGISTRY_ALLOW_PICKLE", "1")
    assert load_blob(record)(1) == 2
    settings.configure(allow_pickle=False)  # configure() wins over the environment
    with pytest.raises(RestoreError, match="Refusing to unpickle"):
        load_blob(record)


def test_refused_without_opt_in() -> None:
    record = stored(lambda x: x)
    entry = EntryRecord("lab.losses", "scaled", 1, "__main__:<lambda>", blob_sha256=record.sha256)
    with pytest.raises(RestoreError) as caught:
        load_blob(record, entry)
    assert "runs arbitrary code" in caught.value.message
    assert any("REGISTRY_ALLOW_PICKLE=1" in hint for hint in caught.value.suggestions)
    assert caught.value.context["identifier"] == "scaled"


def test_signed_blob_loads_with_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SIGNING_KEY", KEY.decode())
    record = stored(lambda x: -x)
    assert record.key_id == key_id_for(KEY) and record.signature
    assert load_blob(record, allow_pickle=True)(5) == -5


def test_missing_signature_refused_when_a_key_is_configured() -> None:
    record = stored(lambda x: x)
    with pytest.raises(RestoreError, match="not signed"):
        load_blob(record, allow_pickle=True, signing_key=KEY)


def test_wrong_signature_refused_before_unpickling() -> None:
    record = stored(lambda x: x, signing_key=KEY)
    tampered = dataclasses.replace(record, signature="0" * 64)
    with pytest.raises(RestoreError, match="signature is wrong"):
        load_blob(tampered, allow_pickle=True, signing_key=KEY)


def test_signature_binds_the_version_metadata() -> None:
    record = stored(lambda x: x, signing_key=KEY)
    relabelled = dataclasses.replace(record, pickler_version="0.0.1")
    with pytest.raises(RestoreError, match="signature is wrong"):
        load_blob(relabelled, allow_pickle=True, signing_key=KEY)


def test_other_key_refused() -> None:
    record = stored(lambda x: x, signing_key=b"another key")
    with pytest.raises(RestoreError, match="signed with another key"):
        load_blob(record, allow_pickle=True, signing_key=KEY)


def test_swapped_payload_refused() -> None:
    """An attacker with database access replaces the data but keeps the signed hash."""
    record = stored(lambda x: x, signing_key=KEY)
    evil = stored(lambda x: "pwned")
    swapped = dataclasses.replace(record, data=evil.data)
    with pytest.raises(RestoreError, match="does not match its SHA-256"):
        load_blob(swapped, allow_pickle=True, signing_key=KEY)


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
    draft = dump_blob(lambda x: x * 10, "lab.losses", "scaled", signing_key=KEY)
    store.register("lab.losses", EntryDraft("scaled", "__main__:<lambda>", blob=draft))
    entry = store.get_entry("lab.losses", "scaled")
    assert entry is not None and entry.blob_sha256 == draft.sha256
    record = store.get_blob(draft.sha256)
    assert record is not None
    assert load_blob(record, entry, allow_pickle=True, signing_key=KEY)(4) == 40
