"""The Python blocks of docs/ui.md run as written, and the screenshots it shows exist
(tests/ui/test_browser.py takes them on every run)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.server.conftest import child_env

from .conftest import ROOT

PAGE = ROOT / "docs" / "ui.md"


def test_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert blocks
    result = subprocess.run(
        [sys.executable, "-c", "\n\n".join(blocks)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_screenshot_shown_exists() -> None:
    shown = re.findall(r"\]\((img/[\w-]+\.png)\)", PAGE.read_text())
    assert len(shown) >= 8
    assert [name for name in shown if not (PAGE.parent / name).is_file()] == []
