"""Peers measured beside registry: fvcore, mmengine, catalogue, confection and Hydra, installed
from PyPI into a virtualenv of their own, ``benchmarks/.peers`` (gitignored), never into the
project's environment. The first run creates it; a peer that does not install or import on this
Python is skipped with the reason printed, and torch is never installed (a constraint refuses
it, so a peer that needs it is skipped too).

``python benchmarks/peers.py`` sets the environment up and prints what is there; the core and
factorize benchmarks call :func:`measure`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENV = HERE / ".peers"
CASES = HERE / "_peer_cases.py"
#: peer -> (module that proves it imports, what pip installs)
PEERS: dict[str, tuple[str, list[str]]] = {
    "fvcore": ("fvcore.common.registry", ["fvcore"]),
    "mmengine": ("mmengine.registry", ["mmengine"]),
    "catalogue": ("catalogue", ["catalogue"]),
    "confection": ("confection", ["confection", "catalogue"]),
    "hydra": ("hydra.utils", ["hydra-core"]),
}


def _python() -> Path:
    return ENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _imports(module: str) -> bool:
    done = subprocess.run([_python(), "-c", f"import {module}"], capture_output=True, check=False)
    return done.returncode == 0


def ensure_environment() -> dict[str, str]:
    """Create ``benchmarks/.peers`` and install the peers missing from it; return
    ``{peer: reason}`` for those that could not be installed."""
    if not _python().exists():
        print(f"creating {ENV} for the peers (once)", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(ENV)
    constraints = ENV / "constraints.txt"
    constraints.write_text("torch<0\n")  # unsatisfiable: no peer pulls a CUDA build in
    skipped: dict[str, str] = {}
    for peer, (module, packages) in PEERS.items():
        if _imports(module):
            continue
        print(f"installing {peer} into {ENV}", file=sys.stderr)
        done = subprocess.run(
            [_python(), "-m", "pip", "install", "--quiet", "-c", constraints, *packages],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not _imports(module):
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            skipped[peer] = lines[-1] if lines else f"{module} does not import"
            print(f"skipping {peer}: {skipped[peer]}", file=sys.stderr)
    return skipped


def measure(kind: str, *, number: int, rounds: int) -> dict[str, Any]:
    """Run the ``kind`` cases (``hit`` or ``build``) in the peers' environment.

    Returns ``{"floor": ns, "peers": {name: ns}, "versions": {...}, "skipped": {...}}``; the
    floor is measured in the same process as the peers.
    """
    skipped = ensure_environment()
    done = subprocess.run(
        [_python(), CASES, kind, "--number", str(number), "--rounds", str(rounds)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"skipping every peer: {reason}", file=sys.stderr)
        return {"floor": None, "peers": {}, "versions": {}, "skipped": {"all": reason}}
    result: dict[str, Any] = json.loads(done.stdout)
    result["skipped"].update(skipped)
    return result


def table_rows(result: dict[str, Any] | None, what: str, unit: str = "") -> list[str]:
    """Markdown rows ``| peer version what | ns | floor | x floor | |`` of a :func:`measure`
    result, then one row per skipped peer."""
    if result is None:
        return []
    floor = result["floor"]
    rows = [
        f"| {name} {result['versions'][name]} {what} | {ns:,.0f}{unit} | {floor:,.1f}{unit} | "
        f"{ns / floor:,.2f} | |"
        for name, ns in result["peers"].items()
    ]
    return rows + [f"| {name}: skipped | {why} | | | |" for name, why in result["skipped"].items()]


if __name__ == "__main__":
    print(json.dumps(ensure_environment() or "every peer is installed"))
