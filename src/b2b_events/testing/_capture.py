"""Messages captured in memory, validated on arrival, with the helpers tests assert with.

``Capture`` holds every message sent through its ``CapturingTransport`` and checks
each one against the spec as it arrives. ``capture()`` routes the default client
(``b2b_events.track``) and every client that would send over HTTP, whenever it
was created, into one, through ``override_transport``: nothing leaves the
process. The pytest fixture ``b2b_events_capture`` is ``capture()`` for the
length of a test.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _default
from .._callsite import caller, describe_site
from .._client import Client, _BaseClient, override_transport
from .._exceptions import InvalidEventError, Problem
from .._transport import Response
from ..events import validate
from ._assertions import Query, compact, jsonable, listing, name_of, summary

if TYPE_CHECKING:
    from .._plan import TrackingPlan

__all__ = [
    "Capture",
    "CapturingTransport",
    "Messages",
    "Violation",
    "capture",
    "routed",
    "sender_of",
]

_STRICT_HINT = (
    "Strict mode fails on invalid messages; with strict=False "
    "(pytest: @pytest.mark.b2b_events(strict=False)) they are kept in .violations instead."
)


@dataclass(frozen=True)
class Violation:
    """A captured message that breaks the spec.

    Attributes:
        message: The message as captured (a wire dict; ``{"raw": "..."}`` if it
            was not a JSON object).
        error: What is wrong: ``error.event`` names the event and
            ``error.problems`` lists every problem as ``path: reason``.
        call_site: Where it was tracked (``path:line in function``), known when
            it was sent from the thread that tracked it (always, under
            ``capture()``); otherwise None.
        sender: The client that sent it and where that client was created
            (``b2b_events.Client for https://api.segment.io, created at
            app.py:3 in <module>``), for a client that would have sent over
            HTTP; otherwise None.
    """

    message: dict[str, Any]
    error: InvalidEventError
    call_site: str | None = None
    sender: str | None = None

    def __str__(self) -> str:
        where = f", tracked at {self.call_site}" if self.call_site else ""
        lines = [f"{self.error.event}{where}"]
        if self.sender:
            lines.append(f"    sent by {self.sender}")
        lines += [f"    {problem}" for problem in self.error.problems]
        lines.append(f"    message: {compact(self.message)}")
        return "\n".join(lines)


class CapturingTransport:
    """A ``Transport`` that keeps every message in a ``Capture`` instead of sending it.

    It answers 200 to every batch and never touches the network. Get one from
    ``Capture().transport`` and pass it to ``Client(transport=..., sync=True)``,
    or let ``capture()`` install it for every client.

    Attributes:
        capture: Where the messages go.
        write_key_optional: True: under ``capture()``, clients need no write key.
    """

    write_key_optional = True

    def __init__(self, capture: Capture) -> None:
        """Create a transport that records into ``capture``."""
        self.capture = capture

    def send(self, messages: Sequence[bytes]) -> Response:
        """Record each message (validating it); always succeeds."""
        site = describe_site(caller(sys._getframe(1)))
        for data in messages:
            self.capture.record(data, call_site=site)
        return Response(200)

    def send_from(self, client: _BaseClient, messages: Sequence[bytes]) -> Response:
        """Record each message of an HTTP client routed here, naming that client."""
        site = describe_site(caller(sys._getframe(1)))
        for data in messages:
            self.capture._record(data, site, sender_of(client))
        return Response(200)

    def record_invalid(
        self, error: InvalidEventError, data: Mapping[str, Any], client: _BaseClient
    ) -> None:
        """Keep a violation that a client with ``on_invalid="drop"`` dropped instead of sending.

        Under ``capture()`` such clients report here, so the test still fails
        with the reason rather than with a puzzling "not tracked".
        """
        site = describe_site(caller(sys._getframe(1)))
        self.capture._add_violation(Violation(jsonable(data), error, site, sender_of(client)))

    def close(self) -> None:
        """Nothing to release; the capture keeps its messages."""

    def __repr__(self) -> str:
        return f"<CapturingTransport {len(self.capture.messages)} message(s)>"


class Messages(list[dict[str, Any]]):
    """A list of captured wire dicts that selects when called (``messages(type="page")``)."""

    def __call__(
        self,
        name: str | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        type: str | None = None,
    ) -> list[dict[str, Any]]:
        """The messages that match, in order: the arguments of ``Capture.events``."""
        query = Query(name, user_id, anonymous_id, group_id, type=type)
        return [message for message in self if query.matches(message)]


class Capture:
    """Every message captured, validated, and the helpers to assert on them.

    Messages are kept as wire dicts (``{"type": "track", "event": "Signed Up",
    "userId": ..., "context": {"groupId": ...}, "properties": {...}, ...}``), in
    the order they were sent. Each one is validated on arrival with
    ``b2b_events.validate``; one that breaks the spec becomes a ``Violation``.
    In strict mode (the default) a violation fails the next ``assert_*`` helper,
    the end of ``capture()`` and, under pytest, the test.

    The ``name`` of a message is its event for track messages, else its type
    (``"identify"``, ``"group"``); ``group_id`` is ``context.groupId``, or the
    ``groupId`` of a group call.

    Examples:
        >>> cap = Capture()
        >>> client = b2b_events.Client(transport=cap.transport, sync=True)  # doctest: +SKIP
        >>> client.track.signed_in(user_id="u_1", group_id="acct_1")  # doctest: +SKIP
        >>> cap.assert_tracked("Signed In", group_id="acct_1")  # doctest: +SKIP
    """

    def __init__(
        self, *, strict: bool = True, spec_only: bool = False, plan: TrackingPlan | None = None
    ) -> None:
        """Create an empty capture.

        Args:
            strict: Fail on messages that break the spec (see above); with
                False they are only listed in ``violations``.
            spec_only: Also count track events outside the ten B2B SaaS events
                (``"User Signed Up"``, ``"Report Exported"``), or outside
                ``plan``, as violations.
            plan: Check messages against this ``TrackingPlan`` (your own
                events) instead of the ten spec events alone.
        """
        self._strict = strict
        self._spec_only = spec_only
        self._plan = plan
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._violations: list[Violation] = []
        self._reported = 0
        self.transport = CapturingTransport(self)

    def __repr__(self) -> str:
        with self._lock:
            counts = f"{len(self._messages)} message(s), {len(self._violations)} violation(s)"
        return f"<b2b_events.testing.Capture {counts}>"

    @property
    def strict(self) -> bool:
        """Whether a message that breaks the spec fails the test."""
        return self._strict

    @property
    def spec_only(self) -> bool:
        """Whether track events outside the ten B2B SaaS events are violations."""
        return self._spec_only

    @property
    def messages(self) -> Messages:
        """Every message captured (since the last ``clear()``), in order, as wire dicts.

        A list; call it to select, with the arguments of ``events``:
        ``capture.messages(type="page")``.
        """
        with self._lock:
            return Messages(self._messages)

    @property
    def violations(self) -> list[Violation]:
        """Every captured message that broke the spec; ``clear()`` does not forget these."""
        with self._lock:
            return list(self._violations)

    def record(
        self, message: bytes | str | Mapping[str, Any], *, call_site: str | None = None
    ) -> None:
        """Capture one message, as a sender would put it in a batch, and validate it.

        Transports call this for you; call it to feed messages from another sender.

        Args:
            message: Serialized JSON, or a wire dict (``datetime`` values are
                converted to ISO-8601 strings).
            call_site: Where it was tracked; default: the line that called ``record``.
        """
        site = call_site if call_site is not None else describe_site(caller(sys._getframe(1)))
        self._record(message, site, None)

    def _record(
        self, message: bytes | str | Mapping[str, Any], site: str | None, sender: str | None
    ) -> None:
        decoded, error = _decode(message)
        if error is None:
            try:
                validate(decoded, strict=self._spec_only, plan=self._plan)
            except InvalidEventError as invalid:
                error = invalid
        with self._lock:
            self._messages.append(decoded)
            if error is not None:
                self._violations.append(Violation(decoded, error, site, sender))

    def _add_violation(self, violation: Violation) -> None:
        with self._lock:
            self._violations.append(violation)

    def clear(self) -> None:
        """Forget the messages captured so far (e.g. those of a test's set-up).

        Violations are kept: in strict mode they still fail the test.
        """
        with self._lock:
            self._messages.clear()

    def check(self) -> None:
        """Raise ``AssertionError`` listing the violations not reported yet.

        Strict mode calls this for you; call it yourself with ``strict=False``
        at the point you want the check.
        """
        __tracebackhide__ = True
        report = self._take_report()
        if report is not None:
            raise AssertionError(report)

    def _take_report(self) -> str | None:
        """The text of the violations not reported yet, marking them reported; None if none."""
        with self._lock:
            new = self._violations[self._reported :]
            self._reported = len(self._violations)
        if not new:
            return None
        plural = "s break" if len(new) > 1 else " breaks"
        items = "\n".join(f"- {violation}" for violation in new)
        return f"{len(new)} captured b2b-events message{plural} the spec:\n{items}\n{_STRICT_HINT}"

    def _check_strict(self) -> None:
        __tracebackhide__ = True
        if self._strict:
            self.check()

    # -- queries ---------------------------------------------------------------

    def events(
        self,
        name: str | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        type: str | None = None,
    ) -> list[dict[str, Any]]:
        """Return the captured messages that match, in order, as wire dicts.

        ``capture.messages(...)`` takes the same arguments.

        Args:
            name: Event name (``"Signed Up"``), or the type (``"identify"``,
                ``"page"``, ...); with ``type="page"`` or ``"screen"``, the
                page's or screen's ``name``. None for every message.
            user_id: Only messages with this ``userId``.
            anonymous_id: Only messages with this ``anonymousId``.
            group_id: Only messages for this account (``context.groupId``, or
                the ``groupId`` of a group call).
            type: Only messages of this type (``"track"``, ``"page"``, ``"alias"``, ...).

        Returns:
            A new list; empty if nothing matches.
        """
        return self.messages(
            name, user_id=user_id, anonymous_id=anonymous_id, group_id=group_id, type=type
        )

    def assert_tracked(
        self,
        name: str,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        traits: Mapping[str, Any] | None = None,
        type: str | None = None,
    ) -> dict[str, Any]:
        """Assert that at least one captured message matches; return the first that does.

        ``properties``, ``context`` and ``traits`` match as subsets: the
        message may have more keys (nested objects match the same way). Dates
        and datetimes match their ISO-8601 form on the wire.

        Args:
            name: Event name, or the type (``"identify"``, ``"page"``, ...);
                with ``type="page"`` or ``"screen"``, the page's or screen's ``name``.
            user_id: The ``userId`` it must have.
            anonymous_id: The ``anonymousId`` it must have.
            group_id: The account: ``context.groupId`` (``groupId`` for a group call).
            properties: Properties it must have, with these values.
            context: Context keys it must have (``{"ip": "..."}``).
            traits: Traits it must have (identify and group calls).
            type: The message type it must have (``"page"``, ``"alias"``, ...).

        Returns:
            The first matching message, as a wire dict.

        Raises:
            AssertionError: Nothing matches; the message lists what was captured
                and shows the closest message as a diff against what was expected.
        """
        __tracebackhide__ = True
        self._check_strict()
        query = Query(name, user_id, anonymous_id, group_id, properties, context, traits, type)
        messages = self.messages
        for message in messages:
            if query.matches(message):
                return message
        raise AssertionError(_not_found(f"{query.describe()} was not tracked.", query, messages))

    def assert_tracked_once(
        self,
        name: str,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        traits: Mapping[str, Any] | None = None,
        type: str | None = None,
    ) -> dict[str, Any]:
        """Assert that exactly one captured message matches, and return it.

        Takes the arguments of ``assert_tracked``.

        Raises:
            AssertionError: None or several match; the message shows the closest
                message as a diff, or every match.
        """
        __tracebackhide__ = True
        self._check_strict()
        query = Query(name, user_id, anonymous_id, group_id, properties, context, traits, type)
        messages = self.messages
        found = [message for message in messages if query.matches(message)]
        if len(found) == 1:
            return found[0]
        if not found:
            text = f"{query.describe()} was not tracked (expected once)."
            raise AssertionError(_not_found(text, query, messages))
        raise AssertionError(
            f"{query.describe()} was tracked {len(found)} times, expected once:\n{listing(found)}"
        )

    def assert_not_tracked(
        self,
        name: str | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        traits: Mapping[str, Any] | None = None,
        type: str | None = None,
    ) -> None:
        """Assert that no captured message matches; with no arguments, that nothing was captured.

        Takes the arguments of ``assert_tracked``, all optional.

        Raises:
            AssertionError: Listing the messages that match.
        """
        __tracebackhide__ = True
        self._check_strict()
        query = Query(name, user_id, anonymous_id, group_id, properties, context, traits, type)
        found = [message for message in self.messages if query.matches(message)]
        if found:
            times = "once" if len(found) == 1 else f"{len(found)} times"
            raise AssertionError(
                f"{query.describe()} was tracked {times}, expected never:\n{listing(found)}"
            )

    def assert_order(
        self,
        *names: str,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
    ) -> None:
        """Assert that these events were tracked in this order (others may come between).

        Example: ``assert_order("Account Created", "Signed Up", group_id="acct_1")``.

        Args:
            names: Event names (or ``"identify"`` / ``"group"``), first to last.
            user_id: Consider only messages with this ``userId``.
            anonymous_id: Consider only messages with this ``anonymousId``.
            group_id: Consider only messages for this account.

        Raises:
            AssertionError: One of them was not tracked after the one before it;
                the message lists the captured names in order.
            TypeError: No name given.
        """
        __tracebackhide__ = True
        if not names:
            raise TypeError("assert_order() needs at least one event name")
        self._check_strict()
        query = Query(None, user_id, anonymous_id, group_id)
        considered = [message for message in self.messages if query.matches(message)]
        sequence = [name_of(message) for message in considered]
        start = 0
        for index, name in enumerate(names):
            try:
                start = sequence.index(name, start) + 1
            except ValueError:
                after = f" after {names[index - 1]!r}" if index else ""
                where = query.describe().removeprefix("a message")
                raise AssertionError(
                    f"expected {' -> '.join(map(repr, names))} in this order{where}; "
                    f"{name!r} was not tracked{after}.\n{summary(considered)}"
                ) from None


def _not_found(headline: str, query: Query, messages: Sequence[Mapping[str, Any]]) -> str:
    text = f"{headline}\n{summary(messages)}"
    closest = query.closest(messages)
    if closest is not None:
        text += f"\nClosest captured message (- captured, + expected):\n{query.diff(closest)}"
    return text


def _decode(
    message: bytes | str | Mapping[str, Any],
) -> tuple[dict[str, Any], InvalidEventError | None]:
    """A wire dict for the message, and the error if it is not a JSON object."""
    if isinstance(message, Mapping):
        return jsonable(message), None
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    try:
        decoded = json.loads(text)
    except ValueError as exc:
        return {"raw": text}, InvalidEventError("message", [Problem("", f"not JSON: {exc}")])
    if not isinstance(decoded, dict):
        got = type(decoded).__name__
        problem = Problem("", f"must be a JSON object, not {got}")
        return {"raw": text}, InvalidEventError("message", [problem])
    return decoded, None


def sender_of(client: _BaseClient) -> str:
    """``b2b_events.Client for <endpoint>, created at app.py:3 in <module>``."""
    name = f"b2b_events.{type(client).__name__} for {client._endpoint or 'a custom transport'}"
    site = describe_site(client._created_at)
    return f"{name}, created at {site}" if site else name


@contextmanager
def routed(cap: Capture) -> Iterator[Capture]:
    """Route every HTTP client and the default client into ``cap`` for the block.

    The previous default client is put back afterwards, untouched; the captured
    default client (or one ``init()`` made meanwhile) is closed.
    """
    captured_default = Client(transport=cap.transport, sync=True)
    previous_override = override_transport(cap.transport)
    previous_default = _default._swap_default(captured_default)
    try:
        yield cap
    finally:
        current = _default._swap_default(previous_default)
        override_transport(previous_override)
        if current is not None and current is not previous_default:
            current.close()


@contextmanager
def capture(
    *, strict: bool = True, spec_only: bool = False, plan: TrackingPlan | None = None
) -> Iterator[Capture]:
    """Capture, in memory, every message tracked in the block; nothing is sent.

    For the duration of the block, the default client (``b2b_events.init`` and
    ``b2b_events.track``) is a captured one, and every client that would send
    over HTTP (``Client`` or ``AsyncClient``, created before or during the
    block, without a ``transport=`` of its own) hands each event to the
    capture within the call; a client created meanwhile needs no write key.
    Afterwards the previous default client is back.

    Args:
        strict: Fail on messages that break the spec: at the next ``assert_*``
            helper, else when the block ends (unless it raised).
        spec_only: Also count track events outside the ten B2B SaaS events
            (or outside ``plan``) as violations.
        plan: Check messages against this ``TrackingPlan`` (your own events).

    Yields:
        The ``Capture``, to query and assert on.

    Raises:
        AssertionError: In strict mode, at the end of the block, if captured
            messages broke the spec and no helper reported them yet.

    Examples:
        >>> with capture() as cap:  # doctest: +SKIP
        ...     b2b_events.track.signed_in(user_id="u_1", group_id="acct_1")
        >>> cap.assert_tracked("Signed In", user_id="u_1")  # doctest: +SKIP
    """
    __tracebackhide__ = True
    cap = Capture(strict=strict, spec_only=spec_only, plan=plan)
    with routed(cap):
        yield cap
    if strict:
        cap.check()
