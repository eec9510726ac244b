"""TrackingPlan: validate against it, export it as Segment reads it, read Segment's back."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import pytest
from jsonschema import Draft7Validator

import b2b_events
from b2b_events import Event, InvalidEventError, TrackingPlan, TrackingPlanError
from b2b_events.events import DateTime, Track, tracking_plan

FIXTURE = Path(__file__).parent.parent / "fixtures" / "typewriter9" / "plan.json"


class ReportExported(Event, name="Report Exported", group=True):
    """A report was exported as ``CSV`` or ``PDF``."""

    report_id: str
    format: Literal["csv", "pdf"]
    rows: int | None = None
    exported_at: DateTime | None = None


PLAN = TrackingPlan.b2b_saas().with_events(ReportExported)


def _message(event: str, properties: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": event,
        "userId": "u_1",
        "context": {"groupId": "acct_1"},
        "properties": properties,
        **envelope,
    }


def _verdict(plan: TrackingPlan, payload: dict[str, Any], *, strict: bool = False) -> bool:
    try:
        plan.validate(payload, strict=strict)
    except InvalidEventError:
        return False
    return True


# -- the plan object -----------------------------------------------------------


def test_b2b_saas_holds_the_ten_and_with_events_adds_yours() -> None:
    assert TrackingPlan.b2b_saas().events == tuple(b2b_events.events.SPEC_EVENTS)
    assert PLAN.events[-1] == "Report Exported"
    assert "Report Exported" in PLAN
    assert "Report Exported" not in TrackingPlan.b2b_saas()  # with_events made a new plan


def test_two_different_events_of_one_name_are_refused() -> None:
    class Other(Event, name="Report Exported"):
        pass

    with pytest.raises(TrackingPlanError, match="already has an event 'Report Exported'"):
        PLAN.with_events(Other)
    assert PLAN.with_events(ReportExported).events == PLAN.events  # the same class: once


def test_strict_refuses_track_events_outside_the_plan_only() -> None:
    other = _message("Seat Limit Reached", {})
    assert _verdict(PLAN, other)
    with pytest.raises(InvalidEventError, match="'Seat Limit Reached' is not in the plan"):
        b2b_events.validate(other, plan=PLAN, strict=True)
    assert _verdict(
        PLAN, _message("Report Exported", {"report_id": "r", "format": "csv"}), strict=True
    )
    identify = {"type": "identify", "userId": "u_1", "traits": {}}
    assert _verdict(PLAN, identify, strict=True)


def test_a_plan_holds_event_classes_only() -> None:
    with pytest.raises(TypeError, match="not an event class"):
        TrackingPlan(events=[dict])  # type: ignore[list-item]
    assert repr(TrackingPlan(name="Mine", events=[ReportExported])) == (
        "TrackingPlan(name='Mine', events=['Report Exported'])"
    )


def test_a_payload_that_is_not_an_object_is_refused_as_validate_refuses_it() -> None:
    with pytest.raises(InvalidEventError, match="must be a JSON object, not list"):
        PLAN.validate([])  # type: ignore[arg-type]


def test_json_schema_of_an_event_outside_the_plan_is_an_error() -> None:
    with pytest.raises(TrackingPlanError, match="'Nope' is not in the plan"):
        PLAN.json_schema("Nope")


def test_strict_lists_the_envelope_problems_too() -> None:
    with pytest.raises(InvalidEventError) as exc:
        PLAN.validate({"type": "track", "event": "Elsewhere"}, strict=True)
    assert [str(p) for p in exc.value.problems] == [
        "event: 'Elsewhere' is not in the plan 'B2B SaaS'",
        "userId: required (or anonymousId)",
    ]


# -- export ----------------------------------------------------------------------


def test_public_api_export_has_a_name_and_one_track_rule_per_event() -> None:
    document = PLAN.with_events().to_segment()
    assert document["name"] == "B2B SaaS"
    assert [(r["type"], r["key"], r["version"]) for r in document["rules"]] == [
        ("TRACK", name, 1) for name in PLAN.events
    ]


def test_legacy_export_has_a_name_typewriter_7_can_split() -> None:
    document = PLAN.to_segment(legacy=True)
    parts = document["name"].split("/")
    assert len(parts) == 4
    assert (parts[0], parts[2]) == ("workspaces", "tracking-plans")
    assert document["display_name"] == "B2B SaaS"
    assert [e["name"] for e in document["rules"]["events"]] == list(PLAN.events)
    assert tracking_plan()["name"] == document["name"]


def _walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def test_descriptions_are_plain_text_and_titles_read_as_names() -> None:
    document = PLAN.to_segment()
    nodes = _walk(document)
    descriptions = [n["description"] for n in nodes if isinstance(n.get("description"), str)]
    assert descriptions
    assert not [d for d in descriptions if "``" in d or ":class:" in d]
    rule = PLAN.json_schema("Report Exported")
    assert rule["description"] == "A report was exported as CSV or PDF."
    props = rule["properties"]["properties"]["properties"]
    assert props["report_id"]["title"] == "Report ID"
    assert props["exported_at"]["title"] == "Exported At"
    assert b2b_events.events.json_schema("Signed In")["properties"]["userId"]["title"] == "User ID"


def test_dates_are_exported_with_their_format() -> None:
    props = PLAN.json_schema("Trial Started")["properties"]["properties"]["properties"]
    formats = {s.get("format") for s in props["trial_start_date"]["anyOf"]}
    assert formats == {"date-time", "date"}
    mine = PLAN.json_schema("Report Exported")["properties"]["properties"]["properties"]
    assert mine["exported_at"]["anyOf"][0] == {"format": "date-time", "type": "string"}


# -- the shape Typewriter 9 reads (tests/fixtures/typewriter9/plan.json) -----------


def _typewriter_view(document: dict[str, Any]) -> dict[str, Any]:
    """What Typewriter 9 makes of each TRACK rule (its sanitizeTrackingPlan unwrap).

    It spreads ``jsonSchema.properties.properties`` over the rule's schema, so
    the property schema's keys (``required``, ``type``) win, and rewrites every
    property's ``id``, which must be a string.
    """
    assert isinstance(document["name"], str)
    assert isinstance(document["rules"], list)
    view = {}
    for rule in document["rules"]:
        if rule["type"] != "TRACK":
            continue
        assert isinstance(rule["key"], str)
        assert isinstance(rule["version"], int)
        schema = rule["jsonSchema"]
        inner = schema["properties"]["properties"]
        unwrapped = {**schema, **inner}
        props = {}
        for name, prop in inner.get("properties", {}).items():
            assert prop["id"].startswith("/properties/properties/properties/")
            props[name] = _prop_type(prop)
        view[rule["key"]] = {"required": sorted(unwrapped.get("required", [])), "properties": props}
    return view


def _prop_type(prop: dict[str, Any]) -> tuple[Any, ...]:
    """A property's type as generated code sees it: JSON types, format, enum."""
    members = prop.get("anyOf", [prop])
    types: set[str] = set()
    for member in members:
        kind = member.get("type")
        types.update(kind if isinstance(kind, list) else [kind])
    fmt = {m.get("format") for m in members} - {None}
    enum = [m["enum"] for m in members if "enum" in m]
    return (sorted(types), sorted(fmt), enum)


def test_the_export_reads_in_typewriter_9_as_the_committed_plan_does() -> None:
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    exported = TrackingPlan.b2b_saas().with_events(ReportExported).to_segment()
    expected = _typewriter_view(fixture)
    got = _typewriter_view(exported)
    assert {key: got[key] for key in expected} == expected


def test_the_committed_typewriter_plan_loads_and_checks_messages() -> None:
    plan = TrackingPlan.from_segment(json.loads(FIXTURE.read_text(encoding="utf-8")))
    assert plan.name == "Initech Product Plan"
    assert plan.events == ("Report Exported", "Signed In")
    assert isinstance(
        plan.validate(_message("Report Exported", {"report_id": "r", "format": "csv"})), Track
    )
    with pytest.raises(InvalidEventError) as exc:
        plan.validate(
            _message("Report Exported", {"format": "csv", "exported_at": "yesterday"}, context={})
        )
    assert [p.path for p in exc.value.problems] == [
        "context.groupId",
        "properties.exported_at",
        "properties.report_id",
    ]


# -- import --------------------------------------------------------------------------

COMMON = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"context": {"type": "object", "required": ["locale"]}},
    "required": ["context"],
}


@pytest.mark.parametrize("legacy", [False, True])
def test_both_shapes_round_trip_with_their_common_rules(legacy: bool) -> None:
    document = (
        TrackingPlan.from_segment(
            {"name": "P", "rules": [{"type": "COMMON", "version": 1, "jsonSchema": COMMON}]}
        )
        .with_events(ReportExported)
        .to_segment(legacy=legacy)
    )
    plan = TrackingPlan.from_segment(json.loads(json.dumps(document)))
    assert plan.name == "P"
    good = _message("Report Exported", {"report_id": "r", "format": "pdf"})
    with pytest.raises(InvalidEventError, match=r"context\.locale: required"):
        plan.validate(good)
    good["context"]["locale"] = "en-GB"
    assert plan.validate(good).name == "Report Exported"
    identify = {"type": "identify", "userId": "u", "context": {}}
    assert not _verdict(plan, identify)


def _properties_rule(required: str) -> dict[str, Any]:
    return {"properties": {"properties": {"type": "object", "required": [required]}}}


def test_page_and_screen_rules_are_checked_and_kept_on_export() -> None:
    # Segment's Public API also has PAGE and SCREEN rules: a keyed one is for the page of
    # that name, one without a key for every page. They were dropped on import.
    rules = [
        {"type": "PAGE", "key": "Pricing", "version": 1, "jsonSchema": _properties_rule("plan")},
        {"type": "SCREEN", "version": 1, "jsonSchema": _properties_rule("app")},
    ]
    imported = TrackingPlan.from_segment({"name": "P", "rules": rules})
    again = TrackingPlan.from_segment(json.loads(json.dumps(imported.to_segment())))
    for plan in (imported, again):
        pricing = {"type": "page", "userId": "u", "name": "Pricing", "properties": {}}
        with pytest.raises(InvalidEventError, match=r"page: properties\.plan: required"):
            plan.validate(pricing)
        assert _verdict(plan, {**pricing, "properties": {"plan": "pro"}})
        assert _verdict(plan, {**pricing, "name": "Home"})  # the rule is for Pricing only
        screen = {"type": "screen", "userId": "u", "name": "Home", "properties": {}}
        assert not _verdict(plan, screen)
        assert _verdict(plan, {**screen, "properties": {"app": "ios"}})
    assert [(r["type"], r.get("key")) for r in again.to_segment()["rules"]] == [
        ("PAGE", "Pricing"),
        ("SCREEN", None),
    ]


def test_the_newest_version_of_a_rule_wins() -> None:
    def rule(version: int, kind: str) -> dict[str, Any]:
        schema = {"properties": {"properties": {"properties": {"n": {"type": kind}}}}}
        return {"type": "TRACK", "key": "E", "version": version, "jsonSchema": schema}

    plan = TrackingPlan.from_segment(
        {"name": "P", "rules": [rule(2, "string"), rule(1, "integer")]}
    )
    assert _verdict(plan, _message("E", {"n": "x"}))
    assert not _verdict(plan, _message("E", {"n": 1}))


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ([], "an object with 'rules'"),
        ({"rules": "x"}, "a list .Public API. or an object"),
        ({"rules": [{"type": "TRACK", "jsonSchema": {}}]}, "needs its event name"),
        ({"rules": [{"type": "TRACK", "key": "E", "jsonSchema": {"type": 5}}]}, "not a draft-07"),
        ({"rules": {"events": [{"name": "E", "rules": []}]}}, "must be an object"),
    ],
)
def test_a_malformed_document_is_a_clear_error(document: Any, error: str) -> None:
    with pytest.raises(TrackingPlanError, match=error):
        TrackingPlan.from_segment(document)


def test_without_jsonschema_reading_a_plan_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    with pytest.raises(TrackingPlanError, match=r"pip install 'b2b-events\[plans\]'"):
        TrackingPlan.from_segment(PLAN.to_segment())


def test_date_time_formats_are_checked_on_import() -> None:
    plan = TrackingPlan.from_segment(PLAN.to_segment())
    at = datetime(2026, 11, 22, 10, tzinfo=timezone.utc).isoformat()
    props = {"report_id": "r", "format": "csv", "exported_at": at}
    assert _verdict(plan, _message("Report Exported", props))
    props["exported_at"] = "2026-11-22 at ten"
    assert not _verdict(plan, _message("Report Exported", props))
    assert not _verdict(PLAN, _message("Report Exported", props))


# -- load: what --plan and the pytest plugin take --------------------------------------


def test_load_takes_module_attribute_or_a_json_file(tmp_path: Path) -> None:
    assert TrackingPlan.load(f"{__name__}:PLAN") is PLAN
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN.to_segment()), encoding="utf-8")
    assert TrackingPlan.load(str(path)).events == PLAN.events


@pytest.mark.parametrize(
    ("reference", "error"),
    [
        ("no_such_module_here:plan", "cannot load the plan"),
        (f"{__name__}:NOPE", "cannot load the plan"),
        (f"{__name__}:FIXTURE", "not a TrackingPlan"),
        ("plan", "expected module:attribute"),
        ("missing.json", "cannot read the plan"),
    ],
)
def test_load_explains_what_it_could_not_find(reference: str, error: str) -> None:
    with pytest.raises(TrackingPlanError, match=error):
        TrackingPlan.load(reference)


def test_every_exported_rule_is_a_valid_draft_07_schema() -> None:
    for rule in PLAN.to_segment()["rules"]:
        Draft7Validator.check_schema(rule["jsonSchema"])


# -- round trip on the spec's examples ----------------------------------------------------

_TRACK = b2b_events.Tracker()
SPEC_EXAMPLES = [
    _TRACK.account_created(user_id="u", group_id="g", account_name="Initech"),
    _TRACK.account_deleted(user_id="u", group_id="g"),
    _TRACK.signed_up(user_id="u", group_id="g", type="invited", email="p@initech.com"),
    _TRACK.signed_in(user_id="u", group_id="g", username="peter"),
    _TRACK.signed_out(anonymous_id="a", group_id="g"),
    _TRACK.invite_sent(user_id="u", group_id="g", invitee_email="m@initech.com"),
    _TRACK.account_added_user(user_id="u", group_id="g", role="admin"),
    _TRACK.account_removed_user(user_id="u", group_id="g"),
    _TRACK.trial_started(
        user_id="u",
        group_id="g",
        trial_start_date="2026-11-01",
        trial_end_date="2026-12-01T00:00:00Z",
        trial_plan_name="Pro",
    ),
    _TRACK.trial_ended(
        user_id="u",
        group_id="g",
        trial_start_date="2026-11-01",
        trial_end_date="2026-12-01",
        trial_plan_name="Pro",
    ),
]
_MUTATIONS: list[Callable[[dict[str, Any]], object]] = [
    lambda m: m["context"].pop("groupId"),
    lambda m: m["properties"].update(groupId="g"),
    lambda m: m["properties"].update(email="not-an-email", invitee_email=7, username=1),
    lambda m: m["properties"].update(trial_start_date="soon", account_name=""),
    lambda m: m["properties"].clear(),
]


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("index", range(len(SPEC_EXAMPLES)))
def test_the_spec_examples_and_their_mutations_round_trip(index: int, legacy: bool) -> None:
    imported = TrackingPlan.from_segment(
        json.loads(json.dumps(TrackingPlan.b2b_saas().to_segment(legacy=legacy)))
    )
    schema = Draft7Validator(
        PLAN.json_schema(SPEC_EXAMPLES[index].name),
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )
    wire = SPEC_EXAMPLES[index].to_wire()
    assert _verdict(imported, wire)
    assert schema.is_valid(wire)
    for mutate in _MUTATIONS:
        message = json.loads(json.dumps(wire))
        mutate(message)
        expected = _verdict(PLAN, message)
        assert schema.is_valid(message) == expected, (mutate, message)
        assert _verdict(imported, message) == expected
