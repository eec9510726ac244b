"""Where user code called us from: the first frame outside b2b-events.

Test failures name the line that tracked an event and the line that created the
client that sent it; both come from here.
"""

from __future__ import annotations

import os
from types import FrameType

__all__ = ["caller", "describe_site"]

# Frames skipped: ours, and the retry library between an engine and its transport.
_LIBRARY_MODULES = ("b2b_events", "tenacity")

Site = tuple[str, int, str]


def caller(frame: FrameType | None) -> Site | None:
    """``(file, line, function)`` of the first frame outside b2b-events, from ``frame`` up.

    None when there is none, or when the first such frame is a thread's
    bootstrap: a client's background worker sent, so the caller is unknown.
    """
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.partition(".")[0] not in _LIBRARY_MODULES:
            if module == "threading":
                return None
            return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name
        frame = frame.f_back
    return None


def describe_site(site: Site | None) -> str | None:
    """``path:line in function`` (the path relative to the working directory when below it)."""
    if site is None:
        return None
    path, line, function = site
    return f"{_short_path(path)}:{line} in {function}"


def _short_path(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive, on Windows
        return path
    return path if relative.startswith("..") else relative
