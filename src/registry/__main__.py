"""``python -m registry``: runs the registry server (the seed's entry point)."""

from __future__ import annotations

import sys

from registry.server.run import main

if __name__ == "__main__":
    sys.exit(main())
