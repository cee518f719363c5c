"""The bare-driver reads of a cold process return exactly what ``SqlStore`` returns, and
``LazySqlStore`` hands over to ``SqlStore`` for everything else, or when a direct read fails."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest

from registry.errors import SchemaVersionError, StoreError
from registry.store import migrate
from registry.store.base import ChangeSet, EntryDraft, EntryRecord
from registry.store.engines import dispose_engine, safe_url, sqlite_path
from registry.store.sql import SqlStore
from registry.store.sql_direct import (
    DirectReader,
    DirectReadFailed,
    head_from_files,
    libpq_url,
    masked_url,
    script_location,
    sqlite_file,
)
from registry.store.sql_lazy import LazySqlStore
from tests.store.test_contract import blob, draft


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


def filled(url: str) -> tuple[SqlStore, str]:
    """A namespace holding every kind of row a record is read from."""
    namespace = f"direct.{uuid.uuid4().hex[:8]}"
    store = SqlStore(url)
    store.ensure_namespace(namespace, "function")
    store.register_batch(
        namespace,
        [
            draft("plain"),
            draft(
                "described",
                scheme={"type": "object", "properties": {"gamma": {"type": "number"}}},
                signature="(gamma: float = 2.0)",
                doc="Focal loss.",
                python_version="3.11.7",
                package="lab",
                package_version="1.2.3",
                source_file="/lab/losses.py",
                source_line=12,
            ),
            draft("pickled", origin="__main__:<lambda>", blob=blob(b"payload")),
            draft("gone"),
            draft("änderung"),
        ],
    )
    imported = datetime(2024, 5, 17, 9, 30, 15, 123456, tzinfo=timezone.utc)
    store.register(namespace, draft("imported", created_at=imported, created_by="ada@lab"))
    store.register(namespace, draft("plain", source="v2"))  # version 2
    store.unregister(namespace, "gone")
    return store, namespace


def same(direct: EntryRecord | None, full: EntryRecord | None) -> None:
    assert direct == full
    if direct is not None and full is not None:
        assert direct.created_at is not None and full.created_at is not None
        assert direct.created_at.utcoffset() == full.created_at.utcoffset()
        assert type(direct.scheme) is type(full.scheme)


def same_changes(direct: ChangeSet, full: ChangeSet) -> None:
    assert (direct.namespace, direct.since, direct.generation, direct.cleared) == (
        full.namespace,
        full.since,
        full.generation,
        full.cleared,
    )
    assert sorted(direct.removed) == sorted(full.removed)  # the tombstones come unordered
    for mine, theirs in ((direct.added, full.added), (direct.updated, full.updated)):
        assert len(mine) == len(theirs)
        for record, expected in zip(mine, theirs, strict=True):
            same(record, expected)


def test_direct_reads_equal_sqlstore_reads(url: str) -> None:
    store, namespace = filled(url)
    reader = DirectReader.open(url)
    assert reader is not None
    try:
        assert reader.revision() == migrate.check(url).revision == migrate.head_revision()
        assert reader.namespace(namespace) == store.get_namespace(namespace)
        assert reader.namespace(namespace + ".missing") is None
        assert reader.identifiers(namespace) == store.list_identifiers(namespace)
        assert reader.identifiers(namespace + ".missing") == []
        for record in store.list_entries(namespace):
            same(reader.entry(namespace, record.identifier), record)
        assert reader.entry(namespace, "gone") is None
        assert reader.entry(namespace + ".missing", "plain") is None
        assert reader.entry(namespace, "plain").version == 2  # type: ignore[union-attr]
        # SqlStore's own catch-up on SQLite is the direct one: compare with its SQLAlchemy one.
        current = store.get_namespace(namespace).generation  # type: ignore[union-attr]
        for since in range(current + 2):
            same_changes(reader.changes(namespace, since), store._changes_since(namespace, since))
            same_changes(
                store.changes_since(namespace, since), store._changes_since(namespace, since)
            )
        store.clear(namespace)
        for since in (0, current, current + 1):
            same_changes(reader.changes(namespace, since), store._changes_since(namespace, since))
        missing = reader.changes(namespace + ".missing", 0)
        same_changes(missing, store._changes_since(namespace + ".missing", 0))
    finally:
        reader.close()
        store.close()


def test_lazy_store_reads_directly_then_hands_over_to_sqlstore(url: str) -> None:
    store, namespace = filled(url)
    lazy = LazySqlStore(url)
    heard: list[frozenset[str] | None] = []
    lazy.watch(heard.append)
    try:
        assert lazy.ensure_namespace(namespace, "function") == store.get_namespace(namespace)
        same(lazy.get_entry(namespace, "described"), store.get_entry(namespace, "described"))
        assert lazy.list_identifiers(namespace) == store.list_identifiers(namespace)
        assert lazy._full is None  # nothing so far needed SQLAlchemy

        store.register(namespace, draft("theirs"))
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            time.sleep(0.01)
        assert heard and namespace in (heard[0] or {namespace})
        before = store.get_namespace(namespace).generation - 1  # type: ignore[union-attr]
        same_changes(lazy.changes_since(namespace, before), store.changes_since(namespace, before))
        assert lazy._full is None  # a listener's catch-up needs no SQLAlchemy either

        heard.clear()
        lazy.register(namespace, draft("ours"))  # the first write creates the SqlStore ...
        assert lazy._full is not None and lazy._reader is None
        time.sleep(0.3)
        assert heard == []  # ... which tells the watcher it adopted that this write was ours
        assert lazy.get_entry(namespace, "ours") == store.get_entry(namespace, "ours")
    finally:
        lazy.close()
        store.close()


def test_a_lazy_store_hands_its_reader_over_with_the_watcher(url: str) -> None:
    # One bare connection per process: on SQLite the SqlStore reads its catch-ups through the
    # reader the lazy store had open; on PostgreSQL it reads none there and closes it.
    store, namespace = filled(url)
    lazy = LazySqlStore(url)
    try:
        reader = lazy._reader
        assert reader is not None and reader.namespace(namespace) is not None
        full = lazy._sql()
        if url.startswith("sqlite"):
            assert full._direct is reader
            same_changes(full.changes_since(namespace, 0), full._changes_since(namespace, 0))
        else:
            assert full._direct is None
            with pytest.raises(DirectReadFailed, match="closed"):
                reader.namespace(namespace)
    finally:
        lazy.close()
        store.close()


def test_a_failing_direct_read_is_answered_by_sqlstore(sqlite_url: str) -> None:
    store, namespace = filled(sqlite_url)
    lazy = LazySqlStore(sqlite_url)
    assert lazy.get_entry(namespace, "plain") is not None
    with sqlite3.connect(sqlite_path(sqlite_url)) as conn:  # type: ignore[arg-type]
        conn.execute("ALTER TABLE heads RENAME TO heads_moved")
    try:
        with pytest.raises(StoreError, match="no such table: heads") as caught:
            lazy.get_entry(namespace, "plain")
        assert caught.value.suggestions  # SqlStore's message, not a bare driver error
        assert lazy._full is not None
    finally:
        lazy.close()
        store.close()


def test_sqlstore_catches_up_on_the_driver_and_through_sqlalchemy_after_a_failure(
    sqlite_url: str,
) -> None:
    store, namespace = filled(sqlite_url)
    listener = SqlStore(sqlite_url)
    try:
        before = store.get_namespace(namespace).generation  # type: ignore[union-attr]
        store.register(namespace, draft("theirs"))
        same_changes(
            listener.changes_since(namespace, before), store._changes_since(namespace, before)
        )
        assert listener._direct is not None
        # Out of the counters' range: read (and clamped) by SQLAlchemy, as before.
        huge = 2**70
        assert listener.changes_since(namespace, huge) == listener._changes_since(namespace, huge)
        with sqlite3.connect(sqlite_path(sqlite_url)) as conn:  # type: ignore[arg-type]
            conn.execute("ALTER TABLE heads RENAME TO heads_moved")
        with pytest.raises(StoreError, match="no such table: heads") as caught:
            listener.changes_since(namespace, before)
        assert caught.value.suggestions  # SqlStore's message, not a bare driver error
        assert listener._direct is None  # SQLAlchemy reads from now on
    finally:
        listener.close()
        store.close()


def test_opening_refuses_or_creates_as_sqlstore_does(sqlite_url: str) -> None:
    lazy = LazySqlStore(sqlite_url)  # no file yet: SqlStore creates it with the schema
    assert migrate.check(sqlite_url).status is migrate.SchemaStatus.CURRENT
    lazy.close()
    migrate.downgrade(sqlite_url, "0001_initial", backup=False)
    with pytest.raises(SchemaVersionError, match="older than this package"):
        LazySqlStore(sqlite_url)


def test_a_reader_is_safe_to_share_between_threads(sqlite_url: str) -> None:
    store, namespace = filled(sqlite_url)
    reader = DirectReader.open(sqlite_url)
    assert reader is not None
    expected = store.get_entry(namespace, "described")
    failures: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(200):
                assert reader.entry(namespace, "described") == expected
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reader.close()
    store.close()
    assert failures == []


def test_a_closed_reader_opens_no_connection(sqlite_url: str) -> None:
    # A read another thread began before the close (a change being delivered) must not leave
    # behind a connection that nobody closes, nor the -wal/-shm files beside the database.
    store, namespace = filled(sqlite_url)
    store.close()
    path = sqlite_path(sqlite_url)
    assert path is not None
    dispose_engine(sqlite_url)
    reader = DirectReader.open(sqlite_url)
    assert reader is not None
    assert reader.namespace(namespace) is not None
    reader.close()
    with pytest.raises(DirectReadFailed, match="closed"):
        reader.changes(namespace, -1)
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name)) == [
        path.name
    ]


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////abs/path/registry.db",
        "sqlite:///relative.db",
        "sqlite:///",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:shared?mode=memory&uri=true",
        "sqlite:///data.db?timeout=5",
        "postgresql+psycopg://registry:s3cret@127.0.0.1:5432/registry",
        # A password with unencoded '/', '?' or '#' was once shown whole by masked_url.
        "postgresql+psycopg://registry:pa/ss@127.0.0.1:5432/registry",
        "postgresql+psycopg://registry:p?a#ss@127.0.0.1/registry",
    ],
)
def test_url_helpers_agree_with_sqlalchemy_or_step_aside(url: str) -> None:
    found = sqlite_file(url)
    assert found is None or found == sqlite_path(url)
    if url.endswith(".db") and "?" not in url:
        assert found is not None  # the plain file URLs are read directly
    if "@" in url:
        assert masked_url(url) == safe_url(url)  # the password masked the same way
    else:
        assert masked_url(url) == url


def test_postgres_spellings_become_libpq_urls() -> None:
    for scheme in ("postgresql+psycopg", "postgresql", "postgres"):
        assert libpq_url(f"{scheme}://u:p@h:5/db?sslmode=disable") == (
            "postgresql://u:p@h:5/db?sslmode=disable"
        )
    assert libpq_url("sqlite:///x.db") is None
    assert libpq_url("postgresql+asyncpg://h/db") is None


def test_head_from_files_agrees_with_alembic() -> None:
    assert head_from_files(script_location()) == migrate.head_revision()


def test_direct_records_are_the_drafts_written(sqlite_url: str) -> None:
    store = SqlStore(sqlite_url)
    store.ensure_namespace("direct.one", "function")
    store.register("direct.one", EntryDraft("x", "lab.mod:x", scheme={"type": "object"}))
    reader = DirectReader.open(sqlite_url)
    assert reader is not None
    record = reader.entry("direct.one", "x")
    reader.close()
    store.close()
    assert record is not None and record.scheme == {"type": "object"}
    assert record.created_at is not None and record.created_at.tzinfo is timezone.utc
