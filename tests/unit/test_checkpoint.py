"""Replay checkpoints: saved atomically, refused for another replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from b2b_events import ConfigurationError
from b2b_events._logs.checkpoint import (
    TOTALS,
    Frontier,
    fingerprint,
    load_checkpoint,
    save_checkpoint,
)

OPTIONS = {"inputs": ["/logs"], "endpoint": "https://api.segment.io", "events": None}


def test_a_saved_frontier_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "replay.ckpt"
    digest = fingerprint(OPTIONS)
    frontier = Frontier(
        done=["/logs/a.gz"], file="/logs/b.gz", line=42, totals=dict.fromkeys(TOTALS, 7)
    )

    save_checkpoint(path, digest, frontier, OPTIONS)

    assert load_checkpoint(path, digest) == frontier
    assert json.loads(path.read_text())["options"] == OPTIONS
    assert [p.name for p in tmp_path.iterdir()] == ["replay.ckpt"]  # no temporary left


def test_no_checkpoint_yet_is_none(tmp_path: Path) -> None:
    assert load_checkpoint(tmp_path / "replay.ckpt", fingerprint(OPTIONS)) is None


def test_the_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fingerprint({"a": 1, "b": [2]}) == fingerprint({"b": [2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_a_checkpoint_of_another_replay_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "replay.ckpt"
    save_checkpoint(path, fingerprint(OPTIONS), Frontier(), OPTIONS)
    other = {**OPTIONS, "events": ["Signed Up"]}

    with pytest.raises(ConfigurationError, match="belongs to a replay with other inputs"):
        load_checkpoint(path, fingerprint(other))


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"format": "something else"}', '{"format": "b2b-events replay '
     'checkpoint", "version": 1, "done": 3, "file": null, "line": 0, "totals": {}}'],
)  # fmt: skip
def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "replay.ckpt"
    path.write_text(content)

    with pytest.raises(ConfigurationError, match="is not a readable replay checkpoint"):
        load_checkpoint(path, fingerprint(OPTIONS))


def test_an_unreadable_checkpoint_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the checkpoint"):
        load_checkpoint(tmp_path, fingerprint(OPTIONS))  # a directory


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "replay.ckpt"
    digest = fingerprint(OPTIONS)
    save_checkpoint(path, digest, Frontier(line=1, file="/logs/a"), OPTIONS)

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot be written")

    with pytest.raises(RuntimeError, match="cannot be written"):
        save_checkpoint(path, digest, Frontier(line=2, file="/logs/a"), {"x": Unprintable()})

    loaded = load_checkpoint(path, digest)
    assert loaded is not None
    assert loaded.line == 1
    assert [p.name for p in tmp_path.iterdir()] == ["replay.ckpt"]
