"""page, screen and alias: builders, validate(), json_schema(), and groupId only for the ten."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from jsonschema import Draft7Validator

import b2b_events
from b2b_events import AsyncClient, Client, InvalidEventError, Tracker, validate
from b2b_events.events import Alias, Identify, Message, Page, Screen, Track, json_schema
from b2b_events.testing import capture

TS = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
TS_WIRE = "2026-11-22T10:00:00.000Z"
MID = "3f0c5b0e-8c1d-4a6e-9f3b-2d7c5e1a9b40"
LIBRARY = {"name": "b2b-events", "version": b2b_events.__version__}


def test_page_builder_puts_the_exact_wire_dict_on_the_sink() -> None:
    sent: list[Message] = []

    page = Tracker(sink=sent.append).page(
        name="Pricing",
        category="Docs",
        properties={"path": "/pricing", "referrer": None},
        user_id="u_1",
        group_id="acct_1",
        timestamp=TS,
        message_id=MID,
    )

    assert sent == [page]
    assert type(page) is Page
    assert page.page_name == "Pricing"
    assert page.to_wire() == {
        "type": "page",
        "name": "Pricing",
        "category": "Docs",
        "properties": {"path": "/pricing"},
        "userId": "u_1",
        "context": {"groupId": "acct_1", "library": LIBRARY},
        "timestamp": TS_WIRE,
        "messageId": MID,
    }


def test_screen_and_alias_builders_write_their_wire_fields() -> None:
    track = Tracker()

    screen = track.screen(anonymous_id="a_1", name="Home", timestamp=TS, message_id=MID)
    alias = track.alias(user_id="u_1", previous_id="a_1", timestamp=TS, message_id=MID)

    assert type(screen) is Screen
    assert screen.to_wire() == {
        "type": "screen",
        "name": "Home",
        "properties": {},
        "anonymousId": "a_1",
        "context": {"library": LIBRARY},
        "timestamp": TS_WIRE,
        "messageId": MID,
    }
    assert type(alias) is Alias
    assert alias.to_wire() == {
        "type": "alias",
        "userId": "u_1",
        "previousId": "a_1",
        "context": {"library": LIBRARY},
        "timestamp": TS_WIRE,
        "messageId": MID,
    }


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda t: t.page(user_id="u", name=5), "page: name: must be a string"),
        (lambda t: t.screen(user_id="u", category=["x"]), "screen: category: must be a string"),
        (
            lambda t: t.page(user_id="u", properties=[1]),
            "page: properties: must be an object, not list",
        ),
        (lambda t: t.page(name="Home"), "page: userId: required (or anonymousId)"),
        (lambda t: t.alias(user_id="u", previous_id=""), "alias: previousId: must not be empty"),
    ],
)
def test_invalid_page_screen_alias_raise_naming_the_problem(call: Any, expected: str) -> None:
    sent: list[Message] = []

    with pytest.raises(InvalidEventError) as info:
        call(Tracker(sink=sent.append))

    assert str(info.value) == expected
    assert sent == []


@pytest.mark.parametrize(
    "cls",
    [Page, Screen, Alias],
)
def test_page_screen_alias_round_trip_through_validate(cls: type[Message]) -> None:
    track = Tracker()
    builders: dict[type[Message], Callable[[], Message]] = {
        Page: lambda: track.page(user_id="u_1", name="Pricing", properties={"url": "https://x.io"}),
        Screen: lambda: track.screen(anonymous_id="a_1", name="Home", category="Onboarding"),
        Alias: lambda: track.alias(user_id="u_1", previous_id="a_1"),
    }
    built = builders[cls]()

    again = validate(built.to_wire())

    assert type(again) is cls
    assert again == built


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"type": "page", "userId": "u", "properties": "x"}, "page: properties: must be an object"),
        ({"type": "page", "userId": "u", "name": 1}, "page: name: must be a string"),
        ({"type": "screen", "userId": "u", "category": 1}, "screen: category: must be a string"),
        ({"type": "alias", "userId": "u"}, "alias: previousId: required"),
        ({"type": "alias", "previousId": "a"}, "alias: userId: required"),
        ({"type": "alias", "anonymousId": "a", "previousId": "b"}, "alias: userId: required"),
    ],
)
def test_validate_checks_page_screen_alias_fields(payload: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        validate(payload)

    assert str(info.value) == expected


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        ({"type": "page", "userId": "u"}, Page),
        ({"type": "screen", "anonymousId": "a"}, Screen),
        ({"type": "alias", "userId": "u", "previousId": "a"}, Alias),
        ({"type": "identify", "userId": "u"}, Identify),
        ({"type": "track", "event": "Report Exported", "userId": "u"}, Track),
    ],
)
def test_only_the_ten_spec_events_require_a_group_id(
    payload: dict[str, Any], cls: type[Message]
) -> None:
    assert type(validate(payload)) is cls
    with pytest.raises(InvalidEventError, match=r"context\.groupId: required"):
        validate({"type": "track", "event": "Signed In", "userId": "u"})


@pytest.mark.parametrize("kind", ["page", "screen", "alias", "identify", "group", "track"])
def test_json_schema_of_each_type_agrees_with_validate(kind: str) -> None:
    schema = json_schema(kind)
    track = Tracker()
    builders: dict[str, Callable[[], Message]] = {
        "page": lambda: track.page(user_id="u", name="P", properties={"url": "https://x.io"}),
        "screen": lambda: track.screen(anonymous_id="a", category="C"),
        "alias": lambda: track.alias(user_id="u", previous_id="a"),
        "identify": lambda: track.identify(user_id="u", traits={"email": "a@b.co"}),
        "group": lambda: track.group(user_id="u", group_id="g", traits={"plan": "pro"}),
        "track": lambda: track.event("Report Exported", anonymous_id="a"),
    }
    valid = builders[kind]().to_wire()
    invalid = {**valid, "userId": None, "anonymousId": None}

    Draft7Validator.check_schema(schema)
    assert list(Draft7Validator(schema).iter_errors(valid)) == []
    assert list(Draft7Validator(schema).iter_errors(invalid)) != []
    with pytest.raises(InvalidEventError):
        validate(invalid)


def test_alias_schema_requires_both_ids() -> None:
    schema = json_schema("alias")

    assert {"userId", "previousId", "type"} <= set(schema["required"])


def test_client_and_module_level_send_page_screen_alias() -> None:
    with capture() as cap:
        client = Client()
        client.page(user_id="u_1", name="Pricing", properties={"path": "/pricing"})
        client.screen(user_id="u_1", name="Home")
        b2b_events.page(user_id="u_1", name="Docs")
        b2b_events.alias(user_id="u_1", previous_id="a_1")
        b2b_events.screen(anonymous_id="a_1", name="Home")
        client.close()

    assert [m["type"] for m in cap.messages] == ["page", "screen", "page", "alias", "screen"]
    assert [m["name"] for m in cap.messages(type="page")] == ["Pricing", "Docs"]
    assert cap.messages(type="alias")[0]["previousId"] == "a_1"
    assert cap.events("screen", user_id="u_1")[0]["name"] == "Home"
    cap.assert_tracked("Pricing", type="page", properties={"path": "/pricing"})
    cap.assert_tracked_once("alias", user_id="u_1")
    cap.assert_not_tracked("Pricing", type="screen")
    cap.assert_order("page", "screen", "page", "alias", user_id="u_1")


def test_a_page_assertion_that_fails_shows_the_name_it_wanted() -> None:
    with capture() as cap:
        b2b_events.page(user_id="u_1", name="Docs")

    with pytest.raises(AssertionError) as info:
        cap.assert_tracked("Pricing", type="page")

    assert "'Pricing' with type='page' was not tracked" in str(info.value)
    assert '-  "name": "Docs",' in str(info.value)
    assert '+  "name": "Pricing",' in str(info.value)


def test_async_client_sends_page_screen_alias() -> None:
    async def main() -> None:
        async with AsyncClient() as client:
            client.page(user_id="u_1", name="Pricing")
            client.screen(user_id="u_1", name="Home")
            client.alias(user_id="u_1", previous_id="a_1")

    with capture() as cap:
        asyncio.run(main())

    assert [m["type"] for m in cap.messages] == ["page", "screen", "alias"]
