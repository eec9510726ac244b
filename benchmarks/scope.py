"""What a scope costs a builder: ``track.signed_up`` into a list, in and out of a scope.

Run: ``python benchmarks/scope.py [calls]`` (default 200,000). Prints the best of
five timings of each case, in microseconds per call:

- explicit ids, no scope open: the path every call took before scopes (one
  ``ContextVar.get()`` more);
- explicit ids and a request's context in the call: what validating the
  bigger context costs, scope or not;
- ids from a scope: the call passes none;
- ids and a request's context (ip, userAgent, locale, page) from a scope: what
  a call in a request under ``ASGIMiddleware``/``WSGIMiddleware`` pays.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable

import b2b_events
from b2b_events import Tracker
from b2b_events.events import Message

REQUEST_CONTEXT = {
    "ip": "203.0.113.7",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
    "locale": "en-GB",
    "page": {"path": "/signup", "url": "https://app.example.com/signup", "referrer": ""},
}


def best(call: Callable[[], object], calls: int) -> float:
    """Microseconds per call, the best of five runs."""
    return min(timeit.repeat(call, number=calls, repeat=5)) / calls * 1e6


def main(calls: int) -> None:
    sent: list[Message] = []
    track = Tracker(sink=sent.append)

    def explicit() -> None:
        track.signed_up(user_id="u_1", group_id="acct_1", email="p@example.com")
        sent.clear()

    def omitted() -> None:
        track.signed_up(email="p@example.com")
        sent.clear()

    def explicit_context() -> None:
        track.signed_up(
            user_id="u_1", group_id="acct_1", email="p@example.com", context=REQUEST_CONTEXT
        )
        sent.clear()

    rows = [
        ("explicit ids, no scope", best(explicit, calls)),
        ("explicit ids + context, no scope", best(explicit_context, calls)),
    ]
    with b2b_events.scope(user_id="u_1", group_id="acct_1"):
        rows.append(("ids from a scope", best(omitted, calls)))
    with b2b_events.scope(user_id="u_1", group_id="acct_1", context=REQUEST_CONTEXT):
        rows.append(("ids + request context from a scope", best(omitted, calls)))
    for label, micros in rows:
        print(f"{label:<36} {micros:6.2f} us/call")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
