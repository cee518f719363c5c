"""Signed pickles against someone who can write to the database but does not hold the key.

Real processes: writers with and without ``REGISTRY_SIGNING_KEY``, an attacker editing rows with
plain SQL, readers with the key, and ``registry doctor``. Before issue 14 a signed write of bytes
stored earlier unsigned left them unsigned (readers refused the key holder's own artifact), and
an entry pointed at another entry's signed blob loaded that blob.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.reliability.conftest import child_env, run_json

pytestmark = pytest.mark.slow

KEY, NEW_KEY = "lab-signing-key-0123456789", "rotated-signing-key-9876543210"

WRITER = """
import json
from registry import FunctionalRegistry

class Ops(FunctionalRegistry, logic_namespace="lab.sealed"):
    pass

Ops.register_artifact("harmless", lambda x: x)
Ops.register_artifact("cleanup", lambda x: "rm -rf " + str(x))
entries = Ops._store.list_entries("lab.sealed")
print(json.dumps([(r.identifier, r.version, r.seal is not None) for r in entries]))
"""

READER = """
import json
from registry import FunctionalRegistry, RestoreError

class Ops(FunctionalRegistry, logic_namespace="lab.sealed"):
    pass

out = {}
for name in ("harmless", "cleanup"):
    try:
        out[name] = Ops.get_artifact(name)(1)
    except RestoreError as error:
        out[name] = "refused: " + error.message
print(json.dumps(out))
"""


def env(url: str, key: str | None = None) -> dict[str, str]:
    extra = {"REGISTRY_URL": url, "REGISTRY_ALLOW_PICKLE": "1"}
    if key is not None:
        extra["REGISTRY_SIGNING_KEY"] = key
    return child_env(**extra)


def doctor(url: str, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry", "doctor", "lab.sealed"],
        env=env(url, key),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def test_a_signed_write_seals_what_was_stored_unsigned_and_keys_rotate(url: str) -> None:
    assert run_json(WRITER, env=env(url)) == [["harmless", 1, False], ["cleanup", 1, False]]
    refused = run_json(READER, env=env(url, KEY))
    assert refused["harmless"].startswith("refused: ") and "not signed" in refused["harmless"]
    assert "would be refused" in doctor(url, KEY).stdout
    # the key holder registers the same definitions: same bytes, now sealed, same version
    assert run_json(WRITER, env=env(url, KEY)) == [["harmless", 1, True], ["cleanup", 1, True]]
    assert run_json(READER, env=env(url, KEY)) == {"harmless": 1, "cleanup": "rm -rf 1"}
    assert doctor(url, KEY).returncode == 0
    # rotation: registering again with the new key replaces the seals
    run_json(WRITER, env=env(url, NEW_KEY))
    assert run_json(READER, env=env(url, NEW_KEY)) == {"harmless": 1, "cleanup": "rm -rf 1"}
    old = run_json(READER, env=env(url, KEY))
    assert "signed with another key" in old["harmless"]


_CLEANUP = "(SELECT {} FROM entries WHERE identifier = 'cleanup')"
ATTACKS = {
    # point 'harmless' at the cleanup blob, with or without copying cleanup's seal
    "repointed": f"UPDATE entries SET blob_sha256 = {_CLEANUP.format('blob_sha256')} "
    "WHERE identifier = 'harmless'",
    "repointed-with-seal": f"UPDATE entries SET blob_sha256 = {_CLEANUP.format('blob_sha256')}, "
    f"seal = {_CLEANUP.format('seal')} WHERE identifier = 'harmless'",
    # drop the seal, or claim another key
    "unsealed": "UPDATE entries SET seal = NULL, seal_key_id = NULL WHERE identifier = 'harmless'",
    "other-key": "UPDATE entries SET seal_key_id = 'feedfeedfeedfeed' WHERE identifier = 'harmless'",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_tampered_entries_are_refused_and_reported(sqlite_url: str, attack: str) -> None:
    check_attack(sqlite_url, ATTACKS[attack])


def test_a_repointed_entry_is_refused_on_postgres(empty_pg_url: str) -> None:
    check_attack(empty_pg_url, ATTACKS["repointed-with-seal"])


def check_attack(url: str, attack: str) -> None:
    run_json(WRITER, env=env(url, KEY))
    sql(url, attack)
    out = run_json(READER, env=env(url, KEY))
    assert out["harmless"].startswith("refused: "), out
    assert out["cleanup"] == "rm -rf 1"  # the untouched entry still loads
    report = doctor(url, KEY)
    assert report.returncode == 1
    assert "harmless" in report.stdout and "would be refused" in report.stdout
    assert "cleanup" not in report.stdout


def test_a_swapped_payload_is_refused(url: str) -> None:
    run_json(WRITER, env=env(url, KEY))
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    evil = "x'80049500'" if is_sqlite else "'\\x80049500'::bytea"
    harmless = "(SELECT blob_sha256 FROM entries WHERE identifier = 'harmless')"
    sql(url, f"UPDATE blobs SET data = {evil} WHERE sha256 = {harmless}")
    out = run_json(READER, env=env(url, KEY))
    assert "does not match its SHA-256" in out["harmless"]
    assert "does not match its SHA-256" in doctor(url, KEY).stdout
