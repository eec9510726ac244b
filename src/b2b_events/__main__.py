"""``python -m b2b_events`` runs the ``b2b-events`` command."""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
