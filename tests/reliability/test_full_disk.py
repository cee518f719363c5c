"""A full disk: the write that does not fit fails cleanly, nothing of it is kept, reads go on,
and writing resumes once space is freed. Runs on a 4 MiB tmpfs, which needs root and a kernel
that lets it mount one; elsewhere the test is skipped, saying why."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.errors import StoreError
from registry.store import migrate
from registry.store.base import EntryDraft
from registry.store.engines import dispose_engine
from registry.store.sql import SqlStore

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for this test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a 4 MiB tmpfs for the full-disk test needs root")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here for the full-disk test: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_fails_the_write_cleanly_and_writing_resumes(small_disk: Path) -> None:
    url = f"sqlite:///{small_disk / 'registry.db'}"
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (1024 * 1024))
    store = SqlStore(url)
    store.ensure_namespace("lab.full", "function")
    written = 0
    with pytest.raises(StoreError) as caught:
        for index in range(10_000):
            store.register("lab.full", EntryDraft(f"f{index}", f"m:f{index}", doc="d" * 50_000))
            written += 1
    assert written > 0
    assert "ran out of space" in caught.value.message
    assert any("Free space" in hint for hint in caught.value.suggestions)
    # reads go on, and see exactly the registrations that succeeded
    entries = store.list_entries("lab.full")
    assert [e.identifier for e in entries] == [f"f{i}" for i in range(written)]
    assert store.get_namespace("lab.full").generation == written  # type: ignore[union-attr]
    filler.unlink()
    store.register("lab.full", EntryDraft("after", "m:after"))
    assert len(store.list_entries("lab.full")) == written + 1
    store.close()
    dispose_engine(url)
    assert migrate.verify(url).exit_code == 0
