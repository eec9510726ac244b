"""The delivery parts, one noun per module; nothing here is public.

Read top to bottom, as a message travels:

- ``wire``: the batch body and Segment's limits;
- ``accounting``: counters, drop reasons, ``on_drop``, the drop warnings;
- ``buffer``: the ``Buffer`` protocol, ``Batch``, the memory buffer;
  ``spool`` and ``spool_buffer``: the durable buffer in SQLite;
- ``policy``: what a response means and when to try again (tenacity's strategies);
- ``routine``: the one sans-IO delivery routine, and the two loops that drive it;
- ``options``: every queue, batching and retry option, checked once;
- ``queue``: a buffer, its limits, flush numbering, and the settling of what the
  routine decides; ``notices``: rate-limited log lines about failing attempts;
- ``worker`` (threads) and ``async_worker`` (asyncio tasks): the two drivers of a
  queue, which wait, take batches and run the routine; the thread worker takes
  either buffer, the asyncio worker the memory one;
- ``transport``: HTTP (httpx) and the ``Transport`` seam;
- ``fork`` and ``shutdown``: forks, the exit handler, multiprocessing children.
"""

from __future__ import annotations

__all__: list[str] = []
