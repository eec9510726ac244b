"""``replay()``: re-send event logs to a Segment-compatible endpoint, resumably.

The data path: ``read_event_log`` (files, trees, gzip, stdin) -> prepare each
message (server-set fields dropped, ``integrations`` rewritten) -> ``validate``
-> filters -> batches within Segment's limits -> one sender thread that posts
them with the client's transport and the one delivery routine
(``_delivery.routine``: the same rules for 429, ``Retry-After``, 5xx and the
400/413 split as the clients), in order.
Reading and validating overlap with the request in flight; a queue of two
batches keeps memory flat.

Each acknowledged batch advances the checkpoint (``checkpoint.py``), so a rerun
of the same command after Ctrl-C or a crash resumes with nothing lost, re-sending
at most what was in flight, with the same ``messageId``.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json

from .._client import _check_endpoint
from .._delivery.options import Options
from .._delivery.policy import RetryPolicy
from .._delivery.routine import Settle, Wait, deliver, drive
from .._delivery.transport import HttpTransport, Response, Transport, send_guarded
from .._delivery.wire import MAX_BATCH_BYTES, batch_overhead, message_name
from .._exceptions import ConfigurationError
from .checkpoint import Frontier, fingerprint, load_checkpoint, save_checkpoint
from .counts import ReplayReport
from .reader import STDIN, LogLine, display_name, find_event_logs, parse_line, read_raw
from .selection import SERVER_SET_FIELDS, Selection, prepare_for_replay

if TYPE_CHECKING:
    from .._plan import TrackingPlan

__all__ = ["SERVER_SET_FIELDS", "ReplayReport", "prepare_for_replay", "replay"]

logger = logging.getLogger("b2b_events.replay")

_monotonic = time.monotonic  # the clock of the rate, the saves and ``elapsed``; tests set it
_CHECKPOINT_EVERY = 0.5  # seconds between two checkpoint saves (and always at the end)
_RATE_SLICE = 0.1  # with a rate, a batch holds at most this many seconds of events
_PUT_POLL = 0.1  # seconds between checks for a stop while the sender's queue is full


def replay(
    *paths: str | os.PathLike[str],
    endpoint: str | None = None,
    write_key: str | None = None,
    transport: Transport | None = None,
    integrations: Mapping[str, Any] | None = None,
    events: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    rate: float | None = None,
    dry_run: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    max_batch_events: int = 1_000,
    max_retries: int = 10,
    max_retry_time: float = 120.0,
    max_retry_after: float = 60.0,
    retry_backoff: float = 0.5,
    max_errors: int = 100,
    skip_unreadable: bool = False,
    on_progress: Callable[[ReplayReport], object] | None = None,
    on_problem: Callable[[str], object] | None = None,
    on_retry: Callable[[int, str, float], object] | None = None,
    stop: threading.Event | None = None,
    plan: TrackingPlan | None = None,
) -> ReplayReport:
    """Re-send the messages of event logs, validated, in order, resumable.

    Every line is validated (``b2b_events.validate``) after its server-set
    fields are dropped (``prepare_for_replay``); invalid lines are reported
    and never sent. Batches go out one at a time, in order, with the client's
    retry policy; a message the endpoint refuses alone (400/413) is counted as
    rejected and the replay goes on. When the endpoint keeps failing (retries
    exhausted) or refuses the key (401, 403, 404), the replay stops there: a
    rerun with the same ``checkpoint`` resumes from the last acknowledged batch.

    Args:
        paths: Files (plain or gzip), directories (every ``*.jsonl``,
            ``*.jsonl.gz`` and ``*.gz`` below, sorted; what is not a regular
            file there is skipped, never opened) or ``-`` for stdin.
        endpoint: Base URL (default ``https://api.segment.io``).
        write_key: The destination source's write key (not needed for a dry run).
        transport: Send through this instead of HTTP; you close it.
        integrations: Replace each message's ``integrations`` with this, e.g.
            ``{"All": False, "Mixpanel": True}`` to target one destination.
        events: Only these event names (``identify`` / ``group`` for those calls).
        since: Only messages whose ``timestamp`` is at or after this (aware) time.
        until: Only messages whose ``timestamp`` is before this (aware) time.
        rate: At most this many events per second, on average from the start.
        dry_run: Read, validate, filter and count; send nothing, save no checkpoint.
        checkpoint: A file recording the acknowledged frontier; when it exists
            the replay resumes after it (same inputs, endpoint and filters only).
        max_batch_events: Most messages per request (1 to 2,500).
        max_retries: Retries of one batch after its first attempt.
        max_retry_time: Seconds after which a batch is no longer retried.
        max_retry_after: Cap, in seconds, on the endpoint's ``Retry-After``.
        retry_backoff: Base of the exponential backoff, in seconds.
        max_errors: How many problem lines ``ReplayReport.errors`` keeps.
        skip_unreadable: Skip a directory that cannot be listed (it is in
            ``ReplayReport.skipped``) instead of raising.
        on_progress: Called with a report after each acknowledged batch (from
            the sender thread).
        on_problem: Called with each invalid or rejected line's description.
        on_retry: Called before each wait to retry a request (from the sender
            thread) with the attempt that failed (1 for the first), what went
            wrong (``HTTP 503``, ``ConnectError: ...``) and the wait in seconds.
        stop: Set it to stop after the batch in flight (what Ctrl-C does in
            the CLI); the checkpoint then holds what was acknowledged.
        plan: Validate against this ``TrackingPlan`` (``validate(plan=...)``)
            instead of the ten spec events alone.

    Returns:
        The report; ``report.ok`` is True when everything valid was delivered.

    Raises:
        ConfigurationError: Options that cannot work, or a checkpoint of another replay.
        FileNotFoundError: An input path does not exist.
        OSError: A directory cannot be listed (without ``skip_unreadable``).
        KeyboardInterrupt: Ctrl-C without ``stop`` handling; the checkpoint is
            saved first.

    Examples:
        >>> report = replay(  # doctest: +SKIP
        ...     "segment-logs/", write_key=key, checkpoint="replay.ckpt",
        ...     integrations={"All": False, "Mixpanel": True},
        ... )
        >>> report.delivered, report.invalid  # doctest: +SKIP
        (1204120, 217)
    """
    if isinstance(events, str):  # one name given as a string, not its letters
        events = [events]
    wanted = frozenset(events) if events is not None else None
    _check_options(
        paths=paths,
        rate=rate,
        since=since,
        until=until,
        integrations=integrations,
    )
    policy = Options.pick(locals()).retry  # batch size and retries: checked as for a client
    if transport is not None and endpoint is not None:
        raise ConfigurationError("endpoint configures the HTTP transport: not with transport=...")
    target = "custom transport" if transport is not None else _check_endpoint(endpoint)
    if transport is None and not dry_run and not write_key:
        raise ConfigurationError("replay needs the write key of the source to send to")
    skipped: list[str] = []
    files = find_event_logs(
        paths,
        skip_unreadable=skip_unreadable,
        on_skip=lambda path, why: skipped.append(f"{path}: {why}"),
    )
    options = {  # what decides which messages are sent, and where: a checkpoint is for these
        "inputs": [_key(os.fspath(path)) for path in paths],
        "endpoint": target,
        "events": sorted(wanted) if wanted is not None else None,
        "since": since.isoformat() if since is not None else None,
        "until": until.isoformat() if until is not None else None,
        "integrations": dict(integrations) if integrations is not None else None,
    }
    if plan is not None:  # which lines are valid, so sent: a checkpoint is for one plan
        options["plan"] = plan.name
    digest = fingerprint(options)
    frontier = load_checkpoint(checkpoint, digest) if checkpoint is not None else None
    save: Callable[[Frontier], None] | None = None
    if checkpoint is not None and not dry_run:
        save = partial(save_checkpoint, checkpoint, digest, options=options)
        try:  # now, not after the first batch is sent: a checkpoint that cannot be written
            save(frontier or Frontier())
        except OSError as exc:
            raise ConfigurationError(f"cannot write the checkpoint {checkpoint}: {exc}") from None
    owned: Transport | None = None
    if transport is None and not dry_run:
        owned = transport = HttpTransport(write_key=write_key or "", endpoint=target)
    run = _Run(
        files=files,
        frontier=frontier or Frontier(),
        selection=Selection(wanted, since, until, integrations, plan),
        rate=rate,
        batch_events=max_batch_events,
        batch_budget=MAX_BATCH_BYTES - batch_overhead(write_key or ""),
        max_errors=max_errors,
        on_progress=on_progress,
        on_problem=on_problem,
        on_retry=on_retry,
        stop=stop if stop is not None else threading.Event(),
        save=save,
        skipped=tuple(skipped),
    )
    try:
        return run.execute(None if dry_run else transport, policy)
    finally:
        if owned is not None:
            owned.close()


def _check_options(
    *,
    paths: Sequence[str | os.PathLike[str]],
    rate: float | None,
    since: datetime | None,
    until: datetime | None,
    integrations: Mapping[str, Any] | None,
) -> None:
    if not paths:
        raise ConfigurationError("replay needs at least one path (a file, a directory or '-')")
    if rate is not None and not rate > 0:
        raise ConfigurationError(f"rate must be > 0 events per second, not {rate!r}")
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.utcoffset() is None:
            raise ConfigurationError(f"{name} must be an aware datetime (e.g. tzinfo=timezone.utc)")
    if since is not None and until is not None and since >= until:
        raise ConfigurationError("since must be before until")
    if integrations is not None and not isinstance(integrations, Mapping):
        raise ConfigurationError("integrations must be a mapping (a JSON object)")


# A batch's mark: where the frontier is once the batch is acknowledged.
# (files done, file, line, lines, position, invalid, filtered, selected)
_Mark = tuple[int, str | None, int, int, int, int, int, int]


class _Blank(enum.Enum):
    """A blank line: neither counted nor sent."""

    BLANK = enum.auto()


_BLANK = _Blank.BLANK


@dataclass
class _Batch:
    messages: list[bytes]
    where: list[tuple[str, int]]  # (file, line) of each message, to report a rejection
    mark: _Mark
    last: bool = False


class _Run:
    """One replay: the reading side in the calling thread, the sending side in a thread."""

    def __init__(
        self,
        *,
        files: list[str],
        frontier: Frontier,
        selection: Selection,
        rate: float | None,
        batch_events: int,
        batch_budget: int,
        max_errors: int,
        on_progress: Callable[[ReplayReport], object] | None,
        on_problem: Callable[[str], object] | None,
        on_retry: Callable[[int, str, float], object] | None,
        stop: threading.Event,
        save: Callable[[Frontier], None] | None,
        skipped: tuple[str, ...],
    ) -> None:
        self._files = files
        self._skipped = skipped
        self._resume = frontier
        self._selection = selection
        self._rate = rate
        if rate is not None:
            batch_events = max(1, min(batch_events, math.ceil(rate * _RATE_SLICE)))
        self._batch_events = batch_events
        self._budget = batch_budget
        self._max_errors = max_errors
        self._on_progress = on_progress
        self._on_problem = on_problem
        self._on_retry = on_retry
        self._stop = stop
        self._save = save
        self._lock = threading.Lock()  # the acknowledged state, read by saves and progress
        self._errors: list[str] = []
        self._done: list[str] = list(frontier.done)
        totals = frontier.totals
        self._base = dict(totals)
        # Reading side: running counts, from the checkpoint's.
        self._lines = totals["lines"]
        self._position = totals["position"]
        self._invalid = totals["invalid"]
        self._filtered = totals["filtered"]
        self._selected = totals["selected"]
        self._files_read = 0
        # Sending side.
        self._delivered = totals["delivered"]  # this run's deliveries included, acknowledged or not
        self._rejected = totals["rejected"]
        self._retries = 0
        self._acked: Frontier = frontier
        self._last_save = 0.0
        self._failure: str | None = None
        self._started = _monotonic()
        self._released = 0  # messages handed to the sender (for the rate)
        self._finished = False  # the last batch is acknowledged
        self._names: dict[str, str] = {}  # checkpoint key -> the file's name as found
        self._file: str | None = None
        self._file_base = self._position

    # -- the whole run --------------------------------------------------------

    def execute(self, transport: Transport | None, policy: RetryPolicy) -> ReplayReport:
        sender: _Sender | None = None
        if transport is not None:
            sender = _Sender(self, transport, policy)
            sender.start()
        self._sender = sender
        try:
            self._read_all()
            self._hand_off(None)
            if sender is not None:
                sender.join()
        except BaseException:
            self._stop.set()  # KeyboardInterrupt and the like: keep what was acknowledged
            self._save_now()
            raise
        self._save_now()
        return self._report(interrupted=not self._finished and self._failure is None, final=True)

    def _resume_from(self, frontier: Frontier) -> str | None:
        """Where the first unsettled line is, in the inputs' own names."""
        if self._finished:
            return None
        if frontier.file is not None:
            return f"{self._names.get(frontier.file, frontier.file)}:{frontier.line + 1}"
        done = set(frontier.done)
        for file in self._files:
            if _key(file) not in done:
                return f"{display_name(file)}:1"
        return None  # pragma: no cover - unsettled implies a file not done

    # -- reading ------------------------------------------------------------

    def _read_all(self) -> None:
        resume = self._resume
        done = set(resume.done)
        self._batch, self._size = _Batch([], [], self._mark()), 0
        for file in self._files:
            key = _key(file)
            self._names[key] = display_name(file)
            if key in done:
                continue
            skip = resume.line if key == resume.file else 0
            self._file = key
            self._file_base = self._position - skip
            self._files_read += 1
            if not self._read_file(file, skip) or self._stop.is_set():
                return
            self._done.append(key)
            self._file = None
        batch = self._batch
        batch.mark = self._mark()
        batch.last = True
        self._hand_off(batch)

    def _read_file(self, file: str, skip: int) -> bool:
        """Read, check and batch the lines of ``file`` after ``skip``; False if the run stopped."""
        name = display_name(file)
        stop = self._stop
        prepare, add = self._prepare, self._add
        for block in read_raw(file, skip):
            if isinstance(block, LogLine):  # the file cannot be read (further): always said
                self._invalid_line(f"{block.location}: {block.error}")
                if not add(name, max(block.line, skip), None):
                    return False
                continue
            first, lines = block
            for line, raw in enumerate(lines, first):
                if stop.is_set():
                    return False
                try:
                    message = from_json(raw, cache_strings="keys")
                except ValueError:
                    message = None
                if type(message) is not dict:  # not JSON, not an object, blank, a BOM...
                    message = self._not_a_message(name, line, raw)
                    if message is _BLANK:
                        continue
                if not add(name, line, prepare(name, line, message, raw)):
                    return False
        return True

    def _add(self, file: str, line: int, data: bytes | None) -> bool:
        """Count a line and batch its message (None: none to send); False if the run stopped."""
        batch = self._batch
        if data is not None and batch.messages and self._size + len(data) + 1 > self._budget:
            # Full without this line: the batch's frontier is just before it.
            if not self._ship():
                return False
            batch = self._batch
        self._lines += 1
        self._position = self._file_base + line
        if data is None:
            return True
        self._selected += 1
        batch.messages.append(data)
        batch.where.append((file, line))
        self._size += len(data) + 1
        return len(batch.messages) < self._batch_events or self._ship()

    def _ship(self) -> bool:
        """Hand the batch over, frontier at the last line read; start the next one."""
        batch = self._batch
        batch.mark = self._mark()
        self._batch, self._size = _Batch([], [], batch.mark), 0
        return self._hand_off(batch)

    def _not_a_message(self, file: str, number: int, raw: bytes) -> dict[str, Any] | _Blank | None:
        """A line ``from_json`` made no message of: blank, or one after a byte order mark.

        Else None: the line is counted as invalid and reported here.
        """
        line = parse_line(file, number, raw)
        if line is None:
            return _BLANK
        if line.message is None:
            self._invalid_line(f"{line.location}: {line.error}")
        return line.message

    def _prepare(
        self, file: str, number: int, message: dict[str, Any] | None, raw: bytes
    ) -> bytes | None:
        """The message to send, or None (invalid or filtered out: counted here)."""
        if message is None:
            return None
        data, problem = self._selection.pick(message, raw)
        if problem is not None:
            self._invalid_line(f"{file}:{number}: {problem}")
        elif data is None:
            self._filtered += 1
        return data

    def _invalid_line(self, text: str) -> None:
        self._invalid += 1
        self._problem(text)

    def _mark(self) -> _Mark:
        file = self._file
        return (
            len(self._done),
            file,
            self._position - self._file_base if file is not None else 0,
            self._lines,
            self._position,
            self._invalid,
            self._filtered,
            self._selected,
        )

    def _hand_off(self, batch: _Batch | None) -> bool:
        """Give a batch (None: the end) to the sender, at the rate; False if the run stopped."""
        sender = self._sender
        if sender is None:  # a dry run: read is settled
            if batch is not None:
                self._acknowledge(batch, delivered=0, rejected=0)
            return not self._stop.is_set()
        if batch is not None and self._rate is not None and batch.messages:
            # Released when its last event's turn comes: never more than rate * t by time t.
            self._released += len(batch.messages)
            wait = self._started + self._released / self._rate - _monotonic()
            if wait > 0 and self._stop.wait(wait):
                return False
        while True:
            try:
                sender.queue.put(batch, timeout=_PUT_POLL)
                return True
            except queue.Full:
                if batch is not None and self._stop.is_set():
                    return False
                if not sender.is_alive():  # pragma: no cover - the sender never dies early
                    return False

    # -- the acknowledged side (sender thread) --------------------------------

    def _acknowledge(self, batch: _Batch, *, delivered: int, rejected: int) -> None:
        """A batch is settled: move the frontier to its mark, save (throttled), report progress."""
        done, file, line, lines, position, invalid, filtered, selected = batch.mark
        with self._lock:
            self._finished = batch.last
            self._acked = Frontier(
                done=self._done[:done],
                file=file,
                line=line,
                totals={
                    "lines": lines,
                    "position": position,
                    "invalid": invalid,
                    "filtered": filtered,
                    "selected": selected,
                    "delivered": self._acked.totals["delivered"] + delivered,
                    "rejected": self._acked.totals["rejected"] + rejected,
                },
            )
        now = _monotonic()
        if now - self._last_save >= _CHECKPOINT_EVERY:
            self._save_now()
        if self._on_progress is not None:
            try:
                self._on_progress(self._report(interrupted=False, final=False))
            except Exception:
                logger.exception("b2b-events: the replay progress callback failed")

    def _save_now(self) -> None:
        if self._save is None:
            return
        with self._lock:
            frontier = self._acked
            self._last_save = _monotonic()
            self._save(frontier)

    def _problem(self, text: str) -> None:
        with self._lock:
            if len(self._errors) < self._max_errors:
                self._errors.append(text)
        if self._on_problem is not None:
            try:
                self._on_problem(text)
            except Exception:
                logger.exception("b2b-events: the replay problem callback failed")

    def _report(self, *, interrupted: bool, final: bool) -> ReplayReport:
        with self._lock:
            acked = self._acked.totals
            errors = tuple(self._errors)
        # Progress shows the acknowledged frontier; the final report, everything read.
        source = (
            {
                "lines": self._lines,
                "invalid": self._invalid,
                "filtered": self._filtered,
                "selected": self._selected,
            }
            if final
            else acked
        )
        return ReplayReport(
            lines=source["lines"],
            invalid=source["invalid"],
            filtered=source["filtered"],
            selected=source["selected"],
            delivered=self._delivered,
            rejected=self._rejected,
            retries=self._retries,
            resumed_lines=self._base["lines"],
            delivered_now=self._delivered - self._base["delivered"],
            files=self._files_read,
            position=acked["position"],
            elapsed=_monotonic() - self._started,
            dry_run=self._sender is None,
            interrupted=interrupted,
            stopped=self._failure,
            resume_from=self._resume_from(self._acked) if final else None,
            errors=errors,
            skipped=self._skipped,
        )


class _Sender(threading.Thread):
    """Posts batches in order, one at a time; acknowledges each (or stops the run)."""

    def __init__(self, run: _Run, transport: Transport, policy: RetryPolicy) -> None:
        super().__init__(name="b2b-events-replay", daemon=True)
        self.queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=2)
        self._run_state = run
        self._transport = transport
        self._policy = policy
        self._halt = run._stop
        self._where: Sequence[tuple[str, int]] = ()  # of the batch in hand
        self._stopped: str | None = None  # why the run stops, once a part failed
        self._attempt = 0  # attempts of the request in hand that failed

    def run(self) -> None:
        state = self._run_state
        while True:
            batch = self.queue.get()
            if batch is None:
                return
            if self._halt.is_set():
                continue  # stopping: what is queued stays unsent (and unacknowledged)
            try:
                outcome = self._deliver(batch.messages, batch.where)
            except Exception as exc:  # never leave the reading side waiting on a dead thread
                logger.exception("b2b-events: unexpected error while replaying a batch")
                outcome = f"unexpected error: {type(exc).__name__}: {exc}"
            if outcome is not None:
                if not self._halt.is_set():
                    state._failure = outcome
                    self._halt.set()
                continue
            state._acknowledge(
                batch, delivered=self._acked_delivered, rejected=self._acked_rejected
            )

    def _deliver(self, messages: Sequence[bytes], where: Sequence[tuple[str, int]]) -> str | None:
        """Send one batch (splitting on 400/413); None when settled, else why the run stops."""
        self._acked_delivered = self._acked_rejected = 0
        self._where, self._stopped, self._attempt = where, None, 0
        if messages:
            drive(
                deliver(messages, self._policy, give_up=self._give_up),
                send=lambda part: send_guarded(self._transport, part),
                wait=self._wait,
                settle=self._settle,
            )
        return self._stopped

    def _give_up(self, due: float) -> bool:
        """A stop was asked for, or a part of this batch failed: send no more of it."""
        return self._halt.is_set() or self._stopped is not None

    def _settle(self, step: Settle) -> None:
        self._attempt = 0  # the next part (of a split) counts its own attempts
        if self._stopped is not None:
            return  # the rest of a batch whose run stops: unacknowledged
        state, count = self._run_state, len(step.messages)
        if step.reason is None:
            state._delivered += count
            self._acked_delivered += count
        elif step.verdict == "split":  # this one message, refused on its own: report it, go on
            state._rejected += 1
            self._acked_rejected += 1
            file, line = self._where[step.start]
            name = message_name(from_json(step.messages[0])) or "?"
            state._problem(f"{file}:{line}: {name}: refused by the endpoint ({step.detail})")
        elif step.verdict == "retry":
            self._stopped = f"the endpoint kept failing ({step.detail})"
        elif step.verdict == "misconfigured":
            self._stopped = (
                f"the endpoint answered {step.detail}: check the endpoint and the write key"
            )
        elif step.verdict is None:
            self._stopped = "stopped"
        else:
            self._stopped = f"the endpoint refused a batch ({step.detail})"

    def _wait(self, step: Wait) -> None:
        """Wait before a retry; a stop ends the wait (and ``give_up`` the retries)."""
        self._on_retry(step.response, step.seconds)
        self._halt.wait(step.seconds)

    def _on_retry(self, response: Response, wait: float) -> None:
        state = self._run_state
        state._retries += 1
        self._attempt += 1
        logger.info(
            "b2b-events: replay batch failed (%s), retrying in %.2f s", response.describe(), wait
        )
        if state._on_retry is not None:
            try:
                state._on_retry(self._attempt, response.describe(), wait)
            except Exception:
                logger.exception("b2b-events: the replay retry callback failed")


def _key(file: str) -> str:
    """How a checkpoint names an input: its absolute path (``-`` for stdin)."""
    return file if file == STDIN else os.path.abspath(file)
