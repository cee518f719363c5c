#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/ui drive it through Playwright with
# executable_path=/usr/bin/chromium; Playwright's own browser download is never used).
# Idempotent: does nothing when chromium is already there.
set -euo pipefail

CHROMIUM="${REGISTRY_TEST_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "chromium is missing at $CHROMIUM and installing it needs root: apt-get install chromium" >&2
    exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core
"$CHROMIUM" --version
