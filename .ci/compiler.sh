#!/usr/bin/env bash
# Make sure pip can compile the optional C extension (src/registry/_speedups.c) for the Python
# given as $1: a C compiler and that Python's headers. The test suite insists the extension is
# built (tests/test_speedups.py); users without a compiler get the pure-Python versions.
# Idempotent: does nothing when both are there.
set -euo pipefail

PYTHON="${1:-python3}"
headers="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("include"))')"

if command -v cc >/dev/null && [ -f "$headers/Python.h" ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "compiling registry._speedups needs a C compiler and $headers/Python.h;" \
        "install them (Debian: apt-get install gcc python3-dev)" >&2
    exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev python3-dev
if [ ! -f "$headers/Python.h" ]; then
    echo "$PYTHON has no headers at $headers (python3-dev serves Debian's own python3 only)" >&2
    exit 1
fi
