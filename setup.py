"""The optional C extension; everything else about the package is in pyproject.toml.

``registry._speedups`` (src/registry/_speedups.c) serves ``get_artifact`` hits and provenance
records faster. It is optional: where it cannot be compiled (no C compiler or no Python
headers), the install goes on with a warning and the package runs its pure-Python versions
(src/registry/speedups.py says which one a process uses).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("registry._speedups", ["src/registry/_speedups.c"], optional=True),
    ]
)
