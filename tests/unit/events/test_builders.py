"""The builders validate what the caller gave, with the model's own validator (#18).

The property test pins the equivalence the design rests on: for any builder
call, the builder accepts it if and only if ``validate()`` accepts its wire
dict, and both name the same problem paths. What the library makes itself
(``messageId``, the default ``timestamp``, ``type``, ``event``) is left to the
model's defaults and never handed to the validator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import b2b_events
from b2b_events import Event, InvalidEventError, Tracker, TrackingPlan, validate
from b2b_events._delivery.wire import MAX_DEPTH
from b2b_events.events import SPEC_EVENTS, Message, SignedUp, _builders


class ReportExported(Event, name="Report Exported", group=True):
    """A custom event: a strict message class, built through the same path."""

    report_id: str
    rows: int | None = None


class FormSeen(Event, name="Sign-up Form Seen"):
    """A custom event with no properties."""


PLAN = TrackingPlan(name="Builders", events=[ReportExported])

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mostly(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``valid`` nine times in ten: a call has many arguments, each may spoil it."""
    return st.integers(0, 9).flatmap(lambda n: invalid if n == 9 else valid)


_ids = _mostly(st.sampled_from(["u_1", "acct 9"]), st.sampled_from([None, "", "  ", 5]))
_other_ids = _mostly(st.none(), st.sampled_from(["a_1", "", 5]))
_text = _mostly(
    st.sampled_from(["p@initech.com", "Initech.Pro@x.io"]),
    st.sampled_from([None, "", "  ", 7, "Initech", math.nan]),
)
_dates = _mostly(
    st.sampled_from(
        [
            date(2026, 11, 1),
            date(2026, 12, 1),
            "2026-11-15",
            "2026-11-15T10:00:00Z",
            datetime(2026, 11, 20, tzinfo=timezone.utc),
        ]
    ),
    st.sampled_from(
        [None, "2026-11-15T10:00:00", datetime(2026, 11, 20), "soon", 20261101]  # naive, ...
    ),
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4))
_json = _mostly(
    st.recursive(
        _scalars,
        lambda inner: (
            st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
        ),
        max_leaves=4,
    ),
    # NaN and infinities, and values neither JSON nor converted: refused
    st.sampled_from([math.nan, math.inf, b"bytes", object(), [1, math.nan], {"k": object()}]),
)
_custom = st.none() | st.dictionaries(
    _mostly(st.sampled_from(["plan", "seats", "note"]), st.just("groupId")), _json, max_size=3
)
_context = st.none() | st.dictionaries(
    st.sampled_from(["ip", "locale", "traits"]), _json, max_size=2
)
_integrations = st.none() | st.dictionaries(st.sampled_from(["All", "Mixpanel"]), _json, max_size=2)
_timestamps = _mostly(
    st.sampled_from(
        [
            None,
            datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-22T10:00:00Z",
        ]
    ),
    st.sampled_from(
        [
            datetime(2026, 11, 22, 10),  # naive
            datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),  # no UTC form
            "1795000000",  # a Unix time
            12,
        ]
    ),
)
_message_ids = _mostly(
    st.sampled_from([None, "retry-me-7", "x" * 100]), st.sampled_from(["", " ", "x" * 101, 3])
)


def _semantic(cls: type[Message]) -> tuple[str, ...]:
    return tuple(sorted(cls.model_fields["properties"].annotation.semantic))  # type: ignore[union-attr]


_SPEC_METHODS = {name: name.lower().replace(" ", "_") for name in SPEC_EVENTS}


@st.composite
def builder_calls(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """(builder name, positional args, keyword args) of one call, valid or not."""
    kind = draw(
        st.sampled_from([*SPEC_EVENTS, "event", "identify", "group", "page", "alias", "custom"])
    )
    common: dict[str, Any] = {
        "context": draw(_context),
        "integrations": draw(_integrations),
        "timestamp": draw(_timestamps),
        "message_id": draw(_message_ids),
    }
    if kind == "alias":
        return "alias", (), {**common, "user_id": draw(_ids), "previous_id": draw(_ids)}
    common["user_id"] = draw(_ids)
    common["anonymous_id"] = draw(_other_ids)
    if kind in ("identify", "group"):
        common["traits"] = draw(_custom)
        if kind == "group":
            common["group_id"] = draw(_ids)
        return kind, (), common
    common["group_id"] = draw(_ids)
    common["properties"] = draw(_custom)
    if kind == "page":
        return "page", (), {**common, "name": draw(_text), "category": draw(_text)}
    if kind == "event":
        return "event", (draw(st.sampled_from(["Report Viewed", "Signed In", ""])),), common
    if kind == "custom":
        event = ReportExported(report_id="r_1", rows=draw(st.none() | st.integers(0, 9)))
        return "__call__", (event,), common
    cls = SPEC_EVENTS[kind]
    for key in _semantic(cls):
        common[key] = draw(
            _dates if key.startswith("trial_") and key != "trial_plan_name" else _text
        )
    # A custom property named like a keyword is refused by the builder alone (the
    # wire has one key): keep them apart.
    if common["properties"]:
        common["properties"] = {
            k: v for k, v in common["properties"].items() if k not in _semantic(cls)
        }
    return _SPEC_METHODS[kind], (), common


def _paths(error: InvalidEventError) -> list[str]:
    return sorted({problem.path for problem in error.problems})


@SETTINGS
@given(builder_calls())
def test_a_builder_accepts_a_call_iff_validate_accepts_its_wire_dict(
    call: tuple[str, tuple[Any, ...], dict[str, Any]],
) -> None:
    method, args, kwargs = call
    refused: list[tuple[InvalidEventError, dict[str, Any]]] = []
    track = Tracker(on_invalid=lambda error, data: refused.append((error, data)))
    builder: Callable[..., Message] = getattr(track, method)
    message = builder(*args, **kwargs)
    plan = PLAN if method == "__call__" else None
    if refused:
        ((error, wire),) = refused
        with pytest.raises(InvalidEventError) as raised:
            validate(wire, plan=plan)
        assert _paths(raised.value) == _paths(error)
    else:
        wire = message.to_wire()
        assert validate(wire, plan=plan) == message
        _assert_given_on_the_wire(kwargs, wire)


def _assert_given_on_the_wire(given: dict[str, Any], wire: dict[str, Any]) -> None:
    """What the caller gave is what went out; only what they left out was made."""
    for key, name in (("user_id", "userId"), ("anonymous_id", "anonymousId")):
        assert wire.get(name) == given.get(key)
    if given["message_id"] is not None:
        assert wire["messageId"] == given["message_id"]
    stamp = given["timestamp"]
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp)
    if stamp is not None:
        assert datetime.fromisoformat(wire["timestamp"]) == stamp


def test_the_builder_hands_the_validator_only_what_the_caller_gave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Any]] = []
    model = SignedUp.__pydantic_validator__.validate_python

    def spy(data: dict[str, Any]) -> Any:
        seen.append(data)
        return model(data)

    signed_up: type[Message] = SignedUp
    monkeypatch.setitem(_builders._VALIDATE, signed_up, spy)
    message = Tracker().signed_up(user_id="u_1", group_id="acct_1", email="p@initech.com")
    assert sorted(seen[0]) == ["context", "properties", "userId"]
    wire = message.to_wire()  # the library's parts, from the model's defaults
    assert (wire["type"], wire["event"]) == ("track", "Signed Up")
    assert wire["messageId"]
    assert wire["timestamp"].endswith("Z")


def test_what_the_caller_gives_for_the_library_made_fields_is_validated() -> None:
    with pytest.raises(InvalidEventError) as raised:
        Tracker().signed_in(user_id="u", group_id="g", message_id="x" * 101, timestamp=5)  # type: ignore[arg-type]
    assert _paths(raised.value) == ["messageId", "timestamp"]


@pytest.mark.parametrize(
    ("method", "kind", "event"),
    [("signed_up", "track", "Signed Up"), ("identify", "identify", None), ("page", "page", None)],
)
def test_an_invalid_call_reports_the_message_as_it_would_have_gone_on_the_wire(
    method: str, kind: Literal["track", "identify", "page"], event: str | None
) -> None:
    refused: list[dict[str, Any]] = []
    track = Tracker(on_invalid=lambda error, data: refused.append(data))
    getattr(track, method)(user_id="", group_id="acct_1")
    (data,) = refused
    assert data["type"] == kind
    assert data.get("event") == event
    assert data["messageId"]
    assert isinstance(data["timestamp"], datetime)
    assert type(data["context"]) is dict  # JSON for on_drop, not the shared model
    assert data["context"]["library"]["name"] == "b2b-events"


def test_a_refused_account_is_reported_at_its_path_every_time() -> None:
    # Contexts are validated once per account and shared: a refusal is not kept.
    for _ in range(2):
        with pytest.raises(InvalidEventError) as raised:
            Tracker().signed_in(user_id="u", group_id="  ")
        assert _paths(raised.value) == ["context.groupId"]


def test_shared_contexts_stay_bounded_however_many_accounts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_builders, "_MAX_CONTEXTS", 3)
    monkeypatch.setattr(_builders, "_CONTEXTS", {})
    track = Tracker()
    messages = [track.signed_in(user_id="u", group_id=f"acct_{i}") for i in range(10)]
    assert len(_builders._CONTEXTS) <= 3
    assert [m.group_id for m in messages] == [f"acct_{i}" for i in range(10)]


def _nested(levels: int) -> dict[str, Any]:
    """An object ``levels`` deep: ``{"a": {"a": ... {}}}``."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("field", ["properties", "context", "integrations"])
def test_every_object_the_caller_gives_is_held_to_the_nesting_limit(field: str) -> None:
    # The message is level 1, the field level 2, "deep" level 3: MAX_DEPTH - 2 fit there.
    fits = {field: {"deep": _nested(MAX_DEPTH - 2)}}
    Tracker().signed_in(user_id="u", group_id="g", **fits)  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError) as raised:
        Tracker().signed_in(user_id="u", group_id="g", **{field: {"deep": _nested(MAX_DEPTH - 1)}})  # type: ignore[arg-type]
    ((problem),) = raised.value.problems
    assert problem.path == f"{field}.deep" + ".a" * (MAX_DEPTH - 2)  # the first level too many
    assert problem.reason == f"nested too deeply (over {MAX_DEPTH} levels)"


def test_traits_and_a_scope_context_are_held_to_the_nesting_limit() -> None:
    with pytest.raises(InvalidEventError, match=r"traits\.deep\.a"):
        Tracker().identify(user_id="u", traits={"deep": _nested(MAX_DEPTH - 1)})
    deep = {"deep": _nested(MAX_DEPTH - 1)}
    with (
        b2b_events.scope(user_id="u", group_id="g", context=deep),
        pytest.raises(InvalidEventError, match=r"context\.deep\.a"),
    ):
        Tracker().signed_in()


@pytest.mark.parametrize(
    "call",
    [
        lambda: b2b_events.track("u_1", "Signed Up", {"plan": "pro"}),  # type: ignore[arg-type]
        lambda: b2b_events.track("u_1", "Signed Up", properties={"plan": "pro"}),  # type: ignore[arg-type]
        lambda: Tracker()(FormSeen(), "u_1"),  # type: ignore[arg-type]
    ],
    ids=["analytics-python's positional form", "with keywords", "an event and more"],
)
def test_analytics_pythons_positional_track_says_what_to_call_instead(
    call: Callable[[], object],
) -> None:
    with pytest.raises(TypeError) as raised:
        call()
    text = str(raised.value)
    assert "positional arguments" in text
    assert "b2b_events.analytics.track" in text
    assert "track.signed_up(" in text
    assert "track.event(name" in text


def test_tracking_an_event_name_says_what_to_call_instead() -> None:
    sent: list[object] = []
    with pytest.raises(TypeError, match=r"not a str\..*b2b_events\.analytics\.track"):
        Tracker(sink=sent.append)(event="Signed Up", user_id="u_1")  # type: ignore[arg-type]
    assert sent == []


def test_a_typed_property_nested_too_deep_is_refused_for_its_depth_as_validate_does() -> None:
    refused: list[dict[str, Any]] = []
    track = Tracker(on_invalid=lambda error, data: refused.append(data))
    too_deep = _nested(MAX_DEPTH)  # "email" is level 3: this reaches MAX_DEPTH + 2
    track.signed_up(user_id="u", group_id="g", email=too_deep)  # type: ignore[arg-type]
    (wire,) = refused
    with pytest.raises(InvalidEventError) as by_validate:
        validate(wire)
    with pytest.raises(InvalidEventError) as by_builder:
        Tracker().signed_up(user_id="u", group_id="g", email=too_deep)  # type: ignore[arg-type]
    assert by_builder.value.problems == by_validate.value.problems
    assert by_builder.value.problems[0].reason == f"nested too deeply (over {MAX_DEPTH} levels)"


@pytest.mark.parametrize("name", list(SPEC_EVENTS))
def test_each_keyword_of_a_spec_builder_goes_to_its_own_property(name: str) -> None:
    semantic = _semantic(SPEC_EVENTS[name])
    given: dict[str, Any] = {key: f"{key}@initech.com" for key in semantic}  # each its own
    if "trial_start_date" in given:
        given.update(trial_start_date="2026-11-01", trial_end_date="2026-11-30")

    message = getattr(Tracker(), _SPEC_METHODS[name])(user_id="u", group_id="g", **given)

    assert message.to_wire()["properties"] == given
