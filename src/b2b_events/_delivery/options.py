"""The delivery options, spelled once: one validated object for Client, AsyncClient and replay.

Each field has the name, the default and the check of the keyword argument of
the same name (documented once, on ``Client``); ``Options.pick`` takes them
from a caller's keyword arguments. Every error is a ``ConfigurationError`` that
names the option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from .._exceptions import ConfigurationError
from .policy import RetryPolicy
from .wire import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_MESSAGE_BYTES

__all__ = ["MAX_IN_FLIGHT", "OVERFLOWS", "Options", "Overflow", "at_least", "positive"]

Overflow = Literal["drop_newest", "drop_oldest", "block"]
OVERFLOWS: tuple[Overflow, ...] = ("drop_newest", "drop_oldest", "block")
MAX_IN_FLIGHT = 16


@dataclass(frozen=True, kw_only=True)
class Options:
    """Queue, batching, retry and shutdown options, checked when made."""

    max_queue_events: int = 500_000
    max_queue_bytes: int = 256 * 1024 * 1024
    overflow: Overflow = "drop_newest"
    block_timeout: float | None = None  # None: 1 s, with overflow="block" only
    max_batch_events: int = 1_000
    flush_interval: float = 0.5
    max_retries: int = 10
    max_retry_time: float = 120.0
    max_retry_after: float = 60.0
    retry_backoff: float = 0.5
    max_in_flight: int = 4
    sync: bool = False
    shutdown_timeout: float = 5.0
    max_batch_bytes: int = field(default=MAX_BATCH_BYTES, repr=False)  # tests lower it
    retry: RetryPolicy = field(init=False, repr=False)
    """The retry options as the delivery routine reads them."""

    @classmethod
    def pick(cls, given: Mapping[str, Any]) -> Options:
        """The options among ``given`` (a caller's keyword arguments); the others default."""
        return cls(**{f.name: given[f.name] for f in fields(cls) if f.init and f.name in given})

    def __post_init__(self) -> None:
        if self.overflow not in OVERFLOWS:
            raise ConfigurationError(f"overflow must be one of {OVERFLOWS}, not {self.overflow!r}")
        if self.block_timeout is not None:
            if self.overflow != "block":
                raise ConfigurationError("block_timeout applies only to overflow='block'")
            positive("block_timeout", self.block_timeout)
        if not 1 <= self.max_batch_events <= MAX_BATCH_EVENTS:
            raise ConfigurationError(f"max_batch_events must be 1..{MAX_BATCH_EVENTS}")
        if not 1 <= self.max_in_flight <= MAX_IN_FLIGHT:
            raise ConfigurationError(
                f"max_in_flight must be 1..{MAX_IN_FLIGHT}, not {self.max_in_flight!r}"
            )
        at_least("max_queue_events", self.max_queue_events, 1)
        at_least("max_queue_bytes", self.max_queue_bytes, MAX_MESSAGE_BYTES)
        at_least("max_retries", self.max_retries, 0)
        for name in ("flush_interval", "max_retry_time", "max_retry_after", "retry_backoff"):
            positive(name, getattr(self, name))
        positive("shutdown_timeout", self.shutdown_timeout)
        retry = RetryPolicy(
            max_attempts=self.max_retries + 1,
            max_time=float(self.max_retry_time),
            max_retry_after=float(self.max_retry_after),
            backoff=float(self.retry_backoff),
        )
        object.__setattr__(self, "retry", retry)  # frozen: set once, here

    @property
    def block_wait(self) -> float:
        """Seconds ``overflow="block"`` waits for room."""
        return 1.0 if self.block_timeout is None else float(self.block_timeout)


def positive(name: str, value: float) -> float:
    """``value`` as a float; a ``ConfigurationError`` naming ``name`` unless it is > 0."""
    if not value > 0:
        raise ConfigurationError(f"{name} must be > 0, not {value!r}")
    return float(value)


def at_least(name: str, value: int, minimum: int) -> None:
    """Raise a ``ConfigurationError`` naming ``name`` if ``value`` is below ``minimum``."""
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, not {value!r}")
