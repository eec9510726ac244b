"""Wait in a test until something has happened, or fail it."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(
    condition: Callable[[], object],
    timeout: float = 10.0,
    why: Callable[[], object] = lambda: "timed out",
) -> None:
    """Poll ``condition`` every 20 ms until true; after ``timeout`` s fail, saying ``why()``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, why()
        time.sleep(0.02)
