"""The delivery parts, one noun per module; nothing here is public.

Read top to bottom, as a message travels:

- ``wire``: the batch body and Segment's limits;
- ``accounting``: counters, drop reasons, ``on_drop``, the drop warnings;
- ``buffer``: the ``Buffer`` protocol, ``Batch``, the memory buffer;
  ``spool`` and ``spool_buffer``: the durable buffer in SQLite;
- ``policy``: what a response means and when to try again (tenacity's strategies);
- ``routine``: the one sans-IO delivery routine, and the two loops that drive it;
- ``options``: every queue, batching and retry option, checked once;
- ``core``: the queue's limits, flush numbering and settling, shared by the workers;
  ``notices``: their rate-limited log lines about failing attempts;
- ``worker`` (a thread), ``async_worker`` (an asyncio task), ``spool_worker`` (the
  thread worker with a spool: adopting orphaned files);
- ``transport``: HTTP (httpx) and the ``Transport`` seam;
- ``fork`` and ``shutdown``: forks, the exit handler, multiprocessing children.
"""

from __future__ import annotations

__all__: list[str] = []
