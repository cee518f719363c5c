"""The wheel carries the web page: every template and asset, and the vendored Swagger UI with
its licence (the page must work from an installed package, offline)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

UI = ROOT / "src" / "registry" / "server" / "ui"


@pytest.mark.slow
def test_wheel_holds_every_template_and_asset(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("lab_registry-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    on_disk = {
        str(path.relative_to(ROOT / "src"))
        for folder in ("templates", "static")
        for path in (UI / folder).rglob("*")
        if path.is_file()
    }
    assert "registry/server/ui/static/vendor/swagger-ui/LICENSE" in on_disk
    assert "registry/server/ui/static/vendor/swagger-ui/swagger-ui-bundle.js" in on_disk
    assert on_disk - shipped == set()
