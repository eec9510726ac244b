"""The quickstarts of the README and of the docs run as written against the local collector."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from b2b_events.collector import running

ROOT = Path(__file__).parents[2]
WRITTEN_FOR = "http://127.0.0.1:8088"  # what the reader starts: b2b-events collect --port 8088


def first_python_block(path: Path, after: str) -> str:
    text = path.read_text(encoding="utf-8")
    section = text[text.index(after) :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize(
    ("page", "heading"),
    [("README.md", "## Quickstart"), ("docs/quickstart.md", "## Send to the local collector")],
)
def test_the_quickstart_delivers_to_the_local_collector(
    page: str, heading: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = first_python_block(ROOT / page, heading)
    assert WRITTEN_FOR in code

    with running() as collector:
        exec(compile(code.replace(WRITTEN_FOR, collector.url), page, "exec"), {})
        stored = collector.messages()

    assert capsys.readouterr().out.startswith("delivered ")
    assert [m.event for m in stored] == ["Account Created", "Signed Up", "identify", "group"]
    assert all(m.ok for m in stored)
