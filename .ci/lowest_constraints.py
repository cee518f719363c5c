"""Print a pip constraints file pinning every direct dependency to its declared floor.

`make test-lowest` installs the package with these constraints and runs the suite, so a
``>=`` floor in pyproject.toml is a tested claim, not a guess. Direct dependencies are the
runtime ones plus the extras users install (``server``); the ``dev`` tools resolve freely
within those pins. A dependency without a ``>=`` floor is an error: there would be nothing to
test.

Usage: python .ci/lowest_constraints.py [pyproject.toml] > constraints.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

USER_EXTRAS = ("server",)


def direct_requirements(project: dict[str, object]) -> list[Requirement]:
    """The runtime requirements and those of the user-facing extras, without self-references."""
    own_name = canonicalize_name(str(project["name"]))
    extras = project.get("optional-dependencies") or {}
    assert isinstance(extras, dict)
    texts = list(project.get("dependencies") or [])  # type: ignore[call-overload]
    for extra in USER_EXTRAS:
        texts.extend(extras.get(extra, []))
    requirements = [Requirement(text) for text in texts]
    return [r for r in requirements if canonicalize_name(r.name) != own_name]


def floor(requirement: Requirement) -> str:
    floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
    if len(floors) != 1:
        raise SystemExit(f"{requirement}: declare exactly one '>=' floor to test it")
    return floors[0]


def constraints(pyproject: Path) -> str:
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = []
    for requirement in direct_requirements(project):
        # Constraints files take no extras; the extra's own packages follow the pinned version.
        line = f"{requirement.name}=={floor(requirement)}"
        if requirement.marker is not None:
            line += f"; {requirement.marker}"
        lines.append(line)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "pyproject.toml"
    sys.stdout.write(constraints(path))
