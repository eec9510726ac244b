"""The event-log tools, one noun per module; nothing here is public.

- ``finder``: the event logs that paths stand for (files, directory trees, stdin);
- ``reader``: read them (plain or gzip, stdin), line by line;
- ``writer``: ``EventLogWriter`` and ``EventLogTransport`` (``record=``);
- ``checkpoint``: where a replay stands, saved atomically, for resuming;
- ``replay``: re-send logs through the delivery routine, resumably: it checks
  the options and wires the parts, one job each, in the order a line meets
  them: ``reading`` (lines decoded and counted), ``selection`` (what is sent of
  each line), ``batcher`` (batches within the limits), ``pacing`` (the rate),
  ``sender`` (the thread that posts them), ``acknowledged`` (the frontier,
  saved to the checkpoint); ``counts``: the counts passed between them, and the
  report;
- ``progress``: what the ``replay`` command shows while it runs.
"""

from __future__ import annotations

__all__: list[str] = []
