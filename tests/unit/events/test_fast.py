"""The fast validators say yes only where the models say yes, with the same message."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from b2b_events import Tracker
from b2b_events.events import (
    Alias,
    Group,
    Identify,
    Message,
    Page,
    Screen,
    SignedUp,
    SignedUpProperties,
    Track,
    TrialStarted,
)
from b2b_events.events._common import Timestamp
from b2b_events.events._fast import fast_path, fast_validator
from b2b_events.events._validate import _CLASSES, _MEMBERS, VALIDATORS, valid_name, validate

SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def raw_fast(cls: type[Message]) -> Any:
    """The derived schema alone: no model rules, no fallback to the model."""
    return fast_path(cls)[0]


def fast_alone(cls: type[Message]) -> Any:
    """The fast path with its model rules, without the fallback to the model."""
    fast, rules = fast_path(cls)

    def validate(payload: dict[str, Any]) -> Message:
        message = fast(payload)
        for reach, rule in rules:
            model = message if reach is None else reach(message)
            assert rule(model) is model
        return message

    return validate


def outcome(validate: Any, payload: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", repr(validate(payload))
    except ValidationError as error:
        return "error", error.errors(include_url=False)
    except ValueError as error:  # a model rule, called by fast_alone
        return "rule", str(error)


BASE: dict[type[Message], dict[str, Any]] = {
    SignedUp: {
        "type": "track",
        "event": "Signed Up",
        "userId": "u_1",
        "context": {"groupId": "acct_1"},
        "properties": {"email": "p@initech.com"},
    },
    TrialStarted: {
        "type": "track",
        "event": "Trial Started",
        "userId": "u_1",
        "context": {"groupId": "acct_1"},
        "properties": {
            "trial_start_date": "2026-11-01",
            "trial_end_date": "2026-12-01T00:00:00Z",
            "trial_plan_name": "Pro",
        },
    },
    Track: {"type": "track", "event": "Report Exported", "anonymousId": "a_1"},
    Identify: {"type": "identify", "userId": "u_1", "traits": {"email": "p@initech.com"}},
    Group: {"type": "group", "userId": "u_1", "groupId": "acct_1", "traits": {"name": "Initech"}},
}

# Whatever a timestamp may be given as, the edges first: offsets on the first and
# last days of the calendar, naive values, numbers and strings of digits.
zones = st.none() | st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)
edge_days = st.sampled_from(
    [
        datetime(1, 1, 1),
        datetime(1, 1, 1, 23, 59),
        datetime(1, 1, 2),
        datetime(1, 1, 2, 23, 59),
        datetime(1, 1, 3),
        datetime(9999, 12, 30),
        datetime(9999, 12, 30, 23, 59, 59),
        datetime(9999, 12, 31),
        datetime(9999, 12, 31, 0, 0, 1),
        datetime(9999, 12, 31, 23, 59, 59, 999_999),
    ]
)
moments = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.one_of(edge_days, st.datetimes()),
    zones,
)


class Moment(datetime):
    """A datetime subclass, as some libraries hand out (pandas, pendulum)."""


class Day(date):
    """A date subclass."""


stamps = st.one_of(
    moments,
    moments.map(lambda moment: Moment.fromisoformat(moment.isoformat())),
    st.dates().map(lambda day: Day(day.year, day.month, day.day)),
    moments.map(lambda moment: moment.isoformat()),
    moments.map(lambda moment: moment.isoformat(sep=" ", timespec="milliseconds")),
    moments.map(lambda moment: moment.isoformat().replace("+00:00", "Z")),
    st.dates(),
    st.dates().map(date.isoformat),
    st.dates().map(lambda day: datetime(day.year, day.month, day.day)),  # naive midnight
    st.dates().map(lambda day: f"{day.isoformat()}T00:00:00"),
    st.dates().map(lambda day: f"{day.isoformat()}T00:00:00Z"),
    st.integers(),
    st.floats(allow_nan=False),
    st.integers(min_value=0, max_value=99_999_999_999).map(str),
    st.text(max_size=30),
    st.text(alphabet="0123456789-:TZ+. ", max_size=30),
    st.binary(max_size=30),
    st.none(),
)


# The message and the field that gets the drawn value; the other fields stay valid
# (a trial end far out, a start at the calendar's beginning), so each draw tests
# one value rather than being drowned by another's error.
FIELDS = [
    *((cls, "timestamp") for cls in sorted(BASE, key=repr)),
    (TrialStarted, "trial_start_date"),
    (TrialStarted, "trial_end_date"),
]


PLUS_ONE, MINUS_ONE = timezone(timedelta(hours=1)), timezone(timedelta(hours=-1))


@SETTINGS
@given(st.sampled_from(FIELDS), stamps)
@example((SignedUp, "timestamp"), "0001-01-01T00:30:00+01:00")  # no UTC form
@example((SignedUp, "timestamp"), datetime(1, 1, 1, 0, 30, tzinfo=PLUS_ONE))
@example((SignedUp, "timestamp"), "9999-12-31T23:30:00-01:00")
@example((SignedUp, "timestamp"), datetime(9999, 12, 31, 23, 30, tzinfo=MINUS_ONE))
@example((SignedUp, "timestamp"), "1795000000")  # a Unix time: refused
@example((TrialStarted, "trial_start_date"), "2026-11-01T00:00:00")  # naive midnight
@example((TrialStarted, "trial_start_date"), datetime(2026, 11, 1))
@example((TrialStarted, "trial_end_date"), "0001-01-01T00:30:00+01:00")
def test_fast_and_model_validators_agree_on_any_timestamp(
    where: tuple[type[Message], str], value: Any
) -> None:
    cls, field = where
    payload = {**BASE[cls], "messageId": "m_1", "timestamp": "2026-11-22T10:00:00Z"}
    if field == "timestamp":
        payload["timestamp"] = value
    else:
        trial = {"trial_start_date": "0001-01-01", "trial_end_date": "9999-12-31"}
        payload["properties"] = {**payload["properties"], **trial, field: value}
    full = cls.__pydantic_validator__.validate_python

    kind, result = outcome(fast_alone(cls), payload)

    if kind == "ok":  # the fast schema says yes only where the model says the same
        assert outcome(full, payload) == ("ok", result)
    assert outcome(VALIDATORS[cls], payload) == outcome(full, payload)


class _NoUTCForm(datetime):
    def astimezone(self, tz: Any = None) -> _NoUTCForm:
        raise OverflowError("no UTC form")


def test_the_one_known_difference_a_datetime_whose_astimezone_fails() -> None:
    # Documented in FAST_TIMESTAMP and the changelog: the model asks a datetime
    # for its UTC form and refuses this one; the core-only subset does not ask.
    stamp = _NoUTCForm(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
    payload = {**BASE[SignedUp], "messageId": "m_1", "timestamp": stamp}

    assert outcome(SignedUp.__pydantic_validator__.validate_python, payload)[0] == "error"
    assert outcome(VALIDATORS[SignedUp], payload)[0] == "ok"


SPEC_ARGUMENTS: dict[str, dict[str, Any]] = {
    "Account Created": {"account_name": "Initech"},
    "Invite Sent": {"invitee_email": "m@initech.com"},
    "Trial Started": {
        "trial_plan_name": "Pro",
        "trial_start_date": date(2026, 11, 1),
        "trial_end_date": datetime(2026, 12, 1, tzinfo=timezone.utc),
    },
    "Trial Ended": {
        "trial_plan_name": "Pro",
        "trial_start_date": "2026-11-01",
        "trial_end_date": "2026-12-01T10:00:00+01:00",
    },
}


def built(cls: type[Message]) -> Message:
    """A typical message of ``cls``, from a builder."""
    track = Tracker()
    if cls is Identify:
        return track.identify(user_id="u_1", traits={"plan": "pro"})
    if cls is Group:
        return track.group(user_id="u_1", group_id="acct_1", traits={"name": "Initech"})
    if cls is Page:
        return track.page(user_id="u_1", name="Pricing", properties={"path": "/pricing"})
    if cls is Screen:
        return track.screen(anonymous_id="a_1", name="Home", category="Onboarding")
    if cls is Alias:
        return track.alias(user_id="u_1", previous_id="a_1")
    name = "Report Exported" if cls is Track else cls.model_fields["event"].default
    message = track.event(
        name, user_id="u_1", group_id="acct_1", properties=SPEC_ARGUMENTS.get(name, {"rows": 3})
    )
    assert type(message) is cls
    return message


# The built-in classes: VALIDATORS also holds the message classes of Event
# subclasses that other test modules declare, which may have no fast form.
@pytest.mark.parametrize("cls", sorted(set(_CLASSES.values()), key=repr))
def test_built_messages_take_the_fast_path(
    cls: type[Message], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every message class has a fast form, and what builders write never falls back."""

    class NoFallback:
        def validate_python(self, data: Any) -> Message:
            raise AssertionError(f"fell back to the model for {data!r}")

    message = built(cls)
    monkeypatch.setattr(cls, "__pydantic_validator__", NoFallback())
    validate = fast_validator(cls)

    assert validate(message.to_wire()) == message
    python = message.model_dump(by_alias=True, exclude_none=True)  # datetimes, as builders pass
    assert validate(python) == message


LIBRARY = {"name": "analytics-python", "version": "2.3.4"}


def test_a_message_with_extra_library_keys_takes_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoFallback:
        def validate_python(self, data: Any) -> Message:
            raise AssertionError(f"fell back to the model for {data!r}")

    library = {**LIBRARY, "build": {"sha": "9f3b2d7", "n": [1, 2.5, None, True]}}
    payload = {
        **BASE[SignedUp],
        "messageId": "m_1",
        "timestamp": "2026-11-22T10:00:00Z",
        "context": {"groupId": "acct_1", "library": library},
    }
    expected = SignedUp.__pydantic_validator__.validate_python(payload)
    monkeypatch.setattr(SignedUp, "__pydantic_validator__", NoFallback())

    message = fast_validator(SignedUp)(payload)

    assert message == expected
    assert message.context.library == library


@pytest.mark.parametrize(
    "build", [float("nan"), float("inf"), [float("nan")], {"a": {1, 2}}, object(), {1: "x"}]
)
@pytest.mark.parametrize("cls", sorted(BASE, key=repr))
def test_fast_and_model_validators_refuse_a_library_key_that_is_not_json(
    cls: type[Message], build: object
) -> None:
    library = {**LIBRARY, "build": build}
    payload = {**BASE[cls], "context": {"groupId": "acct_1", "library": library}}
    full = cls.__pydantic_validator__.validate_python

    assert outcome(fast_alone(cls), payload)[0] == "error"
    assert outcome(full, payload)[0] == "error"
    assert outcome(VALIDATORS[cls], payload) == outcome(full, payload)


@pytest.mark.parametrize(
    ("cls", "change", "error"),
    [
        (SignedUp, {"userId": None}, "required (or anonymousId)"),
        (Group, {"userId": None}, "required (or anonymousId)"),
        (
            SignedUp,
            {"properties": {"groupId": "acct_1"}},
            "the account goes in context.groupId (group_id=), not in properties",
        ),
        (
            TrialStarted,
            {
                "properties": {
                    "trial_start_date": "2026-12-01",
                    "trial_end_date": "2026-11-01",
                    "trial_plan_name": "Pro",
                }
            },
            "must not be before trial_start_date (2026-12-01)",
        ),
    ],
)
def test_model_rules_taken_out_of_the_fast_schema_still_apply(
    cls: type[Message], change: dict[str, Any], error: str
) -> None:
    payload = {**BASE[cls], **change}
    raw_fast(cls)(payload)  # the schema alone lets it through...

    with pytest.raises(ValidationError) as raised:
        VALIDATORS[cls](payload)  # ...the rule, called after it, does not

    assert [e["ctx"]["reason"] for e in raised.value.errors()] == [error]


class Strict(Message):
    model_config = ConfigDict(strict=True)
    type: str = "strict"


class StrictStamp(Message):
    type: str = "due"
    due: Annotated[Timestamp, Field(strict=True)]


class LaterThan(Message):
    type: str = "later"
    due: Annotated[Timestamp, Field(gt=datetime(2030, 1, 1, tzinfo=timezone.utc))]


class Shout(Message):
    type: str = "shout"

    @field_validator("user_id")
    @classmethod
    def _shout(cls, value: str | None) -> str | None:
        return value.upper() if value else value


class WithInfo(Message):
    type: str = "info"

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> WithInfo:
        return self


class Maybe(Message):
    type: str = "maybe"
    properties: SignedUpProperties | None = None  # a rule below an optional field


@pytest.mark.parametrize(
    ("cls", "culprit"),
    [
        (Strict, "Strict with config \\['strict'\\]"),  # the model refuses more
        (StrictStamp, "_in_utc_range"),  # a strict Timestamp is not the Timestamp swapped out
        (LaterThan, "partial.*greater_than"),  # pydantic's own check: a partial
        (Shout, "Shout._shout"),
        (WithInfo, "WithInfo._check"),
        (Maybe, "_account_not_in_properties"),
    ],
)
def test_a_validator_without_a_fast_form_is_refused(cls: type[Message], culprit: str) -> None:
    with pytest.raises(TypeError, match=f"no fast form for .*{culprit}"):
        fast_validator(cls)


class Copying(Message):
    type: str = "copying"

    @model_validator(mode="after")
    def _upper(self) -> Copying:
        return self.model_copy(update={"user_id": (self.user_id or "").upper()})


def test_a_rule_that_returns_another_model_gets_the_models_result() -> None:
    validate = fast_validator(Copying)

    message = validate({"type": "copying", "userId": "u_1"})

    assert message.user_id == "U_1"


def test_builders_and_validate_go_through_the_fast_validators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wiring: a builder and ``validate`` call ``VALIDATORS``, not the model's own."""
    calls: list[str] = []
    fast = VALIDATORS[SignedUp]

    def spy(data: Any) -> Any:
        calls.append(data["event"])
        return fast(data)

    signed_up: type[Message] = SignedUp
    monkeypatch.setitem(VALIDATORS, signed_up, spy)
    monkeypatch.setitem(_MEMBERS, "Signed Up", spy)
    message = Tracker().signed_up(user_id="u_1", group_id="acct_1")
    validate(message.to_wire())
    assert valid_name(message.to_wire()) == "Signed Up"

    assert calls == ["Signed Up"] * 3
