"""Helpers of the fault suite: real processes, dropped privileges, resident memory.

Every test here runs real processes (writers, readers, registry servers, PostgreSQL clusters)
and checks a promise of docs/reliability.md. Tests run as root in CI, where file permissions
stop nothing: :func:`unprivileged` runs a process without any capability, so a read-only file
really is read-only for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT


def unprivileged(argv: list[str]) -> list[str]:
    """Return ``argv`` so that it runs with file permissions enforced.

    As root, the process keeps uid 0 but loses every capability (``setpriv``), so the owner's
    mode bits apply to it: a 0444 file cannot be written, a 0555 directory cannot be written in.
    Any other user is subject to its modes already.
    """
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to drop root's capabilities for this test")
    return [setpriv, "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", *argv]


def child_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: this checkout first on the path, no inherited store."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    for name in ("REGISTRY_URL", "REGISTRY_TOKEN", "REGISTRY_SIGNING_KEY", "REGISTRY_ALLOW_PICKLE"):
        if name not in extra:
            env.pop(name, None)
    return env


def run_json(
    code: str,
    *,
    env: dict[str, str] | None = None,
    drop_privileges: bool = False,
    timeout: float = 60,
) -> Any:
    """Run ``code`` in a fresh interpreter; return the JSON it printed on its last line."""
    argv = [sys.executable, "-c", code]
    if drop_privileges:
        argv = unprivileged(argv)
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env if env is not None else child_env(),
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    """An empty store database: a new SQLite file, then a new PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("empty_pg_url"))
    return str(request.getfixturevalue("sqlite_url"))
