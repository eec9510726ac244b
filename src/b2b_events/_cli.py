"""The ``b2b-events`` command: ``collect``, ``demo``, ``export`` and ``schema``.

Exit status: 0 on success, 1 when the work found a problem, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from ._demo import run_demo
from ._exceptions import InvalidEventError
from ._version import __version__
from .collector import Collector, iter_sqlite
from .events import json_schema, properties_schema, tracking_plan

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="b2b-events", description="Typed Segment B2B SaaS events: tools."
    )
    parser.add_argument("--version", action="version", version=f"b2b-events {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    collect = commands.add_parser(
        "collect", help="run a local Segment-compatible collector (POST /v1/batch)"
    )
    collect.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    collect.add_argument("--port", type=int, default=8088, help="port (default 8088; 0: any)")
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
    collect.add_argument("--quiet", action="store_true", help="no line per message")
    faults = collect.add_argument_group("fault injection")
    faults.add_argument("--fail-next", type=int, default=0, metavar="N", help="fail N requests")
    faults.add_argument("--fail-status", type=int, default=503, metavar="CODE", help="(503)")
    faults.add_argument("--rate-limit-next", type=int, default=0, metavar="N", help="429 N times")
    faults.add_argument("--retry-after", type=float, default=1.0, metavar="S", help="(1.0)")
    faults.add_argument("--drop-next", type=int, default=0, metavar="N", help="reset N connections")
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
    return parser


def _collect(args: argparse.Namespace, out: TextIO) -> int:
    write_key = None
    if args.write_key_env:
        write_key = os.environ.get(args.write_key_env)
        if not write_key:
            print(f"b2b-events: ${args.write_key_env} is not set", file=sys.stderr)
            return 2
    collector = Collector(
        host=args.host,
        port=args.port,
        db=args.db,
        write_key=write_key,
        reject_invalid=args.reject_invalid,
        live=not args.quiet,
        out=out,
    )
    collector.faults.fail_next(args.fail_next, status=args.fail_status)
    collector.faults.rate_limit_next(args.rate_limit_next, retry_after=args.retry_after)
    collector.faults.drop_next(args.drop_next)
    collector.faults.delay = args.delay

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    print(f"listening on {collector.url}  (POST /v1/batch)", file=out, flush=True)
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
    target = open(args.output, "w", encoding="utf-8") if args.output else out  # noqa: SIM115
    try:
        count = 0
        for stored in iter_sqlite(args.db):
            target.write(json.dumps(stored.to_log_line(), separators=(",", ":")) + "\n")
            count += 1
    finally:
        if target is not out:
            target.close()
    if args.output:
        print(f"{count} message(s) written to {args.output}", file=out)
    return 0


def _schema(args: argparse.Namespace, out: TextIO) -> int:
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
    if args.command == "collect":
        return _collect(args, out)
    if args.command == "demo":
        return run_demo(out, live=not args.quiet)
    if args.command == "export":
        return _export(args, out)
    return _schema(args, out)
