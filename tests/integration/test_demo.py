"""``make demo``: the call-site error, and the other service's event labelled as such."""

from __future__ import annotations

import io

from b2b_events._demo import run_demo


def test_the_demo_shows_the_error_a_mistake_gets_at_the_call_site() -> None:
    out = io.StringIO()

    assert run_demo(out, live=False) == 0

    text = out.getvalue()
    assert (
        '  >>> client.track.invite_sent(user_id="u_peter", group_id="", invitee_email="bob")\n'
        "  b2b_events.InvalidEventError: Invite Sent: context.groupId: must not be empty; "
        "properties.invitee_email: must be an email address\n"
    ) in text
    assert "client: 17 tracked, 17 delivered" in text  # the mistake was never sent


def test_the_other_services_invalid_event_is_labelled() -> None:
    out = io.StringIO()

    run_demo(out, live=True)

    lines = out.getvalue().splitlines()
    label = "another service (plain HTTP, not b2b-events) posts an Invite Sent without its account:"
    live = lines[lines.index(label) + 1]
    assert live.endswith(
        "Invite Sent           user=u_peter  group=-  INVALID context.groupId: required"
    )
    flagged = lines.index("collector flagged, from another service (plain HTTP, not b2b-events):")
    assert lines[flagged + 1] == "  " + live
