"""Every ```python block of README.md and docs/*.md runs as written, in order, one page at a time.

Each page runs in a fresh interpreter, on a temporary SQLite store, in a temporary copy of
``examples/`` (helper modules and config files the pages use live there). A block that must not
run says why in its fence: ```python norun: needs a registry server at lab-server:8001.
Tracebacks name the page and its line, so a failure points at the text to fix.

New pages are picked up automatically.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NORUN = re.compile(r"^python\s+norun\s*:\s*\S")

# The blocks run in the namespace of the real __main__ module, as a script's code would.
RUNNER = """
import json as _json, sys as _sys
for _block in _json.load(open(_sys.argv[1])):
    # Blank lines first, so a traceback gives the line number on the page itself.
    _source = "\\n" * (_block["line"] - 1) + _block["source"]
    exec(compile(_source, _block["page"], "exec"), vars(_sys.modules["__main__"]))
"""


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    source: str


def python_blocks(path: Path) -> list[Block]:
    """The page's runnable ```python blocks, with the line each starts on."""
    text = path.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        info = match.group(1).strip()
        if not info.startswith("python"):
            continue
        if info != "python":
            assert NORUN.match(info), (
                f"{path.name}: fence '```{info}' is neither 'python' nor 'python norun: reason'"
            )
            continue
        line = text.count("\n", 0, match.start(2)) + 1
        blocks.append(Block(str(path.relative_to(ROOT)), line, match.group(2)))
    return blocks


def test_norun_is_rare_and_explained() -> None:
    fences = [
        info.strip()
        for page in PAGES
        for info, _ in FENCE.findall(page.read_text())
        if info.strip().startswith("python")
    ]
    skipped = [info for info in fences if info != "python"]
    assert all(NORUN.match(info) for info in skipped), skipped
    assert len(skipped) * 5 <= len(fences), f"most blocks must run; skipped: {skipped}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    blocks = python_blocks(page)
    if not blocks:
        return  # a page without Python: nothing to run
    listing = tmp_path / "blocks.json"
    listing.write_text(json.dumps([asdict(block) for block in blocks]))
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples", work, ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "REGISTRY_URL": f"sqlite:///{tmp_path / 'docs.db'}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    for name in ("REGISTRY_SERVER_HOST", "REGISTRY_SERVER_PORT", "REGISTRY_ALLOW_PICKLE"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(listing)],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"{page.name}:\n{result.stderr[-4000:]}"


def test_cli_build_session_matches_real_output(tmp_path: Path) -> None:
    """docs/cli.md's build example: its run.yaml is the shipped one, its outputs are real."""
    import yaml

    text = (ROOT / "docs" / "cli.md").read_text()
    section = text.split("## Building from a config file", 1)[1].split("\n## ", 1)[0]
    fences = {info.strip(): body for info, body in FENCE.findall(section)}
    shipped = yaml.safe_load((ROOT / "examples" / "run.yaml").read_text())
    assert yaml.safe_load(fences["yaml"]) == shipped
    work = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", work, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "XDG_DATA_HOME": str(tmp_path)}
    commands = re.split(r"^\$ ", fences["text"], flags=re.MULTILINE)[1:]
    assert len(commands) >= 4
    for chunk in commands:
        command, _, expected = chunk.partition("\n")
        if command.startswith("cd "):
            continue
        result = _run_cli(command, cwd=work, env=env)
        assert result.stdout + result.stderr == expected, command


def _run_cli(command: str, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a ``registry ...`` command line of a page with the installed script."""
    args = command.split()
    assert args[0] == "registry", command
    return subprocess.run(
        [str(Path(sys.executable).parent / "registry"), *args[1:]],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def _sample(text: str, command: str) -> list[str]:
    """The output lines docs/cli.md shows for ``$ command``, up to and with its ``[exit N]``."""
    lines = text.split(f"$ {command}\n", 1)[1].splitlines()
    end = next(index for index, line in enumerate(lines) if line.startswith("[exit "))
    return lines[: end + 1]


def test_cli_samples_of_errors_and_doctor_match_real_output(tmp_path: Path) -> None:
    """The revision list and the doctor lines of docs/cli.md follow the migrations and the
    checks as they are (paths and counts differ from machine to machine)."""
    text = (ROOT / "docs" / "cli.md").read_text()
    env = {**os.environ, "REGISTRY_URL": f"sqlite:///{tmp_path / 'lab.db'}"}
    env.pop("REGISTRY_ALLOW_PICKLE", None)
    env.pop("REGISTRY_SIGNING_KEY", None)

    def run(command: str) -> list[str]:
        result = _run_cli(command, cwd=tmp_path, env=env)
        return [*(result.stdout + result.stderr).splitlines(), f"[exit {result.returncode}]"]

    command = "registry db upgrade --to nosuchrev"
    assert run(command) == _sample(text, command)
    assert run("registry db upgrade")[-1] == "[exit 0]"  # doctor needs a store to check
    shown, real = _sample(text, "registry doctor"), run("registry doctor")
    assert [line.split(":", 1)[0] for line in shown] == [line.split(":", 1)[0] for line in real]
    for label in ("schema:", "pickle:", "changes:"):
        assert [line for line in shown if line.startswith(label)] == [
            line for line in real if line.startswith(label)
        ], label
