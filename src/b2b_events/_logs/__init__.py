"""The event-log tools, one noun per module; nothing here is public.

- ``reader``: find and read event logs (files, trees, gzip, stdin), line by line;
- ``writer``: ``EventLogWriter`` and ``EventLogTransport`` (``record=``);
- ``checkpoint``: where a replay stands, saved atomically, for resuming;
- ``replay``: re-send logs through the delivery routine, resumably (the
  orchestration); ``selection``: what it sends of each line; ``counts``: its report;
- ``progress``: what the ``replay`` command shows while it runs.
"""

from __future__ import annotations

__all__: list[str] = []
