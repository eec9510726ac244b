"""Run a Python script in a fresh interpreter, as an application would run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping


def run_script(
    script: str, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -c script args...``; its output captured as text, killed after 60 s."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
