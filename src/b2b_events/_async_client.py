"""``AsyncClient``: the ``Client`` for asyncio applications (FastAPI, Starlette, aiohttp).

Same builders, options, limits, retry policy and drop accounting as ``Client``
(they are the same code); the batches leave from an asyncio task through
``httpx.AsyncClient``, and ``flush``/``aclose`` are awaited.
"""

from __future__ import annotations

import inspect
from types import TracebackType
from typing import Any

import httpx

from ._client import _BaseClient
from ._delivery.async_worker import AsyncWorker
from ._delivery.options import Options
from ._delivery.transport import AsyncHttpTransport
from ._exceptions import ConfigurationError

__all__ = ["AsyncClient"]


class AsyncClient(_BaseClient):
    """Send B2B SaaS events from an asyncio application, batched, from an asyncio task.

    ``client.track.signed_in(...)`` is a plain call, as with ``Client``: it
    validates and queues, from the loop or from any thread, and never awaits.
    Delivery runs in a task on the running loop the client is created in,
    entered in (``async with``) or first called in; use one client per loop.
    Takes the keyword arguments of ``Client``, except that
    ``http_client`` is an ``httpx.AsyncClient``, ``transport`` an
    ``AsyncTransport``, and ``sync=True`` and ``overflow="block"`` are refused
    (both would stall the event loop).

    Examples:
        >>> async def main() -> None:  # doctest: +SKIP
        ...     async with AsyncClient(write_key="...") as client:
        ...         client.track.signed_in(user_id="u_1", group_id="acct_1")
        ...         await client.flush(timeout=5)

    If the loop ends without ``aclose()`` (``asyncio.run`` returning), the task
    still delivers what it holds within ``shutdown_timeout`` and counts the rest.
    """

    _worker: AsyncWorker

    def _http_transport(self, **options: Any) -> AsyncHttpTransport:
        http_client = options.get("http_client")
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise ConfigurationError("AsyncClient's http_client must be an httpx.AsyncClient")
        return AsyncHttpTransport(**options)

    def _new_worker(self, transport: Any, options: Options, *, batch_overhead: int) -> AsyncWorker:
        if options.sync:
            raise ConfigurationError("sync=True is for Client; AsyncClient sends from a task")
        if self._spool_path is not None:
            raise ConfigurationError("spool= is available on Client, not AsyncClient")
        if options.overflow == "block":
            raise ConfigurationError(
                "overflow='block' would stall the event loop: use 'drop_newest' or 'drop_oldest'"
            )
        if not inspect.iscoroutinefunction(getattr(transport, "send", None)):
            raise ConfigurationError("AsyncClient needs an AsyncTransport (async send, aclose)")
        return AsyncWorker(transport, self._accounting, options, batch_overhead=batch_overhead)

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event tracked so far is delivered or dropped.

        Args:
            timeout: Seconds to wait at most.

        Returns:
            True if nothing is pending any more, False on timeout. True does not
            mean delivered: events refused (a wrong write key, say) are settled
            too. ``stats.dropped`` counts them by reason, ``stats.last_drop`` says
            why the latest were, and each reason is logged as a warning.
        """
        self._flush_record()
        return await self._worker.flush(timeout)

    async def aclose(self, timeout: float | None = None) -> None:
        """Deliver what is queued, then release the connection; later events are dropped.

        Idempotent. Whatever is still undelivered when ``timeout`` (default
        ``shutdown_timeout``) runs out is dropped with reason ``timeout``, or
        ``unconfirmed`` if it was in a request still waiting for its answer (the
        endpoint may have stored it).
        """
        await self._worker.close(self._shutdown_timeout if timeout is None else timeout)
        self._close_record()

    async def __aenter__(self) -> AsyncClient:
        self._worker.bind()  # this loop from now on, also for events tracked from other threads
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
