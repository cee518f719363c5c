"""Concurrent registrations through a real server: coalesced into shared transactions, yet each
gets exactly the answer it would get alone (server/writes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from registry.store import limits

from .conftest import LiveServer
from .conftest import request as call

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgres"])
def store_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    url = (
        request.getfixturevalue("pg_url")
        if request.param == "postgres"
        else f"sqlite:///{tmp_path / 'writes.db'}"
    )
    live = LiveServer(url, None, [])
    live.start()
    yield live
    live.stop()


def test_concurrent_registrations_each_get_their_own_answer(store_server: LiveServer) -> None:
    namespace = "lab.coalesced"
    call(store_server, "PUT", f"/namespaces/{namespace}", {"kind": "function"})

    def draft(index: int) -> dict[str, object]:
        if index % 10 == 3:  # everyone registers 'shared' with the same origin: created once
            return {"identifier": "shared", "origin": "lab.mod:shared", "source_hash": "h"}
        if index % 10 == 7:  # 'taken' with a different origin each time: one wins
            return {"identifier": "taken", "origin": f"lab.mod:taken{index}"}
        if index == 5:  # too long for its column: refused alone
            return {"identifier": "long", "origin": "lab.mod:" + "x" * limits.ORIGIN}
        return {"identifier": f"f{index}", "origin": f"lab.mod:f{index}"}

    def post(index: int) -> tuple[int, dict]:  # type: ignore[type-arg]
        return call(store_server, "POST", f"/namespaces/{namespace}/entries", draft(index))

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(post, range(200)))

    own = set()
    shared, taken, refused = [], [], []
    for index, (status, body) in enumerate(answers):
        if index % 10 == 3:
            shared.append(body["outcome"] if status == 200 else status)
        elif index % 10 == 7:
            taken.append(status)
        elif index == 5:
            refused.append(status)
        else:  # each answer is the one for its own draft
            assert status == 200 and body["record"]["identifier"] == f"f{index}", body
            own.add(body["record"]["identifier"])
    assert len(shared) == 20 and shared.count("created") == 1
    assert set(shared) <= {"created", "unchanged"}
    assert sorted(taken) == [200] + [409] * 19
    assert refused == [422]
    status, listed = call(store_server, "GET", f"/namespaces/{namespace}/entries")
    assert status == 200 and len(listed["entries"]) == len(own) + 2
