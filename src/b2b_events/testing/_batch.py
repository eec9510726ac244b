"""Checking payloads from any sender: one message (``assert_valid``), or a ``/v1/batch`` body.

For projects that do not use pytest, or that test another Segment-compatible
library: a request recorded by respx (or any HTTP mock) is checked with the same
rules as b2b-events' own messages, plus the batch endpoint's limits.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import httpx

from .._delivery.wire import MAX_BATCH_EVENTS, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES
from .._exceptions import InvalidEventError, MessageTooLargeError, Problem
from ..events import AnyMessage, validate

if TYPE_CHECKING:
    from .._plan import TrackingPlan

__all__ = ["MAX_REQUEST_BYTES", "InvalidBatchError", "assert_valid", "validate_batch"]

Payload: TypeAlias = Mapping[str, Any] | str | bytes
"""One message or one body: a wire dict, or its JSON as ``str`` or ``bytes``."""


class InvalidBatchError(InvalidEventError):
    """A ``/v1/batch`` request body breaks the wire contract.

    An ``InvalidEventError`` (so a ``ValueError``) whose ``event`` is ``"batch"``.
    Its text lists the problems of the body, then of each invalid message by
    index::

        /v1/batch body: 1 of 3 messages invalid
          batch[1] Signed Up: context.groupId: required

    Attributes:
        errors: The error of each invalid message, by its index in ``batch``.
        problems: Every problem: the body's (path ``body`` or ``batch``), then
            each message's with its path prefixed by ``batch[i].``.
        total: How many messages the batch held.
    """

    def __init__(
        self,
        body_problems: Sequence[Problem] = (),
        errors: Mapping[int, InvalidEventError] | None = None,
        total: int = 0,
    ) -> None:
        """Create the error from the body's problems and each message's error."""
        self.body_problems = tuple(body_problems)
        self.errors = dict(sorted((errors or {}).items()))
        self.total = total
        problems = list(self.body_problems)
        for index, error in self.errors.items():
            prefix = f"batch[{index}]"
            problems += [
                Problem(f"{prefix}.{p.path}" if p.path else prefix, p.reason)
                for p in error.problems
            ]
        super().__init__("batch", problems)

    def __str__(self) -> str:
        head = "/v1/batch body"
        if self.errors:
            head += f": {len(self.errors)} of {self.total} messages invalid"
        lines = [head]
        lines += [f"  {problem}" for problem in self.body_problems]
        lines += [f"  batch[{index}] {error}" for index, error in self.errors.items()]
        return "\n".join(lines)

    def __reduce__(  # type: ignore[override]
        self,
    ) -> tuple[
        type[InvalidBatchError],
        tuple[tuple[Problem, ...], dict[int, InvalidEventError], int],
    ]:
        return (type(self), (self.body_problems, self.errors, self.total))


def assert_valid(
    payload: Payload, *, spec_only: bool = False, plan: TrackingPlan | None = None
) -> AnyMessage:
    """Assert that one wire-format message meets the spec, and return it typed.

    ``b2b_events.validate`` as an assertion, for any test framework.

    Args:
        payload: One message: a wire dict, or its JSON (``str`` or ``bytes``).
        spec_only: Also reject track events outside the ten B2B SaaS events
            (or, with ``plan``, outside the plan).
        plan: Check against this ``TrackingPlan`` (your own events) as
            ``b2b_events.validate(payload, plan=plan)`` does.

    Returns:
        The typed message (``SignedUp``, ``Track``, ``Identify``, ...).

    Raises:
        AssertionError: Naming the event and listing every problem, one per line.

    Examples:
        >>> assert_valid({"type": "track", "event": "Signed In", "userId": "u_1",
        ...               "context": {"groupId": "acct_1"}}).name
        'Signed In'
    """
    __tracebackhide__ = True
    data: Any = payload
    if isinstance(payload, (str, bytes)):
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise AssertionError(f"message is not JSON: {exc}") from None
    try:
        return validate(data, strict=spec_only, plan=plan)
    except InvalidEventError as error:
        problems = "\n".join(f"  {problem}" for problem in error.problems)
        raise AssertionError(f"{error.event} breaks the spec:\n{problems}") from None


def validate_batch(
    body: Payload | httpx.Request, *, spec_only: bool = False, plan: TrackingPlan | None = None
) -> list[AnyMessage]:
    """Validate a whole ``/v1/batch`` request body, from any Segment-compatible sender.

    Checks that the body is a JSON object with a ``batch`` list, within Segment's
    limits (500 KB per request, 2,500 messages, 32 KiB per message), and
    validates every message as ``b2b_events.validate`` does. All problems are
    collected before raising, so one error lists them all.

    Args:
        body: The body as a dict, JSON ``str`` or ``bytes`` (gzip-compressed
            bytes are recognized), or the ``httpx.Request`` itself (e.g.
            ``respx_mock.calls.last.request``).
        spec_only: Also reject track events outside the ten B2B SaaS events
            (or, with ``plan``, outside the plan).
        plan: Check each message against this ``TrackingPlan`` (your own events).

    Returns:
        The typed messages, in order.

    Raises:
        InvalidBatchError: Listing the body's problems and each invalid message
            by index (``batch[3] Signed Up: context.groupId: required``).
    """
    data, size = _load(body)
    if not isinstance(data, Mapping):
        got = type(data).__name__
        raise InvalidBatchError([Problem("body", f"must be a JSON object, not {got}")])
    problems: list[Problem] = []
    if size > MAX_REQUEST_BYTES:
        problems.append(
            Problem(
                "body", f"is {size:,} bytes, over the {MAX_REQUEST_BYTES:,} accepted per request"
            )
        )
    batch = data.get("batch")
    if not isinstance(batch, list):
        reason = "required" if batch is None else "must be a list of messages"
        raise InvalidBatchError([*problems, Problem("batch", reason)])
    if len(batch) > MAX_BATCH_EVENTS:
        problems.append(
            Problem("batch", f"has {len(batch):,} messages, over the {MAX_BATCH_EVENTS:,} limit")
        )
    messages: list[AnyMessage] = []
    errors: dict[int, InvalidEventError] = {}
    for index, item in enumerate(batch):
        try:
            message = validate(item, strict=spec_only, plan=plan)
        except InvalidEventError as error:
            errors[index] = error
            continue
        item_size = len(
            json.dumps(item, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        )
        if item_size > MAX_MESSAGE_BYTES:
            errors[index] = MessageTooLargeError(message.name, item_size, MAX_MESSAGE_BYTES)
            continue
        messages.append(message)
    if problems or errors:
        raise InvalidBatchError(problems, errors, len(batch))
    return messages


def _load(body: Payload | httpx.Request) -> tuple[Any, int]:
    """The decoded body and its size in bytes, uncompressed."""
    if isinstance(body, Mapping):
        return body, len(
            json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        )
    if isinstance(body, httpx.Request):
        body = body.read()
    raw = body.encode() if isinstance(body, str) else body
    if raw[:2] == b"\x1f\x8b":  # the gzip magic number: Content-Encoding: gzip
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InvalidBatchError([Problem("body", f"is not valid gzip: {exc}")]) from None
    try:
        return json.loads(raw), len(raw)
    except ValueError as exc:
        raise InvalidBatchError([Problem("body", f"is not JSON: {exc}")]) from None
