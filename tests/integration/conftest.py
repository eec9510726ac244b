"""Fixtures for the integration tests: a real loopback ``/v1/batch`` server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from batch_server import BatchServer


@pytest.fixture
def server() -> Iterator[BatchServer]:
    srv = BatchServer()
    try:
        yield srv
    finally:
        srv.close()
