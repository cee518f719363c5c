"""The distribution name this package installs under, and its version from the package metadata.

The import name is ``registry``; the distribution is ``lab-registry`` (``registry`` on the
package index is an unrelated project). The version has one source, ``pyproject.toml``,
read back from the installed metadata. Imports nothing from ``registry``.
"""

from __future__ import annotations

import functools

__all__ = ["DISTRIBUTION", "install_hint", "package_version"]

DISTRIBUTION = "lab-registry"


@functools.cache
def package_version() -> str:
    """Return the installed version (``"0+unknown"`` when run from sources never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"


def install_hint(extra: str | None = None, *, upgrade: bool = False) -> str:
    """Return the pip command that installs this package (with ``extra``), for error hints."""
    target = f"'{DISTRIBUTION}[{extra}]'" if extra else DISTRIBUTION
    return f"pip install {'-U ' if upgrade else ''}{target}"
