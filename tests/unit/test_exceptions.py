"""The error tree: one base class, ValueError where input is at fault, readable and picklable."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from b2b_events import (
    B2BEventsError,
    ConfigurationError,
    InvalidEventError,
    MessageTooLargeError,
    Problem,
)

PROBLEMS = [
    Problem("context.groupId", "required"),
    Problem("properties.email", "must be an email address"),
]


def test_invalid_event_error_is_a_b2b_events_error_and_a_value_error() -> None:
    assert issubclass(InvalidEventError, B2BEventsError)
    assert issubclass(InvalidEventError, ValueError)


def test_message_too_large_error_is_an_invalid_event_error() -> None:
    assert issubclass(MessageTooLargeError, InvalidEventError)
    assert issubclass(MessageTooLargeError, ValueError)


def test_configuration_error_is_a_value_error_but_not_an_invalid_event() -> None:
    assert issubclass(ConfigurationError, B2BEventsError)
    assert issubclass(ConfigurationError, ValueError)
    assert not issubclass(ConfigurationError, InvalidEventError)


def test_base_class_is_an_exception_but_not_a_value_error() -> None:
    assert issubclass(B2BEventsError, Exception)
    assert not issubclass(B2BEventsError, ValueError)


def test_invalid_event_error_text_names_the_event_and_every_problem() -> None:
    error = InvalidEventError("Signed Up", PROBLEMS)

    assert str(error) == (
        "Signed Up: context.groupId: required; properties.email: must be an email address"
    )
    assert error.event == "Signed Up"
    assert error.problems == tuple(PROBLEMS)
    assert isinstance(error.problems, tuple)


def test_problems_given_as_a_list_are_not_shared_with_the_caller() -> None:
    given = list(PROBLEMS)
    error = InvalidEventError("Signed Up", given)

    given.append(Problem("userId", "required (or anonymousId)"))

    assert len(error.problems) == 2


def test_problem_without_a_path_reads_as_its_reason() -> None:
    assert str(Problem("", "must be a JSON object, not list")) == "must be a JSON object, not list"
    assert str(Problem("userId", "must be a string")) == "userId: must be a string"


def test_problem_is_a_frozen_value() -> None:
    problem = Problem("userId", "required")

    assert problem == Problem("userId", "required")
    assert len({problem, Problem("userId", "required")}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.path = "anonymousId"  # type: ignore[misc]


def test_message_too_large_error_text_and_attributes() -> None:
    error = MessageTooLargeError("Signed Up", 40_123, 32_000)

    assert str(error) == "Signed Up: message is 40,123 bytes serialized, over the 32,000 limit"
    assert (error.event, error.size, error.limit) == ("Signed Up", 40_123, 32_000)
    assert error.problems == (
        Problem("", "message is 40,123 bytes serialized, over the 32,000 limit"),
    )


def test_configuration_error_keeps_its_message() -> None:
    assert str(ConfigurationError("write_key is required")) == "write_key is required"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_invalid_event_error_survives_pickling(protocol: int) -> None:
    error = InvalidEventError("Trial Started", PROBLEMS)

    again = pickle.loads(pickle.dumps(error, protocol=protocol))

    assert type(again) is InvalidEventError
    assert again.event == "Trial Started"
    assert again.problems == tuple(PROBLEMS)
    assert str(again) == str(error)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_message_too_large_error_survives_pickling(protocol: int) -> None:
    error = MessageTooLargeError("Signed Up", 40_123, 32_000)

    again = pickle.loads(pickle.dumps(error, protocol=protocol))

    assert type(again) is MessageTooLargeError
    assert (again.event, again.size, again.limit) == ("Signed Up", 40_123, 32_000)
    assert again.problems == error.problems
    assert str(again) == str(error)


def test_invalid_event_error_can_be_copied() -> None:
    error = InvalidEventError("Signed In", PROBLEMS)

    again = copy.deepcopy(error)

    assert (again.event, again.problems, str(again)) == (error.event, error.problems, str(error))


def test_catching_the_base_class_catches_invalid_events() -> None:
    with pytest.raises(B2BEventsError):
        raise InvalidEventError("Signed In", [Problem("userId", "required (or anonymousId)")])
