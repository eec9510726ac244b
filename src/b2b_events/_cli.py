"""The ``b2b-events`` command: collect, demo, export, schema, validate and replay.

Exit status: 0 on success, 1 when the work found a problem, 2 for usage errors
(and files or addresses that cannot be used), 141 when the reader of the output
went away (``| head``), as for a tool ended by SIGPIPE.
"""

from __future__ import annotations

import argparse
import gc
import getpass
import itertools
import json
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from pydantic_core import from_json

from ._client import DEFAULT_ENDPOINT
from ._delivery.wire import MAX_BATCH_EVENTS
from ._demo import run_demo
from ._exceptions import ConfigurationError, InvalidEventError, TrackingPlanError
from ._logs.finder import STDIN, find_event_logs, is_stream
from ._logs.progress import Display, progress_display
from ._logs.reader import LogLine, count_lines, display_name, parse_line, read_raw
from ._logs.replay import ReplayReport, replay
from ._plan import TrackingPlan
from ._version import __version__
from .collector import Collector, iter_sqlite
from .events import json_schema, properties_schema, tracking_plan, validate
from .events._schema import DRAFT_07
from .events._validate import valid_name

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="b2b-events", description="Typed Segment B2B SaaS events: tools."
    )
    parser.add_argument("--version", action="version", version=f"b2b-events {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    collect = commands.add_parser(
        "collect", help="run a local Segment-compatible collector, with a web view"
    )
    collect.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    collect.add_argument("--port", type=_port, default=8088, help="port (default 8088; 0: any)")
    collect.add_argument("--db", metavar="FILE", help="store in this SQLite file (default: memory)")
    collect.add_argument(
        "--write-key-env",
        metavar="VAR",
        help="require the write key held in environment variable VAR (else 401)",
    )
    collect.add_argument(
        "--reject-invalid",
        action="store_true",
        help="answer 400 to requests with messages that break the spec",
    )
    collect.add_argument(
        "--quiet", action="store_true", help="no line per message or refused request"
    )
    faults = collect.add_argument_group("fault injection")
    faults.add_argument("--fail-next", type=_count, default=0, metavar="N", help="fail N requests")
    faults.add_argument("--fail-status", type=_status, default=503, metavar="CODE", help="(503)")
    faults.add_argument(
        "--rate-limit-next", type=_count, default=0, metavar="N", help="429 N times"
    )
    faults.add_argument("--retry-after", type=float, default=1.0, metavar="S", help="(1.0)")
    faults.add_argument(
        "--drop-next", type=_count, default=0, metavar="N", help="reset N connections"
    )
    faults.add_argument("--delay", type=float, default=0.0, metavar="S", help="delay every answer")

    demo = commands.add_parser("demo", help="send a B2B lifecycle to a local collector")
    demo.add_argument("--quiet", action="store_true", help="only the summary")

    export = commands.add_parser(
        "export", help="write a collector database out as an event log (JSON lines)"
    )
    export.add_argument("db", metavar="DB", help="the collector's SQLite file")
    export.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")

    schema = commands.add_parser("schema", help="print JSON Schema (draft-07) for the events")
    schema.add_argument("event", nargs="?", help='one event, e.g. "Signed Up"')
    schema.add_argument(
        "--properties", action="store_true", help="only the properties object's schema"
    )
    schema.add_argument(
        "--format",
        choices=_FORMATS,
        help="with --plan: segment (Public API, Typewriter 9), segment-legacy (Config API, "
        "Typewriter 7) or json-schema (one TRACK rule per event; default)",
    )

    check = commands.add_parser(
        "validate", help="check event logs (JSON lines, gzip, directories, '-' for stdin)"
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="file, directory or '-'")
    check.add_argument(
        "--max-errors", type=_count, default=100, metavar="N", help="invalid lines shown (100)"
    )
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.add_argument(
        "--strict",
        action="store_true",
        help="track events outside the plan (default: the spec's ten) are invalid",
    )
    _add_skip_unreadable(check)

    send = commands.add_parser(
        "replay", help="re-send event logs to a Segment-compatible endpoint, resumably"
    )
    send.add_argument("paths", nargs="+", metavar="PATH", help="file, directory or '-'")
    send.add_argument(
        "--endpoint", default=DEFAULT_ENDPOINT, metavar="URL", help=f"(default {DEFAULT_ENDPOINT})"
    )
    send.add_argument(
        "--write-key-env",
        metavar="VAR",
        help="read the write key from environment variable VAR (default: ask for it)",
    )
    send.add_argument(
        "--integrations",
        type=_json_object,
        metavar="JSON",
        help='replace each message\'s integrations, e.g. \'{"All": false, "Mixpanel": true}\'',
    )
    send.add_argument(
        "--event",
        action="append",
        metavar="NAME",
        help="only this event (repeatable); for other calls their type: 'identify', 'group', "
        "'page', 'screen', 'alias'",
    )
    send.add_argument("--since", type=_moment, metavar="TIME", help="only timestamps >= TIME")
    send.add_argument("--until", type=_moment, metavar="TIME", help="only timestamps < TIME")
    send.add_argument("--rate", type=_rate, metavar="N", help="at most N events per second")
    send.add_argument("--dry-run", action="store_true", help="validate and count; send nothing")
    send.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="record progress here; rerunning the same command resumes after it",
    )
    send.add_argument(
        "--batch-size",
        type=_batch_size,
        default=1_000,
        metavar="N",
        help=f"messages per request, 1 to {MAX_BATCH_EVENTS:,} (1,000)",
    )
    send.add_argument(
        "--max-errors", type=_count, default=100, metavar="N", help="problem lines shown (100)"
    )
    send.add_argument("--quiet", action="store_true", help="no progress, only problems and summary")
    _add_skip_unreadable(send)
    for command in (collect, schema, check, send):
        command.add_argument(
            "--plan",
            type=_plan,
            metavar="PLAN",
            help="a tracking plan: module:attribute (a b2b_events.TrackingPlan) or plan.json "
            "(a Segment tracking plan); default: the ten B2B SaaS events",
        )
    return parser


def _add_skip_unreadable(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="skip directories that cannot be listed (listed as skipped) instead of failing",
    )


_FORMATS = ("segment", "segment-legacy", "json-schema")


def _plan(text: str) -> TrackingPlan:
    if "" not in sys.path:  # `--plan myapp.events:PLAN` from the project's directory
        sys.path.insert(0, "")
    try:
        return TrackingPlan.load(text)
    except TrackingPlanError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None


def _count(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _batch_size(text: str) -> int:
    value = _whole(text)
    if not 1 <= value <= MAX_BATCH_EVENTS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_BATCH_EVENTS}, not {value}")
    return value


def _status(text: str) -> int:
    value = _whole(text)
    if not 100 <= value <= 599:
        raise argparse.ArgumentTypeError(f"must be an HTTP status, 100 to 599, not {value}")
    return value


def _port(text: str) -> int:
    value = _whole(text)
    if not 0 <= value <= 65_535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, not {value}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 events per second, not {text}")
    return value


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object such as {"All": false}')
    return value


def _moment(text: str) -> datetime:
    """An ISO-8601 date or date-time; without a zone it is UTC (as Segment's timestamps)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 date or date-time (2026-11-22, 2026-11-22T10:00:00Z): {text!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _collect(args: argparse.Namespace, out: TextIO) -> int:
    write_key = None
    if args.write_key_env:
        write_key = os.environ.get(args.write_key_env)
        if not write_key:
            print(f"b2b-events: ${args.write_key_env} is not set", file=sys.stderr)
            return 2
    try:
        collector = Collector(
            host=args.host,
            port=args.port,
            db=args.db,
            write_key=write_key,
            reject_invalid=args.reject_invalid,
            live=not args.quiet,
            out=out,
            plan=args.plan,
        )
    except (OSError, sqlite3.Error) as exc:  # port in use, unknown host, no such directory
        print(f"b2b-events: cannot start the collector: {exc}", file=sys.stderr)
        return 2
    collector.faults.fail_next(args.fail_next, status=args.fail_status)
    collector.faults.rate_limit_next(args.rate_limit_next, retry_after=args.retry_after)
    collector.faults.drop_next(args.drop_next)
    collector.faults.delay = args.delay
    if args.db is None:
        # This process keeps every message for its whole life: move them out of the
        # cyclic GC's reach as they are stored, or each full collection walks them
        # all and ingest slows down as the store grows (a third slower at 200k).
        collector._httpd.after_store = gc.freeze

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    print(f"listening on {collector.url}  (POST /v1/batch)", file=out)
    sign_in = "  (user name: the write key, no password)" if write_key else ""
    print(f"web view: {collector.view_url}{sign_in}", file=out, flush=True)
    try:
        collector.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        count = collector.count()
        collector.stop()
        print(f"stopped; {count} message(s) stored", file=out, flush=True)
    return 0


def _export(args: argparse.Namespace, out: TextIO) -> int:
    if not Path(args.db).is_file():
        print(f"b2b-events: no such database: {args.db}", file=sys.stderr)
        return 2
    stored_messages = iter_sqlite(args.db)
    try:
        first = next(stored_messages, None)  # not a collector database: said before -o is made
    except sqlite3.Error as exc:
        print(f"b2b-events: {args.db} is not a collector database ({exc})", file=sys.stderr)
        return 2
    try:
        target = open(args.output, "w", encoding="utf-8") if args.output else out  # noqa: SIM115
    except OSError as exc:
        print(f"b2b-events: cannot write {args.output}: {exc}", file=sys.stderr)
        return 2
    rows = () if first is None else itertools.chain([first], stored_messages)
    try:
        count = 0
        for stored in rows:
            target.write(json.dumps(stored.to_log_line(), separators=(",", ":")) + "\n")
            count += 1
    finally:
        if target is not out:
            target.close()
    if args.output:
        print(f"{count} message(s) written to {args.output}", file=out)
    return 0


def _schema(args: argparse.Namespace, out: TextIO) -> int:
    if args.plan is not None or args.format is not None:
        return _plan_schema(args, out)
    try:
        if args.event is None:
            document = tracking_plan()
        elif args.properties:
            document = properties_schema(args.event)
        else:
            document = json_schema(args.event)
    except InvalidEventError as error:
        print(f"b2b-events: {error}", file=sys.stderr)
        return 2
    out.write(json.dumps(document, indent=2) + "\n")
    return 0


def _plan_schema(args: argparse.Namespace, out: TextIO) -> int:
    """``schema --plan P --format F``: the plan as Segment reads it, or its JSON Schemas."""
    plan: TrackingPlan = args.plan or TrackingPlan.b2b_saas()
    fmt = args.format or "json-schema"
    if fmt != "json-schema" and (args.event is not None or args.properties):
        print(
            f"b2b-events: --format {fmt} writes the whole plan: an event and --properties "
            "need --format json-schema",
            file=sys.stderr,
        )
        return 2
    if args.properties and args.event is None:
        print("b2b-events: --properties needs an event and --format json-schema", file=sys.stderr)
        return 2
    try:
        if fmt != "json-schema":
            document = plan.to_segment(legacy=fmt == "segment-legacy")
        elif args.event is not None:
            document = plan.json_schema(args.event)
            if args.properties:
                document = _properties_part(document)
        else:
            document = {event: plan.json_schema(event) for event in plan.events}
    except TrackingPlanError as error:
        print(f"b2b-events: {error}", file=sys.stderr)
        return 2
    out.write(json.dumps(document, indent=2) + "\n")
    return 0


def _properties_part(rule: dict[str, Any]) -> dict[str, Any]:
    """The ``properties`` object's schema from a TRACK rule's, standing on its own."""
    part = rule.get("properties", {}).get("properties")
    schema: dict[str, Any] = {"$schema": DRAFT_07, **(part if isinstance(part, dict) else {})}
    if "definitions" in rule:  # the rule's $refs point at its root
        schema["definitions"] = rule["definitions"]
    return schema


def _find(args: argparse.Namespace) -> tuple[list[str], list[tuple[str, str]]] | None:
    """The files to read and the entries skipped (path, why); None (said) when unusable.

    Unusable: a path is missing, a directory cannot be listed (without
    ``--skip-unreadable``) or there are no logs.
    """
    paths: Sequence[str] = args.paths
    if sum(path == STDIN for path in paths) > 1:
        print("b2b-events: '-' (stdin) can be read only once", file=sys.stderr)
        return None
    skipped: list[tuple[str, str]] = []
    try:
        files = find_event_logs(
            paths,
            skip_unreadable=args.skip_unreadable,
            on_skip=lambda path, why: skipped.append((path, why)),
        )
    except FileNotFoundError as exc:
        print(f"b2b-events: no such file or directory: {exc.filename}", file=sys.stderr)
        return None
    except OSError as exc:  # a directory that cannot be listed
        print(
            f"b2b-events: cannot list the directory {exc.filename}: {exc.strerror or exc}"
            " (--skip-unreadable skips it)",
            file=sys.stderr,
        )
        return None
    if not files:
        print(
            "b2b-events: no event logs (*.jsonl, *.jsonl.gz, *.gz) under " + ", ".join(paths),
            file=sys.stderr,
        )
        return None
    return files, skipped


def _skipped_text(skipped: Sequence[tuple[str, str]]) -> str:
    """``file: skipped: why``, a line for each entry skipped."""
    return "".join(f"{path}: skipped: {why}\n" for path, why in skipped)


class _Tally:
    """What ``validate`` counts: lines, invalid lines, by event; the first invalid ones in full."""

    def __init__(self, *, strict: bool, max_errors: int, plan: TrackingPlan | None = None) -> None:
        self.strict = strict
        self.plan = plan
        self.max_errors = max_errors
        self.lines = self.invalid = 0
        self.by_event: dict[str, list[int]] = {}  # name -> [valid, invalid]
        self.shown: list[dict[str, Any]] = []

    def read(self, file: str) -> Iterator[str]:
        """Count the lines of ``file``; yield ``file:line: problems`` for each invalid one shown.

        Millions of lines go through here: a valid line costs a parse and a
        validation (``valid_name``) and no more; the rare others go through
        ``add``, which validates again to say what is wrong.
        """
        name = display_name(file)
        strict = self.strict
        valid: dict[str, int] = {}
        try:
            for block in read_raw(file):
                if isinstance(block, LogLine):
                    text = self.add(block)
                    if text is not None:
                        yield text
                    continue
                first, lines = block
                for number, raw in enumerate(lines, first):
                    try:
                        message = from_json(raw, cache_strings="keys")
                    except ValueError:
                        message = None
                    if type(message) is dict and self.plan is None:  # with a plan: add()
                        event = valid_name(message, strict=strict, text=raw)
                        if event is not None:
                            valid[event] = valid.get(event, 0) + 1
                            continue
                    line = parse_line(name, number, raw)
                    if line is not None:
                        text = self.add(line)
                        if text is not None:
                            yield text
        finally:
            for event, count in valid.items():
                self.lines += count
                self.by_event.setdefault(event, [0, 0])[0] += count

    def add(self, line: LogLine) -> str | None:
        """Count one line; return ``file:line: problems`` when it is invalid and shown."""
        self.lines += 1
        message = line.message
        if message is None:
            event, problems = None, [{"path": "", "reason": line.error}]
            text = f"{line.location}: {line.error}"
        else:
            try:
                typed = validate(message, strict=self.strict, plan=self.plan)
            except InvalidEventError as error:
                self.by_event.setdefault(error.event, [0, 0])[1] += 1
                event = error.event
                problems = [{"path": p.path, "reason": p.reason} for p in error.problems]
                text = f"{line.location}: {error}"
            else:
                self.by_event.setdefault(typed.name, [0, 0])[0] += 1
                return None
        self.invalid += 1
        if len(self.shown) >= self.max_errors:
            return None
        self.shown.append(
            {"file": line.file, "line": line.line, "event": event, "problems": problems}
        )
        return text


def _validate(args: argparse.Namespace, out: TextIO) -> int:
    found = _find(args)
    if found is None:
        return 2
    files, skipped = found
    if not args.json:
        out.write(_skipped_text(skipped))
    tally = _Tally(strict=args.strict, max_errors=args.max_errors, plan=args.plan)
    for file in files:
        for text in tally.read(file):
            if not args.json:
                out.write(text + "\n")
    lines, invalid, shown = tally.lines, tally.invalid, tally.shown
    by_event = sorted(tally.by_event.items())
    if args.json:
        document = {
            "files": len(files),
            "lines": lines,
            "valid": lines - invalid,
            "invalid": invalid,
            "by_event": {name: {"valid": ok, "invalid": bad} for name, (ok, bad) in by_event},
            "errors": shown,
            "errors_truncated": invalid > len(shown),
            "skipped": [{"path": path, "reason": why} for path, why in skipped],
        }
        out.write(json.dumps(document, indent=2) + "\n")
        return 0 if invalid == 0 else 1
    if invalid > len(shown):
        out.write(
            f"... {invalid - len(shown):,} more invalid lines (--max-errors {args.max_errors})\n"
        )
    files_text = f"{len(files):,} file" + ("s" if len(files) != 1 else "")
    skipped_text = f" ({len(skipped):,} skipped)" if skipped else ""
    out.write(
        f"{lines:,} lines  {lines - invalid:,} valid  {invalid:,} invalid"
        f"  in {files_text}{skipped_text}\n"
    )
    if by_event:
        width = max(len("event"), *(len(name) for name, _ in by_event))
        out.write(f"  {'event':<{width}}  {'valid':>11}  {'invalid':>9}\n")
        for name, (ok, bad) in by_event:
            out.write(f"  {name:<{width}}  {ok:>11,}  {bad:>9,}\n")
    return 0 if invalid == 0 else 1


def _write_key(args: argparse.Namespace) -> str | None:
    """The write key from ``--write-key-env``, else a prompt on the terminal; never echoed."""
    if args.dry_run:
        return ""
    if args.write_key_env:
        key = os.environ.get(args.write_key_env)
        if not key:
            print(f"b2b-events: ${args.write_key_env} is not set", file=sys.stderr)
            return None
        return key
    if STDIN in args.paths or not sys.stdin.isatty():
        print(
            "b2b-events: no terminal to ask for the write key on: pass --write-key-env VAR",
            file=sys.stderr,
        )
        return None
    key = getpass.getpass("Write key of the destination source: ", stream=sys.stderr).strip()
    if not key:
        print("b2b-events: no write key given", file=sys.stderr)
        return None
    return key


SWITCH_INTERVAL = 0.0005
"""The interpreter's thread switch interval while ``replay`` runs, in seconds (at most).

The sender thread gives up the GIL for each network call and compression, and
then waits for the reading thread, which is busy validating, to hand it back:
up to the switch interval (5 ms by default), several times a batch. Into a
local collector that wait, not the work, set the pace. The command is meant to
own its process, so it shortens the interval for the run and puts it back after.
"""

_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


@contextmanager
def _short_switch_interval() -> Iterator[None]:
    """``SWITCH_INTERVAL`` (or shorter, if already) while any replay in this process runs."""
    global _switch_users, _switch_saved  # noqa: PLW0603 - one interpreter-wide setting
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class _LineCount:
    """Counts the inputs' lines on a thread of its own and gives the total to the display.

    The replay starts at once instead of after a full read of the inputs (on a
    large archive, a long wait); the progress gets its percent and ETA when the
    count is done.
    """

    def __init__(self, files: Sequence[str], display: Display) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(files, display), name="b2b-events-count", daemon=True
        )
        self._thread.start()

    def _run(self, files: Sequence[str], display: Display) -> None:
        total = count_lines(files, stop=self._stop)
        if total is not None:
            display.set_total(total)

    def stop(self) -> None:
        """Stop counting (the replay ended) and wait for the thread."""
        self._stop.set()
        self._thread.join()


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    found = _find(args)
    if found is None:
        return 2
    files, skipped = found
    write_key = _write_key(args)
    if write_key is None:
        return 2
    out.write(_skipped_text(skipped))
    display = progress_display(out, total=None, max_problems=args.max_errors, quiet=args.quiet)
    streams = any(is_stream(file) for file in files)  # counting would consume them: no total
    counting = None if args.quiet or streams else _LineCount(files, display)
    stop = threading.Event()
    restore = _stop_on_signals(stop)
    try:
        with _short_switch_interval():
            report = replay(
                *args.paths,
                endpoint=args.endpoint,
                write_key=write_key or None,
                integrations=args.integrations,
                events=args.event,
                since=args.since,
                until=args.until,
                rate=args.rate,
                dry_run=args.dry_run,
                checkpoint=args.checkpoint,
                max_batch_events=args.batch_size,
                max_errors=args.max_errors,
                skip_unreadable=args.skip_unreadable,
                on_progress=display.update,
                on_problem=display.problem,
                on_retry=display.retry,
                stop=stop,
                plan=args.plan,
            )
    except (ConfigurationError, OSError) as error:  # OSError: a path gone since _find
        display.close()
        print(f"b2b-events: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        display.close()
        saved = "; the checkpoint holds what was acknowledged" if args.checkpoint else ""
        print(f"b2b-events: interrupted{saved}", file=sys.stderr)
        return 1
    finally:
        restore()
        if counting is not None:
            counting.stop()
    display.close()
    _print_summary(report, args, out)
    return 0 if report.ok else 1


def _print_summary(report: ReplayReport, args: argparse.Namespace, out: TextIO) -> None:
    if report.dry_run:
        sent, timing = f"{report.selected:,} to send", f"{report.elapsed:.1f} s"
    else:
        rate = report.delivered_now / max(report.elapsed, 1e-9)
        sent, timing = (
            f"{report.delivered:,} delivered",
            f"{report.elapsed:.1f} s, {rate:,.0f} ev/s",
        )
    out.write(
        f"{report.lines:,} lines  {sent}  {report.invalid:,} invalid  "
        f"{report.filtered:,} filtered out  {report.rejected:,} refused  ({timing})\n"
    )
    if report.skipped:
        out.write(f"{len(report.skipped):,} skipped (listed above)\n")
    if report.resumed_lines:
        out.write(f"resumed after {report.resumed_lines:,} lines done by earlier runs\n")
    if report.dry_run:
        out.write("dry run: nothing was sent\n")
    elif report.resume_from is not None:
        why = f"stopped: {report.stopped}" if report.stopped else "interrupted"
        again = (
            "run the same command to resume"
            if args.checkpoint
            else "use --checkpoint FILE to be able to resume"
        )
        out.write(f"{why}\nnot delivered from {report.resume_from} on; {again}\n")
    if report.invalid:
        out.write("invalid lines were skipped, not sent")
        out.write(" (some reported by earlier runs)\n" if report.resumed_lines else "\n")


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """First Ctrl-C (or SIGTERM): stop after the batch in flight. Second: quit at once."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(
            "\nb2b-events: stopping after the batch in flight (Ctrl-C again to quit at once)",
            file=sys.stderr,
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit status.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).
        out: Where normal output goes (default: stdout); errors go to stderr.
    """
    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        status = _run(args, out)
        out.flush()  # here, not at exit: a closed pipe is then caught below too
    except BrokenPipeError:  # `b2b-events validate ... | head`: the reader has what it wanted
        if out is sys.stdout:  # and the interpreter's last flush must not fail again
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return 141
    return status


def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "collect":
        return _collect(args, out)
    if args.command == "demo":
        return run_demo(out, live=not args.quiet)
    if args.command == "export":
        return _export(args, out)
    if args.command == "validate":
        return _validate(args, out)
    if args.command == "replay":
        return _replay(args, out)
    return _schema(args, out)
