"""What HTTP clients send under pytest outside ``b2b_events_capture``: held, never sent.

The pytest plugin installs a ``Holder`` as the override of every client for the
whole session, and a fresh one around each test: events tracked by a test that
did not request the fixture (or at import time, during collection) end up in a
holder, and the plugin reports them at the end of the run. Nothing leaves the
process unless a test asks with ``@pytest.mark.b2b_events(send=True)``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._callsite import caller, describe_site
from .._client import _BaseClient
from .._exceptions import InvalidEventError
from .._transport import Response
from ._assertions import name_of
from ._capture import _decode, sender_of

__all__ = ["Held", "Holder"]


@dataclass(frozen=True)
class Held:
    """One event held instead of sent.

    Attributes:
        name: The event (``"Signed Up"``), or the call (``"identify"``).
        call_site: Where it was tracked, when known.
        sender: The client that would have sent it, and where it was created.
        invalid: True for an event an ``on_invalid="drop"`` client dropped.
    """

    name: str
    call_site: str | None
    sender: str | None
    invalid: bool = False

    def __str__(self) -> str:
        label = f"{self.name} (invalid, dropped)" if self.invalid else self.name
        where = f", tracked at {self.call_site}" if self.call_site else ""
        return f"{label}{where}, sent by {self.sender or 'an unnamed sender'}"


class Holder:
    """A transport that keeps what clients send (``send_from``) and answers 200."""

    def __init__(self) -> None:
        """Hold nothing yet."""
        self._lock = threading.Lock()
        self._held: list[Held] = []

    @property
    def held(self) -> list[Held]:
        """Every event held, in order."""
        with self._lock:
            return list(self._held)

    def send(self, messages: Sequence[bytes]) -> Response:
        """Hold messages handed over without a client (a direct call)."""
        self._hold(messages, describe_site(caller(sys._getframe(1))), None)
        return Response(200)

    def send_from(self, client: _BaseClient, messages: Sequence[bytes]) -> Response:
        """Hold what ``client`` would have sent, naming it."""
        self._hold(messages, describe_site(caller(sys._getframe(1))), sender_of(client))
        return Response(200)

    def record_invalid(
        self, error: InvalidEventError, data: Mapping[str, Any], client: _BaseClient
    ) -> None:
        """Note an event that an ``on_invalid="drop"`` client dropped."""
        site = describe_site(caller(sys._getframe(1)))
        with self._lock:
            self._held.append(Held(error.event, site, sender_of(client), invalid=True))

    def close(self) -> None:
        """Nothing to release."""

    def _hold(self, messages: Sequence[bytes], site: str | None, sender: str | None) -> None:
        held = [Held(name_of(_decode(data)[0]) or "message", site, sender) for data in messages]
        with self._lock:
            self._held.extend(held)
