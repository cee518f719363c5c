"""``python -m registry``: the command line (``python -m registry --host H --port P`` serves)."""

from __future__ import annotations

import sys

from registry.cli import main

if __name__ == "__main__":
    sys.exit(main())
