"""Every runnable example under examples/ runs cleanly (docs stay true)."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, python, tmp_path):
    code = f"import runpy; runpy.run_path({str(path)!r}, run_name='__main__')"
    result = python(code, env={"REGISTRY_URL": f"sqlite:///{tmp_path / 'tour.db'}"}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_factorize_tour_fetches_a_config_over_http(python, tmp_path):
    path = EXAMPLES[0].parent / "factorize_tour.py"
    code = f"import runpy; runpy.run_path({str(path)!r}, run_name='__main__')"
    result = python(code, env={"REGISTRY_URL": f"sqlite:///{tmp_path / 'tour.db'}"}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "from http:" in result.stdout
