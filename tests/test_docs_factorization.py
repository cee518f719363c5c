"""Every Python block of docs/factorization.md runs, in order, in one namespace."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def test_factorization_doc_examples_run(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "factorization.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)[1:]  # the first lists signatures
    assert len(blocks) >= 6
    script = tmp_path / "doc_examples.py"
    script.write_text("\n\n".join(blocks))
    # A separate interpreter: the page's registry names (Exp, ...) must not meet the tests'.
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=ENV,
    )
    assert result.returncode == 0, result.stderr


def test_factorize_tour_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "factorize_tour.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=ENV,
    )
    assert result.returncode == 0, result.stderr
    assert "from http:" in result.stdout
