"""The delivery parts, one noun per module; nothing here is public.

- ``policy``: what a response means (``classify``) and when to try again
  (``RetryPolicy``, tenacity's wait and stop strategies computed directly);
- ``routine``: the one sans-IO delivery routine (what to send, retry, split,
  settle) and the two loops that drive it, blocking and awaited.
"""

from __future__ import annotations

__all__: list[str] = []
