"""Public classes carry their public module: tracebacks, reprs and pickles name it."""

from __future__ import annotations

import importlib
import pickle
import traceback

import pytest

import b2b_events
from b2b_events.events import SignedIn, validate
from b2b_events.testing import InvalidBatchError

PACKAGES = [
    "b2b_events",
    "b2b_events.analytics",
    "b2b_events.collector",
    "b2b_events.events",
    "b2b_events.integrations",
    "b2b_events.testing",
]


def exported_classes(package: str) -> list[tuple[str, type]]:
    module = importlib.import_module(package)
    return [
        (name, value)
        for name in module.__all__
        if isinstance(value := getattr(module, name), type)
        and value.__module__.partition("._")[0] == package
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_class_names_its_public_package(package: str) -> None:
    classes = exported_classes(package)
    assert classes  # the filter above keeps the classes defined in the package

    for name, cls in classes:
        assert cls.__module__ == package, name
        assert getattr(importlib.import_module(cls.__module__), cls.__qualname__) is cls


def test_a_traceback_names_the_public_exception() -> None:
    error = b2b_events.InvalidEventError("Signed Up", [b2b_events.Problem("userId", "missing")])

    (line,) = traceback.format_exception_only(type(error), error)

    assert line.startswith("b2b_events.InvalidEventError: Signed Up")


def test_exceptions_and_models_still_pickle() -> None:
    problems = [b2b_events.Problem("context.groupId", "missing")]
    errors: list[Exception] = [
        b2b_events.InvalidEventError("Signed In", problems),
        b2b_events.ConfigurationError("no write key"),
        b2b_events.MessageTooLargeError("Signed In", 40_000, 32_768),
        InvalidBatchError([b2b_events.Problem("batch", "missing")], total=0),
    ]
    message = validate(
        {"type": "track", "event": "Signed In", "userId": "u_1", "context": {"groupId": "a"}}
    )

    for error in errors:
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error)
        assert str(again) == str(error)
    assert isinstance(message, SignedIn)
    assert pickle.loads(pickle.dumps(message)) == message
