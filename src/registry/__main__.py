"""``python -m registry``: the ``registry`` command line."""

from __future__ import annotations

import sys

from registry.cli import main

sys.exit(main())
