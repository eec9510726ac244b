"""Fixtures for the integration tests: a real loopback ``/v1/batch`` server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_server import BatchServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """These tests deliver over real HTTP to loopback servers: let their clients send."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.b2b_events(send=True))


@pytest.fixture
def server() -> Iterator[BatchServer]:
    srv = BatchServer()
    try:
        yield srv
    finally:
        srv.close()
