"""What a response means (``classify``) and the retries of the delivery routine, no sleeping."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable

import pytest

from b2b_events import Response
from b2b_events._delivery.options import Options
from b2b_events._delivery.policy import RetryPolicy, Verdict, classify
from b2b_events._delivery.routine import Settle, Wait, deliver, drive


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"),
        (201, "delivered"),
        (204, "delivered"),
        (0, "retry"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (504, "retry"),
        (599, "retry"),
        (501, "rejected"),
        (505, "rejected"),
        (400, "split"),
        (413, "split"),
        (401, "misconfigured"),
        (403, "misconfigured"),
        (404, "misconfigured"),
        (410, "rejected"),
        (422, "rejected"),
        (405, "rejected"),
        (301, "misconfigured"),
        (308, "misconfigured"),
    ],
)
def test_classify(status: int, verdict: Verdict) -> None:
    assert classify(Response(status)) == verdict


class Script:
    """A fake ``send`` that answers with scripted responses and counts calls."""

    def __init__(self, responses: Iterable[Response], *, then: Response | None = None) -> None:
        self.responses = list(responses)
        self.then = then
        self.calls = 0

    def __call__(self) -> Response:
        self.calls += 1
        if self.responses:
            return self.responses.pop(0)
        assert self.then is not None, "send called more often than scripted"
        return self.then


class Recorder:
    """Records what the routine asks for: waits (with the retryable response), settlements."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.retries: list[tuple[Response, float]] = []
        self.settled: list[Settle] = []

    def wait(self, step: Wait) -> None:
        self.waits.append(step.seconds)
        self.retries.append((step.response, step.seconds))


def run(
    send: Callable[[], Response],
    policy: RetryPolicy,
    recorder: Recorder,
    give_up: Callable[[float], bool] = lambda due: False,
) -> Response:
    """Deliver a one-message batch; return the last response."""
    answers: list[Response] = []

    def sending(messages: object) -> Response:
        answers.append(send())
        return answers[-1]

    drive(
        deliver([b"{}"], policy, give_up=give_up),
        send=sending,
        wait=recorder.wait,
        settle=recorder.settled.append,
    )
    (settled,) = recorder.settled  # each message settled exactly once
    assert (settled.reason is None) == answers[-1].ok
    return answers[-1]


def test_success_first_time_sends_once_and_never_sleeps() -> None:
    send, recorder = Script([Response(200)]), Recorder()

    result = run(send, RetryPolicy(), recorder)

    assert result == Response(200)
    assert send.calls == 1
    assert recorder.waits == []
    assert recorder.retries == []


def test_retries_until_delivered() -> None:
    send = Script([Response(503, detail="a"), Response(0, detail="b"), Response(200)])
    recorder = Recorder()

    result = run(send, RetryPolicy(), recorder)

    assert result.status == 200
    assert send.calls == 3
    assert len(recorder.waits) == 2


def test_stops_at_max_attempts_and_returns_the_last_retryable_response() -> None:
    responses = [Response(503, detail=f"attempt {i}") for i in range(1, 4)]
    send, recorder = Script(responses, then=Response(200)), Recorder()

    result = run(send, RetryPolicy(max_attempts=3), recorder)

    assert result == Response(503, detail="attempt 3")
    assert send.calls == 3
    assert len(recorder.waits) == 2


def test_one_attempt_means_no_retry() -> None:
    send, recorder = Script([Response(429, retry_after=1.0)], then=Response(200)), Recorder()

    result = run(send, RetryPolicy(max_attempts=1), recorder)

    assert result.status == 429
    assert send.calls == 1
    assert recorder.waits == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 501, 505])
def test_a_final_response_is_returned_at_once(status: int) -> None:
    send = Script([Response(503), Response(status, detail="final")], then=Response(200))
    recorder = Recorder()

    result = run(send, RetryPolicy(), recorder)

    assert result == Response(status, detail="final")
    assert send.calls == 2
    assert len(recorder.waits) == 1


def test_retry_after_sets_the_wait() -> None:
    send = Script([Response(429, retry_after=7.0), Response(429, retry_after=0.0), Response(200)])
    recorder = Recorder()

    run(send, RetryPolicy(max_retry_after=60.0), recorder)

    assert recorder.waits == [7.0, 0.0]


def test_retry_after_is_capped_at_max_retry_after() -> None:
    send = Script([Response(429, retry_after=3600.0), Response(200)])
    recorder = Recorder()

    run(send, RetryPolicy(max_retry_after=12.5), recorder)

    assert recorder.waits == [12.5]


def test_retry_after_is_capped_by_the_time_left() -> None:
    send = Script([Response(429, retry_after=50.0), Response(200)])
    recorder = Recorder()

    run(send, RetryPolicy(max_time=5.0, max_retry_after=60.0), recorder)

    (wait,) = recorder.waits
    assert 0.0 < wait <= 5.0


def test_backoff_waits_are_jittered_and_within_bounds() -> None:
    backoff, max_backoff = 0.25, 2.0
    send, recorder = Script([], then=Response(503)), Recorder()

    run(send, RetryPolicy(max_attempts=30, backoff=backoff, max_backoff=max_backoff), recorder)

    assert len(recorder.waits) == 29
    for n, wait in enumerate(recorder.waits):
        assert 0.0 <= wait <= min(max_backoff, backoff * 2**n), (n, wait)
    # Full jitter: 29 uniform draws, the later ones over [0, 2], are not all equal.
    assert len(set(recorder.waits)) > 1


def test_backoff_windows_double_up_to_max_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # Make every jitter draw the top of its window, to see the windows themselves.
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    send, recorder = Script([], then=Response(0)), Recorder()

    run(send, RetryPolicy(max_attempts=8, backoff=0.5, max_backoff=10.0), recorder)

    assert recorder.waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_on_retry_is_told_each_retryable_response_and_its_wait() -> None:
    first, second = Response(503, detail="one"), Response(429, retry_after=2.0, detail="two")
    send, recorder = Script([first, second, Response(200)]), Recorder()

    run(send, RetryPolicy(), recorder)

    assert [r for r, _ in recorder.retries] == [first, second]
    assert [w for _, w in recorder.retries] == recorder.waits
    assert recorder.retries[1][1] == 2.0


def test_on_retry_is_not_called_for_the_last_exhausted_attempt() -> None:
    send, recorder = Script([], then=Response(503)), Recorder()

    run(send, RetryPolicy(max_attempts=4), recorder)

    assert len(recorder.retries) == 3


def test_give_up_during_a_wait_stops_retrying_at_once() -> None:
    send, recorder = Script([], then=Response(503)), Recorder()

    # close() runs out of time while the routine waits before attempt 2.
    result = run(send, RetryPolicy(max_attempts=10), recorder, lambda due: bool(recorder.waits))

    assert result.status == 503
    assert send.calls == 1
    assert len(recorder.waits) == 1
    assert recorder.settled[0].reason == "timeout"


def test_a_retry_due_after_the_close_deadline_is_not_waited_for() -> None:
    send, recorder = Script([], then=Response(429, retry_after=30.0)), Recorder()
    deadline = time.monotonic() + 5.0

    run(send, RetryPolicy(), recorder, lambda due: due > deadline)

    assert send.calls == 1
    assert recorder.settled[0].reason == "timeout"


def test_give_up_true_from_the_start_settles_without_sending() -> None:
    send, recorder = Script([], then=Response(200)), Recorder()
    settled: list[Settle] = []

    drive(
        deliver([b"a", b"b"], RetryPolicy(), give_up=lambda due: True),
        send=lambda messages: send(),
        wait=recorder.wait,
        settle=settled.append,
    )

    assert send.calls == 0
    assert [(s.messages, s.reason, s.verdict) for s in settled] == [([b"a", b"b"], "timeout", None)]


def test_retries_exhausted_is_the_reason_when_the_bounds_run_out() -> None:
    send, recorder = Script([], then=Response(503)), Recorder()

    run(send, RetryPolicy(max_attempts=2), recorder)

    assert recorder.settled[0].reason == "retries_exhausted"
    assert recorder.settled[0].detail == "HTTP 503"


def test_give_up_does_not_matter_for_a_final_response() -> None:
    send, recorder = Script([Response(200)]), Recorder()

    # Asked before the first attempt it must be False; afterwards it changes nothing.
    assert run(send, RetryPolicy(), recorder, lambda due: send.calls > 0).status == 200


def test_no_new_attempt_once_max_time_has_passed() -> None:
    calls = 0

    def slow_send() -> Response:
        nonlocal calls
        calls += 1
        time.sleep(0.005)  # longer than max_time: the first attempt uses the whole budget
        return Response(503, detail="slow")

    recorder = Recorder()

    result = run(slow_send, RetryPolicy(max_attempts=10, max_time=0.001), recorder)

    assert result == Response(503, detail="slow")
    assert calls == 1
    assert recorder.waits == []


def test_send_exceptions_propagate_unchanged() -> None:
    def broken() -> Response:
        raise KeyError("bug in send")

    with pytest.raises(KeyError, match="bug in send"):
        run(broken, RetryPolicy(), Recorder())


def test_the_policy_defaults_are_the_clients() -> None:
    """A ``RetryPolicy()`` retries as a ``Client()`` does: max_retries=10 is 11 attempts."""
    assert RetryPolicy() == Options().retry
    assert RetryPolicy().max_attempts == 11
