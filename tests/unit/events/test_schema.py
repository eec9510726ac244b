"""Draft-07 JSON Schema for the spec events: it accepts what ``validate`` accepts, and the plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

import pytest
from jsonschema import Draft7Validator

from b2b_events import InvalidEventError, Tracker, validate
from b2b_events.events import SPEC_EVENTS, Message, json_schema, properties_schema, tracking_plan

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
TS = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
SPEC_ORDER = [
    "Account Created",
    "Account Deleted",
    "Signed Up",
    "Signed In",
    "Signed Out",
    "Invite Sent",
    "Account Added User",
    "Account Removed User",
    "Trial Started",
    "Trial Ended",
]

# One valid builder call per event, with every optional property and some custom ones.
VALID: dict[str, Callable[[Tracker], Message]] = {
    "Account Created": lambda t: t.account_created(
        user_id="u", group_id="g", account_name="Initech", properties={"plan": "Pro"}
    ),
    "Account Deleted": lambda t: t.account_deleted(
        anonymous_id="a", group_id="g", account_name="Initech"
    ),
    "Signed Up": lambda t: t.signed_up(
        user_id="u",
        group_id="g",
        type="organic",
        first_name="Peter",
        last_name="Gibbons",
        email="peter@initech.com",
        phone="+1-555-0100",
        username="pgibbons",
        title="Programmer",
        properties={"utm": {"source": "ads", "ids": [1, 2]}},
        context={"ip": "203.0.113.7"},
        integrations={"All": False, "Mixpanel": True},
    ),
    "Signed In": lambda t: t.signed_in(user_id="u", group_id="g", username="pgibbons"),
    "Signed Out": lambda t: t.signed_out(user_id="u", anonymous_id="a", group_id="g"),
    "Invite Sent": lambda t: t.invite_sent(
        user_id="u",
        group_id="g",
        invitee_email="milton@initech.com",
        invitee_first_name="Milton",
        invitee_last_name="Waddams",
        invitee_role="Collator",
    ),
    "Account Added User": lambda t: t.account_added_user(user_id="u", group_id="g", role="admin"),
    "Account Removed User": lambda t: t.account_removed_user(user_id="u", group_id="g"),
    "Trial Started": lambda t: t.trial_started(
        user_id="u",
        group_id="g",
        trial_start_date=date(2026, 11, 1),
        trial_end_date=TS,
        trial_plan_name="Pro",
    ),
    "Trial Ended": lambda t: t.trial_ended(
        user_id="u",
        group_id="g",
        trial_start_date="2026-11-01T10:00:00+02:00",
        trial_end_date="2026-11-15",
        trial_plan_name="Pro",
        timestamp=TS,
    ),
}


def valid_wire(event: str) -> dict[str, Any]:
    return VALID[event](Tracker()).to_wire()


def error_paths(schema: dict[str, Any], instance: object) -> list[str]:
    """Where ``instance`` breaks ``schema`` (JSON paths); empty when it is valid."""
    return sorted(error.json_path for error in Draft7Validator(schema).iter_errors(instance))


def test_every_spec_event_has_a_valid_call_here() -> None:
    assert list(VALID) == list(SPEC_EVENTS) == SPEC_ORDER


@pytest.mark.parametrize("event", SPEC_ORDER)
@pytest.mark.parametrize("schema_of", [json_schema, properties_schema])
def test_schemas_are_draft_07_without_defs(
    event: str, schema_of: Callable[[str], dict[str, Any]]
) -> None:
    schema = schema_of(event)

    assert schema["$schema"] == DRAFT_07
    assert "$defs" not in json.dumps(schema)
    Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("event", SPEC_ORDER)
def test_valid_message_validates_against_its_json_schema(event: str) -> None:
    wire = valid_wire(event)

    assert error_paths(json_schema(event), wire) == []
    assert error_paths(properties_schema(event), wire["properties"]) == []


def test_json_schema_accepts_anonymous_id_alone() -> None:
    wire = valid_wire("Account Deleted")

    assert "userId" not in wire
    assert error_paths(json_schema("Account Deleted"), wire) == []


@pytest.mark.parametrize("event", SPEC_ORDER)
def test_json_schema_rejects_a_message_without_group_id(event: str) -> None:
    wire = valid_wire(event)
    del wire["context"]["groupId"]

    assert error_paths(json_schema(event), wire) == ["$.context"]


@pytest.mark.parametrize("event", SPEC_ORDER)
def test_json_schema_rejects_a_message_without_user_id_and_anonymous_id(event: str) -> None:
    wire = valid_wire(event)
    wire.pop("userId", None)
    wire.pop("anonymousId", None)

    assert error_paths(json_schema(event), wire) == ["$"]


def accepted_by_validate(wire: dict[str, Any]) -> bool:
    try:
        validate(wire)
    except InvalidEventError:
        return False
    return True


@pytest.mark.parametrize("event", SPEC_ORDER)
@pytest.mark.parametrize("key", ["type", "event", "context"])
def test_json_schema_requires_what_validate_requires_though_the_model_has_a_default(
    event: str, key: str
) -> None:
    wire = valid_wire(event)
    del wire[key]

    assert not accepted_by_validate(wire)
    assert error_paths(json_schema(event), wire) == ["$"]


@pytest.mark.parametrize("event", SPEC_ORDER)
def test_json_schema_requires_properties_exactly_when_the_event_has_required_ones(
    event: str,
) -> None:
    wire = valid_wire(event)
    del wire["properties"]
    needed = event in ("Account Created", "Invite Sent", "Trial Started", "Trial Ended")

    assert accepted_by_validate(wire) is not needed
    assert error_paths(json_schema(event), wire) == (["$"] if needed else [])


@pytest.mark.parametrize("event", SPEC_ORDER)
def test_json_schema_rejects_a_null_user_id_without_anonymous_id(event: str) -> None:
    wire = valid_wire(event)
    wire.pop("anonymousId", None)
    wire["userId"] = None

    assert not accepted_by_validate(wire)
    assert error_paths(json_schema(event), wire) == ["$"]


@pytest.mark.parametrize("other", ["userId", "anonymousId"])
def test_json_schema_accepts_a_null_id_next_to_the_other_one(other: str) -> None:
    wire = valid_wire("Signed Out")  # it has both ids
    wire[{"userId": "anonymousId", "anonymousId": "userId"}[other]] = None

    assert accepted_by_validate(wire)
    assert error_paths(json_schema("Signed Out"), wire) == []


def wire_variants(wire: dict[str, Any]) -> list[dict[str, Any]]:
    """``wire`` with one top-level or context key dropped, or set to null, at a time."""
    variants = []
    for key in wire:
        variants.append({k: v for k, v in wire.items() if k != key})
        variants.append({**wire, key: None})
    for key in wire["context"]:
        context = {k: v for k, v in wire["context"].items() if k != key}
        variants.append({**wire, "context": context})
        variants.append({**wire, "context": {**context, key: None}})
    return variants


@pytest.mark.parametrize("event", SPEC_ORDER)
def test_json_schema_and_validate_agree_on_a_missing_or_null_field(event: str) -> None:
    """Dropping messageId or timestamp is fine (validate fills them); the rest is per field."""
    for wire in wire_variants(valid_wire(event)):
        assert (error_paths(json_schema(event), wire) == []) is accepted_by_validate(wire), wire


@pytest.mark.parametrize(
    ("event", "properties", "path"),
    [
        ("Signed Up", {"email": 5}, "$.properties.email"),
        ("Signed Up", {"email": "not-an-email"}, "$.properties.email"),
        ("Signed In", {"username": ["pgibbons"]}, "$.properties.username"),
        ("Invite Sent", {"invitee_email": "nope"}, "$.properties.invitee_email"),
        ("Account Created", {"account_name": " "}, "$.properties.account_name"),
        ("Trial Started", {"trial_start_date": 20261101}, "$.properties.trial_start_date"),
    ],
)
def test_json_schema_rejects_a_bad_property(
    event: str, properties: dict[str, Any], path: str
) -> None:
    wire = valid_wire(event)
    wire["properties"] = {**wire["properties"], **properties}

    assert error_paths(json_schema(event), wire) == [path]
    assert error_paths(properties_schema(event), wire["properties"]) == [
        path.replace("$.properties", "$")
    ]


@pytest.mark.parametrize(
    "event", ["Account Created", "Invite Sent", "Trial Started", "Trial Ended"]
)
def test_json_schema_rejects_missing_required_properties(event: str) -> None:
    wire = valid_wire(event)
    wire["properties"] = {"note": "custom only"}

    # One error per missing property, all at the properties object.
    assert set(error_paths(json_schema(event), wire)) == {"$.properties"}
    assert set(error_paths(properties_schema(event), wire["properties"])) == {"$"}


def test_json_schema_rejects_a_blank_group_id() -> None:
    wire = valid_wire("Signed In")
    wire["context"]["groupId"] = "  "

    assert error_paths(json_schema("Signed In"), wire) == ["$.context.groupId"]


def test_json_schema_of_one_event_rejects_another_event() -> None:
    wire = valid_wire("Signed In")

    assert error_paths(json_schema("Signed Out"), wire) == ["$.event"]


@pytest.mark.parametrize("schema_of", [json_schema, properties_schema])
@pytest.mark.parametrize("name", ["Signed up", "User Signed Up", "Report Exported", ""])
def test_unknown_event_name_raises_invalid_event_error(
    schema_of: Callable[[str], dict[str, Any]], name: str
) -> None:
    with pytest.raises(InvalidEventError) as info:
        schema_of(name)

    if schema_of is json_schema:  # the whole message: the six types' schemas too
        known = ", ".join([*SPEC_ORDER, "track", "identify", "group", "page", "screen", "alias"])
        assert (
            str(info.value)
            == f"{name}: event: not a B2B SaaS spec event nor a message type; one of: {known}"
        )
    else:
        assert str(info.value) == (
            f"{name}: event: not a B2B SaaS spec event; one of: " + ", ".join(SPEC_ORDER)
        )


def test_tracking_plan_lists_the_ten_events_in_spec_order() -> None:
    plan = tracking_plan()

    assert plan["display_name"] == "B2B SaaS"
    assert [event["name"] for event in plan["rules"]["events"]] == SPEC_ORDER
    assert all(event["version"] == 1 for event in plan["rules"]["events"])
    assert all(event["description"] for event in plan["rules"]["events"])


def test_tracking_plan_takes_a_display_name() -> None:
    assert tracking_plan("Initech")["display_name"] == "Initech"


@pytest.mark.parametrize("index", range(10))
def test_tracking_plan_rules_accept_a_valid_message(index: int) -> None:
    rule = tracking_plan()["rules"]["events"][index]
    wire = valid_wire(rule["name"])
    rules = rule["rules"]

    assert rules["$schema"] == DRAFT_07
    assert "$defs" not in json.dumps(rules)
    Draft7Validator.check_schema(rules)
    assert error_paths(rules, {"properties": wire["properties"], "context": wire["context"]}) == []


@pytest.mark.parametrize("index", range(10))
def test_tracking_plan_rules_reject_a_missing_group_id(index: int) -> None:
    rule = tracking_plan()["rules"]["events"][index]
    wire = valid_wire(rule["name"])
    del wire["context"]["groupId"]

    paths = error_paths(
        rule["rules"], {"properties": wire["properties"], "context": wire["context"]}
    )

    assert paths == ["$.context"]


@pytest.mark.parametrize("index", range(10))
def test_tracking_plan_rules_require_the_context(index: int) -> None:
    rule = tracking_plan()["rules"]["events"][index]
    wire = valid_wire(rule["name"])

    assert error_paths(rule["rules"], {"properties": wire["properties"]}) == ["$"]


@pytest.mark.parametrize("index", range(10))
def test_tracking_plan_rules_require_properties_when_validate_does(index: int) -> None:
    rule = tracking_plan()["rules"]["events"][index]
    wire = valid_wire(rule["name"])
    del wire["properties"]

    paths = error_paths(rule["rules"], {"context": wire["context"]})

    assert (paths == []) is accepted_by_validate(wire)
    assert paths in ([], ["$"])


def test_tracking_plan_rules_check_property_types() -> None:
    rule = tracking_plan()["rules"]["events"][SPEC_ORDER.index("Invite Sent")]
    instance = {"properties": {"invitee_email": 7}, "context": {"groupId": "acct_1"}}

    assert error_paths(rule["rules"], instance) == ["$.properties.invitee_email"]
