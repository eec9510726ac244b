"""``replay()``: re-send event logs to a Segment-compatible endpoint, resumably.

The parts, one job each, in the order a line meets them:

- ``reading``: the inputs' lines, from where the checkpoint left off, decoded
  and counted (``counts.ReadCounts``);
- ``selection``: what is sent of each line (server-set fields dropped,
  ``integrations`` rewritten, validated, filtered);
- ``batcher``: batches within Segment's count and byte limits, each with the
  frontier it reaches (its ``Mark``);
- ``pacing``: with a ``rate``, when each batch may go;
- ``sender``: one thread that posts the batches in order through the clients'
  delivery routine (``_delivery.routine``: 429, ``Retry-After``, 5xx, the
  400/413 split), while the next ones are read;
- ``acknowledged``: the frontier each settled batch moves, saved to the
  checkpoint (``checkpoint.py``) now and then, so that a rerun after Ctrl-C or
  a crash resumes with nothing lost, re-sending at most what was in flight,
  with the same ``messageId``.

This module checks the options, opens the checkpoint, wires the parts and
makes the report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ParamSpec

from .._client import _check_endpoint
from .._delivery.options import Options
from .._delivery.transport import HttpTransport, Transport
from .._delivery.wire import MAX_BATCH_BYTES, batch_overhead
from .._exceptions import ConfigurationError
from .acknowledged import Acknowledged
from .batcher import Batch, Batcher
from .checkpoint import Frontier, fingerprint, input_key, load_checkpoint, save_checkpoint
from .counts import Problems, ReadCounts, ReplayReport, SendCounts
from .finder import find_event_logs
from .pacing import Pace, batch_limit
from .reading import Input, Reading, plan_inputs
from .selection import SERVER_SET_FIELDS, Selection, prepare_for_replay
from .sender import DryRun, Sender

if TYPE_CHECKING:
    from .._plan import TrackingPlan

__all__ = ["SERVER_SET_FIELDS", "ReplayReport", "prepare_for_replay", "replay"]

logger = logging.getLogger("b2b_events.replay")

_monotonic = time.monotonic  # the clock of the rate, the saves and ``elapsed``; tests set it

_P = ParamSpec("_P")


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
        "inputs": [input_key(os.fspath(path)) for path in paths],
        "endpoint": target,
        "events": sorted(wanted) if wanted is not None else None,
        "since": since.isoformat() if since is not None else None,
        "until": until.isoformat() if until is not None else None,
        "integrations": dict(integrations) if integrations is not None else None,
    }
    if plan is not None:  # which lines are valid, so sent: a checkpoint is for one plan
        options["plan"] = plan.name
    frontier, save = _open_checkpoint(checkpoint, options, dry_run=dry_run)

    stop = stop if stop is not None else threading.Event()
    clock = _monotonic
    inputs = plan_inputs(files, frontier)
    problems = Problems(max_errors, _guarded(on_problem, "problem"))
    reading = Reading(
        counts=ReadCounts.of(frontier.totals),
        selection=Selection(wanted, since, until, integrations, plan),
        batcher=Batcher(
            batch_limit(max_batch_events, rate),
            MAX_BATCH_BYTES - batch_overhead(write_key or ""),
        ),
        problem=problems,
        stop=stop,
    )
    run = _Run(
        reading=reading,
        acked=Acknowledged(frontier, inputs, save, clock),
        problems=problems,
        skipped=tuple(skipped),
        clock=clock,
        on_progress=_guarded(on_progress, "progress"),
    )
    if dry_run:
        return run.execute(inputs, DryRun(settled=run.settled, stop=stop), pace=None, stop=stop)
    owned: Transport | None = None
    if transport is None:
        owned = transport = HttpTransport(write_key=write_key or "", endpoint=target)
    sender = Sender(
        transport,
        policy,
        counts=run.sent,
        settled=run.settled,
        problem=problems,
        on_retry=_guarded(on_retry, "retry"),
        stop=stop,
    )
    pace = None if rate is None else Pace(rate, start=run.started, clock=clock, stop=stop)
    try:
        return run.execute(inputs, sender, pace=pace, stop=stop)
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


def _open_checkpoint(
    checkpoint: str | os.PathLike[str] | None, options: dict[str, Any], *, dry_run: bool
) -> tuple[Frontier, Callable[[Frontier], None] | None]:
    """Where an earlier run of this replay stopped, and how to save this one's (None: no saves).

    The checkpoint is written at once, not after the first batch is sent: one
    that cannot be written stops the replay before it sends anything.
    """
    if checkpoint is None:
        return Frontier(), None
    digest = fingerprint(options)
    frontier = load_checkpoint(checkpoint, digest) or Frontier()
    if dry_run:
        return frontier, None
    save = partial(save_checkpoint, checkpoint, digest, options=options)
    try:
        save(frontier)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the checkpoint {checkpoint}: {exc}") from None
    return frontier, save


def _guarded(callback: Callable[_P, object] | None, what: str) -> Callable[_P, None] | None:
    """``callback``, its exceptions logged instead of raised into the replay."""
    if callback is None:
        return None

    def call(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            callback(*args, **kwargs)
        except Exception:
            logger.exception("b2b-events: the replay %s callback failed", what)

    return call


class _Run:
    """One run of a replay: batches read, handed to the sender, settled; and its report."""

    def __init__(
        self,
        *,
        reading: Reading,
        acked: Acknowledged,
        problems: Problems,
        skipped: tuple[str, ...],
        clock: Callable[[], float],
        on_progress: Callable[[ReplayReport], None] | None,
    ) -> None:
        self._reading = reading
        self._acked = acked
        self._problems = problems
        self._skipped = skipped
        self._clock = clock
        self._on_progress = on_progress
        self._base = dict(acked.frontier.totals)  # what earlier runs did
        self.sent = SendCounts(self._base["delivered"], self._base["rejected"])
        self.started = clock()
        self._outlet: Sender | DryRun | None = None

    def execute(
        self,
        inputs: Sequence[Input],
        outlet: Sender | DryRun,
        *,
        pace: Pace | None,
        stop: threading.Event,
    ) -> ReplayReport:
        """Read and hand over every batch (fewer once stopped); the report of the run."""
        self._outlet = outlet
        outlet.start()
        try:
            with closing(self._reading.batches(inputs)) as batches:
                for batch in batches:
                    if pace is not None and not pace.release(len(batch.messages)):
                        break
                    if not outlet.put(batch):
                        break
            outlet.finish()
        except BaseException:
            stop.set()  # KeyboardInterrupt and the like: keep what was acknowledged
            self._acked.save()
            raise
        self._acked.save()
        return self.report(final=True)

    def settled(self, batch: Batch, delivered: int, rejected: int) -> None:
        """A batch is settled (in order): the frontier moves to its mark; progress is told."""
        self._acked.settle(batch, delivered=delivered, rejected=rejected)
        if self._on_progress is not None:
            self._on_progress(self.report(final=False))

    def report(self, *, final: bool) -> ReplayReport:
        """Progress shows the acknowledged frontier's counts; the final report, everything read."""
        acked = self._acked.frontier.totals
        read = self._reading.counts if final else ReadCounts.of(acked)
        sent, base, outlet = self.sent, self._base, self._outlet
        failure = outlet.failure if outlet is not None else None
        return ReplayReport(
            lines=read.lines,
            invalid=read.invalid,
            filtered=read.filtered,
            selected=read.selected,
            delivered=sent.delivered,
            rejected=sent.rejected,
            retries=sent.retries,
            resumed_lines=base["lines"],
            delivered_now=sent.delivered - base["delivered"],
            files=self._reading.files,
            position=acked["position"],
            elapsed=self._clock() - self.started,
            dry_run=isinstance(outlet, DryRun),
            interrupted=final and not self._acked.finished and failure is None,
            stopped=failure,
            resume_from=self._acked.resume_from() if final else None,
            errors=self._problems.kept(),
            skipped=self._skipped,
        )
