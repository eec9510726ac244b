"""One measurement in a fresh process: ``python scenario.py LIB SCENARIO [ARGS]``.

``ours|segment burst URL SETTINGS N``, ``ours async-burst URL N``, ``ours ingest N``,
``both build``.

LIB is ``ours`` (b2b-events) or ``segment`` (segment-analytics-python); SCENARIO is
``burst``, ``async-burst`` or ``ingest``, or ``build`` with LIB ``both`` (the two
libraries in one process); SETTINGS is ``defaults``, ``no-loss`` (the incumbent's
queue raised so that it drops nothing) or ``spool`` (ours with the durable spool).
Prints one JSON object.
Event logs: ``ours make-log PATH N``, ``ours validate PATH``, ``ours replay PATH [URL]``
(the ``b2b-events`` commands; no URL: into a local collector started for the run).
"""

from __future__ import annotations

import json
import re
import resource
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROPS: dict[str, Any] = {
    "type": "organic",
    "first_name": "Peter",
    "last_name": "Gibbons",
    "email": "pgibbons@initech.com",
    "title": "Software Engineer",
}
KEY = "bench-write-key"


def percentiles(samples: list[int]) -> dict[str, float]:
    samples.sort()
    n = len(samples)
    return {"median_us": samples[n // 2] / 1000, "p99_us": samples[int(n * 0.99)] / 1000}


def timed(call: Callable[[int], object], n: int) -> list[int]:
    clock = time.perf_counter_ns
    out = [0] * n
    for i in range(n):
        start = clock()
        call(i)
        out[i] = clock() - start
    return out


def make(lib: str, url: str, settings: str, burst: int) -> tuple[Callable[[int], object], Any]:
    """Return (track one event, client) for ``lib``."""
    if lib == "ours":
        import b2b_events

        spool = None
        if settings == "spool":  # the durable spool, in a fresh directory
            spool = Path(tempfile.mkdtemp(prefix="b2b-bench-")) / "events.sqlite"
        client = b2b_events.Client(write_key=KEY, endpoint=url, spool=spool)
        signed_up = client.track.signed_up

        def track_ours(i: int) -> object:
            return signed_up(user_id=f"u{i}", group_id="acct_123", **PROPS)

        return track_ours, client
    from segment.analytics import Client

    options: dict[str, Any] = {"host": url}
    if settings == "no-loss":
        options["max_queue_size"] = burst * 2
    seg = Client(KEY, **options)
    context = {"groupId": "acct_123"}

    def track_segment(i: int) -> object:
        return seg.track(f"u{i}", "Signed Up", PROPS, context=context)

    return track_segment, seg


def build() -> dict[str, Any]:
    """Cost of building one validated event, no delivery (segment: ``send=False``).

    ``serialized`` is our build followed by the message's JSON, the bytes a
    client queues (analytics-python's worker writes its JSON later, per batch).

    Both libraries run in this one process, in alternating blocks of 1,000
    calls: the machines we measure on change speed from minute to minute (the
    same build has measured 6 us and 10 us in runs a few minutes apart), and
    alternating blocks give both libraries the same minutes.

    A third contender, ``validation``, is the part of our build that the Python
    around the validator cannot make cheaper: pydantic-core validating what the
    builder hands the model's validator (the caller's ids, the account's shared
    context and the properties; the library's own fields come from the model's
    defaults), and nothing else. Segment's time over it is the best ratio a
    build validated by these models can reach on this machine now.
    """
    from segment.analytics import Client

    from b2b_events import Tracker
    from b2b_events.events import SignedUp

    signed_up = Tracker().signed_up
    seg = Client(KEY, send=False)
    context = {"groupId": "acct_123"}
    built = signed_up(user_id="u_1", group_id="acct_123", **PROPS)
    data = {"userId": "u_1", "context": built.context, "properties": PROPS}  # as the builder's
    validator = SignedUp.__pydantic_validator__.validate_python  # the builder's, no walk

    def ours(i: int) -> object:
        return signed_up(user_id="u_1", group_id="acct_123", **PROPS)

    def segment(i: int) -> object:
        return seg.track("u_1", "Signed Up", PROPS, context=context)

    def serialized(i: int) -> object:  # the build and the bytes a client queues
        return signed_up(user_id="u_1", group_id="acct_123", **PROPS).to_json()

    def validation(i: int) -> object:
        return validator(data)

    block, rounds = 1_000, 100
    contenders = (
        ("ours", ours),
        ("segment", segment),
        ("validation", validation),
        ("serialized", serialized),
    )
    for _, call in contenders:
        timed(call, 2_000)  # warm up
    samples: dict[str, list[int]] = {lib: [] for lib, _ in contenders}
    for round_ in range(rounds):  # who goes first alternates too
        for lib, call in contenders[::-1] if round_ % 2 else contenders:
            samples[lib] += timed(call, block)
    result = {
        f"{lib}_{key}": value
        for lib, lib_samples in samples.items()
        for key, value in percentiles(lib_samples).items()
    }
    result["ratio"] = result["segment_median_us"] / result["ours_median_us"]  # this run's pair
    result["ceiling"] = result["segment_median_us"] / result["validation_median_us"]
    result["serialized_ratio"] = result["segment_median_us"] / result["serialized_median_us"]
    return result


def count(url: str) -> int:
    with urllib.request.urlopen(url + "/count") as response:
        return int(response.read())


def wait_count(url: str, target: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    seen = count(url)
    while seen < target and time.monotonic() < deadline:
        time.sleep(0.005)
        seen = count(url)
    return seen


def burst(lib: str, url: str, settings: str, n: int) -> dict[str, Any]:
    """Track ``n`` events as fast as possible; measure call cost, delivery rate, CPU, RSS."""
    track, client = make(lib, url, settings, n)
    before = count(url)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    samples = timed(track, n)
    client.flush()
    arrived = wait_count(url, before + n, timeout=120) - before
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    result = {
        **percentiles(samples),
        "sent": n,
        "delivered": arrived,
        "lost": n - arrived,
        "events_per_s": arrived / wall,
        "cpu_us_per_event": cpu / n * 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if lib == "ours":
        client.close()
    else:
        client.shutdown()
    return result


def async_burst(url: str, n: int) -> dict[str, Any]:
    """``burst`` for AsyncClient: track from a coroutine that yields every 100 calls."""
    import asyncio

    import b2b_events

    async def main() -> dict[str, Any]:
        client = b2b_events.AsyncClient(write_key=KEY, endpoint=url)
        signed_up = client.track.signed_up
        clock = time.perf_counter_ns
        samples = [0] * n
        before = count(url)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(n):
            start = clock()
            signed_up(user_id=f"u{i}", group_id="acct_123", **PROPS)
            samples[i] = clock() - start
            if i % 100 == 99:
                await asyncio.sleep(0)  # as a web app would between requests
        await client.flush(timeout=120)
        arrived = await asyncio.to_thread(wait_count, url, before + n, 120.0)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        await client.aclose()
        return {
            **percentiles(samples),
            "delivered": arrived - before,
            "events_per_s": (arrived - before) / wall,
            "cpu_us_per_event": cpu / n * 1e6,
        }

    return asyncio.run(main())


def ingest(n: int) -> dict[str, Any]:
    """Events/s the local collector ingests (gzip batches of 1,000, validation on)."""
    import gzip
    import subprocess

    import httpx

    from b2b_events import Tracker
    from b2b_events.events import Message

    built: list[Message] = []
    track = Tracker(sink=built.append)
    for i in range(1_000):
        track.signed_up(user_id=f"u{i}", group_id="acct_123", **PROPS)
    batch = b",".join(m.to_json() for m in built)
    body = gzip.compress(b'{"batch":[' + batch + b'],"writeKey":"k"}', compresslevel=1)
    collector = subprocess.Popen(
        [sys.executable, "-m", "b2b_events", "collect", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert collector.stdout is not None
        url = collector.stdout.readline().split()[2] + "/v1/batch"
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        with httpx.Client() as http:
            http.post(url, content=body, headers=headers).raise_for_status()  # warm up
            start = time.perf_counter()
            for _ in range(n // 1_000):
                http.post(url, content=body, headers=headers).raise_for_status()
            elapsed = time.perf_counter() - start
    finally:
        collector.terminate()
        collector.wait()
    return {"events_per_s": n / elapsed}


def make_log(path: str, n: int) -> dict[str, Any]:
    """Write ``n`` archived messages (the ten B2B events, server-set fields on) as .jsonl.gz."""
    import gzip
    from datetime import date

    from b2b_events import Tracker
    from b2b_events.events import Message

    built: list[Message] = []
    track = Tracker(sink=built.append)
    start, end = date(2026, 11, 22), date(2026, 12, 6)
    u, g = "u__N__", "acct__N__"
    track.account_created(user_id=u, group_id=g, account_name="Initech __N__")
    track.signed_up(user_id=u, group_id=g, **PROPS)
    track.signed_in(user_id=u, group_id=g, username="pgibbons")
    track.invite_sent(user_id=u, group_id=g, invitee_email="milton@initech.com")
    track.account_added_user(user_id=u, group_id=g, role="member")
    track.trial_started(
        user_id=u, group_id=g, trial_plan_name="Pro", trial_start_date=start, trial_end_date=end
    )
    track.trial_ended(
        user_id=u, group_id=g, trial_plan_name="Pro", trial_start_date=start, trial_end_date=end
    )
    track.signed_out(user_id=u, group_id=g, username="pgibbons")
    track.identify(user_id=u, traits={"email": "pgibbons@initech.com"})
    track.group(group_id=g, user_id=u, traits={"name": "Initech"})
    server = ',"receivedAt":"2026-11-22T10:00:01.000Z","sentAt":"2026-11-22T10:00:00.500Z"'
    templates = [m.to_json().decode()[:-1] + server + ',"version":2}\n' for m in built]
    with gzip.open(path, "wt", compresslevel=1) as out:
        for i in range(n):
            line = templates[i % len(templates)].replace("__N__", str(i))
            out.write(line.replace(built[i % len(built)].message_id, f"bench-{i:09d}"))
    return {"lines": n}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def validate_log(path: str) -> dict[str, Any]:
    """``b2b-events validate PATH``, in this process: lines/s on one core, peak RSS."""
    import io

    from b2b_events._cli import main as cli

    out = io.StringIO()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    status = cli(["validate", path], out=out)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    lines = int(out.getvalue().split()[0].replace(",", ""))
    return {
        "status": status,
        "lines": lines,
        "lines_per_s": lines / wall,
        "cpu_us_per_line": cpu / lines * 1e6,
        "peak_rss_mb": peak_rss_mb(),
    }


def replay_log(path: str, url: str | None) -> dict[str, Any]:
    """``b2b-events replay PATH`` to URL, or into a local collector run for it (its own process).

    The command as a user runs it (progress and summary to a buffer), in this
    process so that the interpreter's start is not counted.
    """
    import io
    import os
    import subprocess

    from b2b_events._cli import main as cli

    collector = None
    if url is None:
        collector = subprocess.Popen(
            [sys.executable, "-m", "b2b_events", "collect", "--port", "0", "--quiet"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert collector.stdout is not None
        url = collector.stdout.readline().split()[2]
    os.environ["B2B_EVENTS_BENCH_KEY"] = KEY
    out = io.StringIO()
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        status = cli(
            ["replay", path, "--endpoint", url, "--write-key-env", "B2B_EVENTS_BENCH_KEY"], out=out
        )
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        if collector is not None:
            collector.terminate()
            collector.wait()
    # The summary line, "N lines  N delivered  ..."; progress lines and notes around it.
    summary = re.search(r"^[\d,]+ lines  ([\d,]+) delivered", out.getvalue(), re.MULTILINE)
    assert summary is not None, out.getvalue()
    delivered = int(summary[1].replace(",", ""))
    return {
        "ok": status == 0,
        "delivered": delivered,
        "events_per_s": delivered / wall,
        "cpu_us_per_event": cpu / max(delivered, 1) * 1e6,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    lib, scenario = sys.argv[1], sys.argv[2]
    if scenario == "make-log":
        print(json.dumps(make_log(sys.argv[3], int(sys.argv[4]))))
        return
    if scenario == "validate":
        print(json.dumps(validate_log(sys.argv[3])))
        return
    if scenario == "replay":
        print(json.dumps(replay_log(sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)))
        return
    if scenario == "build":  # lib: "both"
        result = build()
    elif scenario == "async-burst":
        result = async_burst(sys.argv[3], int(sys.argv[4]))
    elif scenario == "ingest":
        result = ingest(int(sys.argv[3]))
    else:
        url, settings = sys.argv[3], sys.argv[4]
        result = burst(lib, url, settings, int(sys.argv[5]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
