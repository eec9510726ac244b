"""Reading event logs: plain, gzip, directory trees, stdin; every broken line located."""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from hypothesis import given
from hypothesis import strategies as st

import b2b_events._logs.reader as reader
from b2b_events import LogLine, read_event_log
from b2b_events._logs.finder import find_event_logs, is_stream
from b2b_events._logs.reader import MAX_LINE_BYTES, _line_blocks, count_lines, read_file


def line(i: int) -> str:
    return json.dumps({"type": "track", "event": "Signed In", "userId": f"u{i}"})


def lines_of(n: int, start: int = 0) -> bytes:
    return "".join(line(i) + "\n" for i in range(start, start + n)).encode()


def user_ids(found: list[LogLine]) -> list[str]:
    return [entry.message["userId"] for entry in found if entry.message]


def test_a_plain_file_gives_each_line_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(f"{line(0)}\n\n   \n{line(1)}\r\n{line(2)}")  # blank lines, CRLF, no final \n

    found = list(read_event_log(path))

    assert [(entry.line, entry.error) for entry in found] == [(1, None), (4, None), (5, None)]
    assert user_ids(found) == ["u0", "u1", "u2"]
    assert found[1].location == f"{path}:4"
    assert found[0].file == str(path)


def test_gzip_is_recognised_by_content_not_by_name(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(lines_of(3)))
    (tmp_path / "b.log").write_bytes(gzip.compress(lines_of(2, 3)))
    (tmp_path / "c.gz").write_bytes(lines_of(1, 5))  # named .gz, actually plain

    assert user_ids(list(read_event_log(tmp_path / "a.jsonl.gz"))) == ["u0", "u1", "u2"]
    assert user_ids(list(read_event_log(tmp_path / "b.log"))) == ["u3", "u4"]
    assert user_ids(list(read_event_log(tmp_path / "c.gz"))) == ["u5"]


def test_concatenated_gzip_members_and_zero_padding_are_one_stream(tmp_path: Path) -> None:
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(lines_of(2)) + gzip.compress(lines_of(2, 2)) + b"\0" * 10)

    found = list(read_event_log(path))

    assert user_ids(found) == ["u0", "u1", "u2", "u3"]
    assert all(entry.error is None for entry in found)


def test_a_truncated_gzip_member_keeps_what_was_read_and_reports_where_it_breaks(
    tmp_path: Path,
) -> None:
    data = gzip.compress(lines_of(2_000))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])

    found = list(read_event_log(path))

    *good, broken = found
    assert len(good) > 100
    assert user_ids(good) == [f"u{i}" for i in range(len(good))]
    assert all(entry.error is None for entry in good)
    assert broken.line == len(good) + 1
    assert broken.message is None
    assert broken.error == "gzip stream truncated: the file ends in the middle"


def test_a_truncated_second_member_keeps_the_first(tmp_path: Path) -> None:
    second = gzip.compress(lines_of(2, 2))
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(lines_of(2)) + second[:15])

    found = list(read_event_log(path))

    assert user_ids(found) == ["u0", "u1"]
    assert found[-1].line == 3
    assert found[-1].error is not None


@pytest.mark.parametrize(
    ("tail", "error"),
    [(b"garbage!", "unexpected bytes after the gzip stream"), (b"x", "unexpected bytes")],
)
def test_bytes_after_the_gzip_stream_are_an_error(tmp_path: Path, tail: bytes, error: str) -> None:
    path = tmp_path / "trailing.gz"
    path.write_bytes(gzip.compress(lines_of(1)) + tail)

    found = list(read_event_log(path))

    assert user_ids(found) == ["u0"]
    assert found[-1].error is not None
    assert error in found[-1].error


def test_corrupt_gzip_data_is_an_error(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(lines_of(50)))
    data[30:40] = b"\xff" * 10
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(data))

    found = list(read_event_log(path))

    assert found[-1].error is not None
    assert found[-1].error.startswith("corrupt gzip data")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (b"{bad", "not valid JSON: key must be a string (column 2)"),
        (b'{"type": "track",}', "not valid JSON: trailing comma (column 18)"),
        (b'{"a": 1} {"b": 2}', "not valid JSON: trailing characters (column 10)"),
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b'"text"', "must be a JSON object, not a string"),
        (b"42", "must be a JSON object, not a number"),
        (b"true", "must be a JSON object, not a boolean"),
        (b"null", "must be a JSON object, not null"),
        (b'{"userId": "\xff"}', "not valid JSON"),
    ],
)
def test_lines_that_are_not_json_objects_are_errors(
    tmp_path: Path, text: bytes, error: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(lines_of(1) + text + b"\n" + lines_of(1, 1))

    found = list(read_event_log(path))

    assert [entry.line for entry in found] == [1, 2, 3]
    assert found[1].message is None
    assert found[1].error is not None
    assert found[1].error.startswith(error)
    assert user_ids(found) == ["u0", "u1"]


def test_a_byte_order_mark_on_the_first_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + lines_of(2))

    assert user_ids(list(read_event_log(path))) == ["u0", "u1"]


@pytest.mark.parametrize("final_newline", [True, False])
def test_an_overlong_line_is_an_error_and_not_kept(tmp_path: Path, final_newline: bool) -> None:
    path = tmp_path / "long.jsonl"
    huge = b'{"blob": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}'
    path.write_bytes(lines_of(1) + huge + (b"\n" + lines_of(1, 1) if final_newline else b""))

    found = list(read_event_log(path))

    assert found[1].line == 2
    assert found[1].error == f"line longer than {MAX_LINE_BYTES:,} bytes"
    assert user_ids(found) == (["u0", "u1"] if final_newline else ["u0"])


def test_directories_are_read_recursively_in_segment_layout(tmp_path: Path) -> None:
    logs = tmp_path / "segment-logs"
    (logs / "src2" / "1700086400000").mkdir(parents=True)
    (logs / "src1" / "1700000000000").mkdir(parents=True)
    (logs / "src1" / "1700086400000").mkdir(parents=True)
    (logs / "src1" / "1700086400000" / "part-2.gz").write_bytes(gzip.compress(lines_of(1, 2)))
    (logs / "src1" / "1700086400000" / "part-1.gz").write_bytes(gzip.compress(lines_of(1, 1)))
    (logs / "src1" / "1700000000000" / "x.jsonl").write_bytes(lines_of(1, 0))
    (logs / "src2" / "1700086400000" / "y.jsonl.gz").write_bytes(gzip.compress(lines_of(1, 3)))
    (logs / "src2" / "README.md").write_text("not a log")
    (logs / "src2" / ".hidden.jsonl").write_bytes(lines_of(1, 99))
    (logs / ".tmp").mkdir()
    (logs / ".tmp" / "z.jsonl").write_bytes(lines_of(1, 98))

    assert user_ids(list(read_event_log(logs))) == ["u0", "u1", "u2", "u3"]
    files = find_event_logs([logs, logs / "src2" / "README.md", logs / "src1"])
    assert [Path(f).name for f in files] == [
        "x.jsonl",
        "part-1.gz",
        "part-2.gz",
        "y.jsonl.gz",
        "README.md",  # named explicitly: read whatever its name
    ]


def test_a_missing_path_raises_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as raised:
        find_event_logs([tmp_path, tmp_path / "nope.jsonl"])
    assert raised.value.filename == str(tmp_path / "nope.jsonl")


@pytest.fixture
def fifo_among_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``logs/`` with two logs and a FIFO named like one; opening the FIFO fails the test.

    Opening a FIFO with no writer blocks forever: the guard turns that hang
    into a failure (``_open`` is the reader's only way to open a path).
    """
    logs = tmp_path / "logs"
    (logs / "a").mkdir(parents=True)
    (logs / "a" / "1.jsonl").write_bytes(lines_of(1, 0))
    os.mkfifo(logs / "a" / "2.jsonl")
    (logs / "a" / "3.jsonl").write_bytes(lines_of(1, 1))
    real_open = reader._open

    def guarded(file: str) -> BinaryIO:
        assert not file.endswith("2.jsonl"), "the FIFO was opened"
        return real_open(file)

    monkeypatch.setattr(reader, "_open", guarded)
    return logs


def test_a_fifo_in_a_directory_is_skipped_and_reported_never_opened(
    fifo_among_logs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    skipped: list[tuple[str, str]] = []

    files = find_event_logs([fifo_among_logs], on_skip=lambda *entry: skipped.append(entry))

    assert [Path(f).name for f in files] == ["1.jsonl", "3.jsonl"]
    assert skipped == [
        (str(fifo_among_logs / "a" / "2.jsonl"), "a FIFO (named pipe), not a regular file")
    ]
    # read_event_log says so in the log, and reads the rest.
    with caplog.at_level("WARNING", logger="b2b_events"):
        assert user_ids(list(read_event_log(fifo_among_logs))) == ["u0", "u1"]
    assert [r.getMessage() for r in caplog.records] == [
        f"b2b-events: skipped {fifo_among_logs / 'a' / '2.jsonl'}: "
        "a FIFO (named pipe), not a regular file"
    ]
    assert count_lines(files) == 2


def test_skipped_entries_are_reported_in_path_order(tmp_path: Path) -> None:
    names = [f"{day}/{part}.jsonl" for day in ("d3", "d1", "d2") for part in ("z", "a", "m")]
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        os.mkfifo(tmp_path / name)
    skipped: list[str] = []

    assert find_event_logs([tmp_path], on_skip=lambda path, why: skipped.append(path)) == []
    assert skipped == sorted(str(tmp_path / name) for name in names)


def test_a_fifo_named_explicitly_is_read_as_a_stream_and_not_counted(tmp_path: Path) -> None:
    fifo = tmp_path / "live.jsonl"
    os.mkfifo(fifo)
    (tmp_path / "file.jsonl").write_bytes(lines_of(1))
    assert not is_stream(str(tmp_path / "file.jsonl"))
    writer = threading.Thread(target=fifo.write_bytes, args=(lines_of(2),), daemon=True)
    writer.start()

    assert find_event_logs([fifo]) == [str(fifo)]
    assert is_stream(str(fifo))
    assert is_stream("-")
    assert count_lines([str(fifo)]) == 0  # counting would consume (or block on) the pipe
    assert user_ids(list(read_event_log(fifo))) == ["u0", "u1"]
    writer.join()


@pytest.fixture
def unlistable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``logs/`` with a readable log and a sub-directory this process cannot list.

    The directory is made mode 000. Root is not refused by the kernel then
    (CAP_DAC_OVERRIDE), and the tests run as root in CI: for root only, listing
    that one directory raises the PermissionError the kernel gives anyone else.
    tests/integration/test_replay_cli.py has the kernel's own refusal, in a
    process without privileges.
    """
    logs = tmp_path / "logs"
    (logs / "closed").mkdir(parents=True)
    (logs / "closed" / "x.jsonl").write_bytes(lines_of(1, 9))
    (logs / "open.jsonl").write_bytes(lines_of(1, 0))
    closed = logs / "closed"
    closed.chmod(0)
    if os.geteuid() == 0:
        real_scandir = os.scandir

        def scandir(path: Any = ".") -> Any:
            if os.fspath(path) == str(closed):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    yield logs
    monkeypatch.undo()
    closed.chmod(0o755)


def test_a_directory_that_cannot_be_listed_is_an_error(unlistable: Path) -> None:
    with pytest.raises(PermissionError) as raised:
        find_event_logs([unlistable])
    assert raised.value.filename == str(unlistable / "closed")
    with pytest.raises(PermissionError):
        next(read_event_log(unlistable))


def test_a_directory_that_cannot_be_listed_is_skipped_on_request(unlistable: Path) -> None:
    skipped: list[tuple[str, str]] = []

    files = find_event_logs(
        [unlistable], skip_unreadable=True, on_skip=lambda *entry: skipped.append(entry)
    )

    assert files == [str(unlistable / "open.jsonl")]
    assert skipped == [(str(unlistable / "closed"), "cannot list the directory: Permission denied")]


def test_a_file_that_cannot_be_opened_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(file: str) -> None:
        raise PermissionError(13, "Permission denied", file)

    monkeypatch.setattr(reader, "_open", refuse)

    assert list(read_file(str(tmp_path / "x.jsonl"))) == [
        LogLine(str(tmp_path / "x.jsonl"), 0, None, "cannot read: Permission denied")
    ]


def test_a_read_error_is_reported_at_the_line_where_it_happens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Failing(io.BytesIO):
        def read1(self, size: int | None = -1) -> bytes:
            if self.tell():
                raise OSError(5, "Input/output error")
            return super().read1(size)

    monkeypatch.setattr(reader, "_open", lambda file: Failing(lines_of(2)))

    found = list(read_file("x.jsonl"))

    assert user_ids(found) == ["u0", "u1"]
    assert found[-1].line == 3
    assert found[-1].error is not None
    assert "Input/output error" in found[-1].error


@pytest.mark.parametrize("compress", [False, True])
def test_stdin_is_read_with_a_dash(monkeypatch: pytest.MonkeyPatch, compress: bool) -> None:
    data = lines_of(3)
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(data) if compress else data))
    )

    found = list(read_event_log("-"))

    assert user_ids(found) == ["u0", "u1", "u2"]
    assert found[0].location == "<stdin>:1"


def test_count_lines_counts_every_line_for_progress(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(lines_of(3) + b"\n" + line(9).encode())  # no final \n
    (tmp_path / "b.gz").write_bytes(gzip.compress(lines_of(4)))
    cut = gzip.compress(lines_of(1_000))
    (tmp_path / "c.gz").write_bytes(cut[: len(cut) // 2])

    assert count_lines([str(tmp_path / "a.jsonl"), str(tmp_path / "b.gz"), "-"]) == 9
    assert 0 < (count_lines([str(tmp_path / "c.gz")]) or 0) < 1_000
    assert count_lines([str(tmp_path / "missing.jsonl")]) == 0


def test_count_lines_stops_when_told(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(lines_of(3))
    stop = threading.Event()

    assert count_lines([str(tmp_path / "a.jsonl")], stop=stop) == 3
    stop.set()
    assert count_lines([str(tmp_path / "a.jsonl")], stop=stop) is None


def test_a_gzip_bomb_is_decompressed_in_bounded_steps(tmp_path: Path) -> None:
    # 32 MiB of spaces in well under 1 MiB: never held at once.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    data = b"".join(compressor.compress(b" " * (1 << 20)) for _ in range(32))
    path = tmp_path / "bomb.gz"
    path.write_bytes(data + compressor.flush())

    with path.open("rb") as stream:
        sizes = [len(chunk) for chunk in reader._chunks(stream)]

    assert max(sizes) <= reader._CHUNK
    assert sum(sizes) == 32 << 20
    assert [entry.error for entry in read_event_log(path)] == [
        f"line longer than {MAX_LINE_BYTES:,} bytes"
    ]


@given(
    st.lists(st.binary(max_size=40), max_size=20),
    st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=10),
)
def test_lines_do_not_depend_on_where_chunks_end(parts: list[bytes], cuts: list[int]) -> None:
    text = b"\n".join(part.replace(b"\n", b"") for part in parts)
    chunks, position, index = [], 0, 0
    while position < len(text):
        size = cuts[index % len(cuts)]
        chunks.append(text[position : position + size])
        position, index = position + size, index + 1

    split = [raw for block in _line_blocks(iter(chunks)) for raw in block]

    expected = text.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert split == expected
