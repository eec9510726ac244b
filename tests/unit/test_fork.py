"""Fork hooks are held weakly and forgotten with their objects."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Sequence

import pytest

from b2b_events import Client, Response
from b2b_events._delivery import fork as _fork


class Accepting:
    def send(self, messages: Sequence[bytes]) -> Response:
        return Response(200)

    def close(self) -> None:
        pass


def test_closed_clients_leave_nothing_behind() -> None:
    """os.register_at_fork cannot take a hook back: a client per job must not pile them up."""

    def make_and_close(n: int) -> None:
        for _ in range(n):  # a client per job, as some scripts and handlers do
            Client(transport=Accepting()).close()

    make_and_close(100)  # warm up: imports, caches
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        make_and_close(2_000)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 100_000, f"{grown:,} bytes kept by 2,000 closed clients"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_hooks_run_in_registration_order_and_before_in_reverse() -> None:
    calls: list[str] = []

    class Probe:
        def __init__(self, name: str) -> None:
            self.name = name
            _fork.at_fork(
                before=self.before, after_in_parent=self.parent, after_in_child=self.child
            )

        def before(self) -> None:
            calls.append(f"before {self.name}")

        def parent(self) -> None:
            calls.append(f"parent {self.name}")

        def child(self) -> None:
            os.write(w, f"child {self.name};".encode())

    r, w = os.pipe()
    probes = [Probe("a"), Probe("b")]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe, then leaves
        os._exit(0)
    os.close(w)
    child_report = b""
    while chunk := os.read(r, 4096):  # until the child exits and the pipe closes
        child_report += chunk
    os.close(r)
    os.waitpid(pid, 0)
    assert calls == ["before b", "before a", "parent a", "parent b"]
    assert child_report.decode() == "child a;child b;"
    del probes


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_failing_hook_does_not_skip_the_others(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    class Probe:
        def __init__(self, name: str) -> None:
            self.name = name
            _fork.at_fork(after_in_parent=self.parent)

        def parent(self) -> None:
            ran.append(self.name)
            if self.name == "a":
                raise OSError("a's hook failed")

    probes = [Probe("a"), Probe("b")]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child leaves at once
        os._exit(0)
    os.waitpid(pid, 0)
    assert ran == ["a", "b"]
    assert "a fork hook failed (after_in_parent)" in caplog.text
    del probes


_FORK_WHILE_TRACKING = """
import os
from b2b_events import Client, Response

class Accepting:
    def send(self, messages):
        return Response(200)
    def close(self):
        pass

client = Client(transport=Accepting(), flush_interval=60)
client.track.signed_in(user_id="u", group_id="g")
with client._worker.queue.lock:  # as a signal handler forking in the middle of track()
    pid = os.fork()
if pid == 0:
    client.track.signed_in(user_id="v", group_id="g")  # the child's queue has its own lock
    os._exit(0 if client.stats.tracked == 1 else 3)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_fork_in_a_thread_inside_track_neither_hangs_nor_breaks_the_child() -> None:
    """The memory queue takes no lock around fork(): the forking thread may hold it."""
    done = subprocess.run(
        [sys.executable, "-c", _FORK_WHILE_TRACKING],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["child", "0"]
