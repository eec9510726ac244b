"""``b2b_events.scope``: ids said once, taken by every builder that leaves them out."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest

import b2b_events
from b2b_events import Identity, InvalidEventError, Problem, Tracker, scope
from b2b_events.events import SPEC_EVENTS, Message
from b2b_events.testing import Capture

REQUIRED: dict[str, dict[str, Any]] = {
    "Account Created": {"account_name": "Initech"},
    "Invite Sent": {"invitee_email": "m@initech.com"},
    "Trial Started": {
        "trial_start_date": date(2026, 1, 1),
        "trial_end_date": date(2026, 1, 31),
        "trial_plan_name": "Pro",
    },
    "Trial Ended": {
        "trial_start_date": date(2026, 1, 1),
        "trial_end_date": date(2026, 1, 31),
        "trial_plan_name": "Pro",
    },
}


@pytest.fixture
def sent() -> list[Message]:
    return []


@pytest.fixture
def track(sent: list[Message]) -> Tracker:
    return Tracker(sink=sent.append)


def builder(track: Tracker, name: str) -> Callable[..., Message]:
    method: Callable[..., Message] = getattr(track, name.lower().replace(" ", "_"))
    return method


def wire(message: Message) -> dict[str, Any]:
    return message.to_wire()


# -- every builder takes the ids it leaves out ---------------------------------------


@pytest.mark.parametrize("name", sorted(SPEC_EVENTS))
def test_each_b2b_event_takes_user_and_group_from_the_scope(track: Tracker, name: str) -> None:
    with scope(user_id="u_1", group_id="acct_1"):
        message = wire(builder(track, name)(**REQUIRED.get(name, {})))

    assert message["event"] == name
    assert message["userId"] == "u_1"
    assert message["context"]["groupId"] == "acct_1"


def test_event_identify_and_group_take_the_scope_too(track: Tracker) -> None:
    with scope(user_id="u_1", anonymous_id="anon_1", group_id="acct_1"):
        custom = wire(track.event("Report Exported", properties={"rows": 3}))
        identify = wire(track.identify(traits={"email": "p@initech.com"}))
        group = wire(track.group(traits={"name": "Initech"}))

    for message in (custom, identify, group):
        assert (message["userId"], message["anonymousId"]) == ("u_1", "anon_1")
    assert custom["context"]["groupId"] == "acct_1"
    assert identify["context"]["groupId"] == "acct_1"
    assert group["groupId"] == "acct_1"  # a group call's own field
    assert "groupId" not in group["context"]


def test_page_screen_alias_and_custom_events_take_the_scope(track: Tracker) -> None:
    class ReportExported(b2b_events.Event, name="Report Exported", group=True):
        report_id: str

    with scope(user_id="u_1", anonymous_id="anon_1", group_id="acct_1"):
        page = wire(track.page(name="Pricing"))
        screen = wire(track.screen(name="Home"))
        alias = wire(track.alias(previous_id="anon_1"))
        custom = wire(track(ReportExported(report_id="r_1")))

    for message in (page, screen, alias, custom):  # alias too, as analytics.js sends it
        assert (message["userId"], message["anonymousId"]) == ("u_1", "anon_1")
    for message in (page, screen, custom):
        assert message["context"]["groupId"] == "acct_1"
    assert alias["previousId"] == "anon_1"
    assert "groupId" not in alias["context"]  # alias names no account


def test_an_alias_outside_any_scope_without_a_user_fails(track: Tracker) -> None:
    with pytest.raises(InvalidEventError, match="userId"):
        track.alias(previous_id="anon_1")


def test_an_explicit_argument_wins_over_the_scope(track: Tracker) -> None:
    with scope(user_id="u_1", anonymous_id="anon_1", group_id="acct_1"):
        message = wire(track.signed_in(user_id="u_2", anonymous_id="anon_2", group_id="acct_2"))
        group = wire(track.group(group_id="acct_3"))

    assert (message["userId"], message["anonymousId"]) == ("u_2", "anon_2")
    assert message["context"]["groupId"] == "acct_2"
    assert group["groupId"] == "acct_3"


def test_a_context_group_id_in_the_call_wins_over_the_scope(track: Tracker) -> None:
    with scope(user_id="u_1", group_id="acct_1"):
        message = wire(track.signed_in(context={"groupId": "acct_2"}))

    assert message["context"]["groupId"] == "acct_2"


def test_the_scope_fills_each_id_on_its_own(track: Tracker) -> None:
    with scope(user_id="u_1", group_id="acct_1"):
        message = wire(track.signed_in(anonymous_id="anon_9"))

    assert (message["userId"], message["anonymousId"]) == ("u_1", "anon_9")


def test_nested_scopes_override_field_by_field_and_restore_on_exit(track: Tracker) -> None:
    with scope(user_id="u_1", group_id="acct_1"):
        with scope(group_id="acct_2"):
            inner = wire(track.signed_in())
        outer = wire(track.signed_in())

    assert (inner["userId"], inner["context"]["groupId"]) == ("u_1", "acct_2")
    assert (outer["userId"], outer["context"]["groupId"]) == ("u_1", "acct_1")


def test_context_merges_outer_inner_then_call_recursively(track: Tracker) -> None:
    outer = {"ip": "10.0.0.1", "locale": "en-US", "page": {"path": "/a", "url": "http://x/a"}}
    with scope(group_id="acct_1", user_id="u_1", context=outer):  # noqa: SIM117
        with scope(context={"locale": "fr-FR", "page": {"title": "A"}}):
            message = wire(track.signed_in(context={"page": {"path": "/b"}, "campaign": "x"}))

    context = message["context"]
    assert context["ip"] == "10.0.0.1"
    assert context["locale"] == "fr-FR"
    assert context["page"] == {"path": "/b", "url": "http://x/a", "title": "A"}
    assert context["campaign"] == "x"
    assert context["library"]["name"] == "b2b-events"


def test_a_none_in_an_inner_scope_context_removes_the_outer_key(track: Tracker) -> None:
    with scope(group_id="acct_1", user_id="u_1", context={"ip": "10.0.0.1"}):  # noqa: SIM117
        with scope(context={"ip": None}):
            message = wire(track.signed_in())

    assert "ip" not in message["context"]


def test_a_none_in_an_inner_scope_context_removes_a_nested_key_too(track: Tracker) -> None:
    outer = {"page": {"path": "/a", "url": "http://x/a"}}
    with scope(group_id="acct_1", user_id="u_1", context=outer):  # noqa: SIM117
        with scope(context={"page": {"url": None}, "campaign": {"name": None}}):
            message = wire(track.signed_in())

    assert message["context"]["page"] == {"path": "/a"}
    assert message["context"]["campaign"] == {}


def test_the_scope_keeps_its_context_as_it_was_when_opened(track: Tracker) -> None:
    page = {"path": "/a"}
    with scope(group_id="acct_1", user_id="u_1", context={"page": page}):
        page["path"] = "/changed"
        message = wire(track.signed_in())

    assert message["context"]["page"] == {"path": "/a"}


def test_a_b2b_event_outside_any_scope_without_a_group_still_fails(track: Tracker) -> None:
    with scope(user_id="u_1", group_id="acct_1"):
        track.signed_in()

    with pytest.raises(InvalidEventError) as info:
        track.signed_in(user_id="u_1")

    assert info.value.problems == (Problem("context.groupId", "required"),)


def test_a_scope_without_a_group_gives_none(track: Tracker, sent: list[Message]) -> None:
    with scope(user_id="u_1"), pytest.raises(InvalidEventError, match=r"context\.groupId"):
        track.signed_in()

    assert sent == []


def test_scope_takes_a_group_id_from_its_context_and_refuses_two_different() -> None:
    assert scope(context={"groupId": "acct_1", "ip": "1.2.3.4"}).identity == Identity(
        group_id="acct_1", context={"ip": "1.2.3.4"}
    )
    with pytest.raises(ValueError, match="differs from group_id"):
        scope(group_id="acct_1", context={"groupId": "acct_2"})


def test_an_identity_whose_context_names_another_account_is_refused_too() -> None:
    # It silently took the context's account over the identity's group_id.
    with pytest.raises(ValueError, match="differs from group_id"):
        scope(Identity(group_id="acct_1", context={"groupId": "acct_2"}))
    # The keyword arguments override the identity's fields, the account included.
    assert scope(Identity(group_id="acct_1"), context={"groupId": "acct_2"}).identity == (
        Identity(group_id="acct_2")
    )
    assert scope(Identity(context={"groupId": "acct_1"}), group_id="acct_2").identity == (
        Identity(group_id="acct_2")
    )


def test_scope_starts_from_an_identity_and_current_identity_reads_it() -> None:
    assert b2b_events.current_identity() is None
    carried = Identity(user_id="u_1", group_id="acct_1", context={"ip": "1.2.3.4"})

    with scope(carried, group_id="acct_2", context={"locale": "en"}) as entered:
        assert b2b_events.current_identity() == entered
        assert entered == Identity(
            user_id="u_1", group_id="acct_2", context={"ip": "1.2.3.4", "locale": "en"}
        )
    assert b2b_events.current_identity() is None


def test_scope_exits_on_an_exception(track: Tracker) -> None:
    with pytest.raises(RuntimeError), scope(user_id="u_1", group_id="acct_1"):
        raise RuntimeError

    assert b2b_events.current_identity() is None


# -- as a decorator -------------------------------------------------------------------


def test_a_decorated_function_runs_inside_its_scope(track: Tracker) -> None:
    @scope(group_id="acct_1")
    def sign_in(user_id: str) -> Message:
        return track.signed_in(user_id=user_id)

    message = wire(sign_in("u_1"))

    assert message["context"]["groupId"] == "acct_1"
    assert sign_in.__name__ == "sign_in"
    assert b2b_events.current_identity() is None


def test_a_decorated_coroutine_keeps_its_scope_across_await(track: Tracker) -> None:
    @scope(user_id="u_1", group_id="acct_1")
    async def handler() -> Message:
        await asyncio.sleep(0)
        return track.signed_in()

    async def main() -> tuple[Message, Identity | None]:
        message = await handler()
        return message, b2b_events.current_identity()

    message, after = asyncio.run(main())

    assert (wire(message)["userId"], wire(message)["context"]["groupId"]) == ("u_1", "acct_1")
    assert after is None


def test_one_decorator_serves_concurrent_calls_each_with_its_own_ids(track: Tracker) -> None:
    @scope(group_id="acct_1")
    async def handler(user_id: str) -> list[Message]:
        with scope(user_id=user_id):
            first = track.signed_in()
            await asyncio.sleep(0)  # every other call runs here, inside its own scopes
            return [first, track.signed_out()]

    async def main() -> list[list[Message]]:
        return await asyncio.gather(*(handler(f"u_{i}") for i in range(200)))

    results = asyncio.run(main())

    for i, messages in enumerate(results):
        assert [wire(m)["userId"] for m in messages] == [f"u_{i}", f"u_{i}"]
        assert {wire(m)["context"]["groupId"] for m in messages} == {"acct_1"}


def test_decorating_a_generator_function_is_refused() -> None:
    def rows() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        scope(group_id="acct_1")(rows)


# -- threads and tasks: a context of their own ---------------------------------------


def test_a_thread_started_inside_a_scope_does_not_see_it(track: Tracker) -> None:
    seen: list[Identity | None] = []
    with scope(user_id="u_1", group_id="acct_1"):
        thread = threading.Thread(target=lambda: seen.append(b2b_events.current_identity()))
        thread.start()
        thread.join()

    assert seen == [None]


def test_copy_context_carries_the_scope_into_a_thread(track: Tracker) -> None:
    messages: list[Message] = []
    with scope(user_id="u_1", group_id="acct_1"):
        context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(lambda: messages.append(track.signed_in()),)
    )
    thread.start()
    thread.join()

    assert (wire(messages[0])["userId"], wire(messages[0])["context"]["groupId"]) == (
        "u_1",
        "acct_1",
    )


def test_a_task_created_inside_a_scope_keeps_it_after_the_scope_closes(track: Tracker) -> None:
    async def later(gate: asyncio.Event) -> Message:
        await gate.wait()
        return track.signed_in()

    async def main() -> Message:
        gate = asyncio.Event()
        with scope(user_id="u_1", group_id="acct_1"):
            task = asyncio.create_task(later(gate))  # takes a copy of the context
        gate.set()
        return await task

    message = wire(asyncio.run(main()))

    assert (message["userId"], message["context"]["groupId"]) == ("u_1", "acct_1")


def test_threads_in_flight_never_see_each_others_ids(track: Tracker) -> None:
    workers = 16
    barrier = threading.Barrier(workers)

    def request(i: int) -> list[Message]:
        with scope(user_id=f"u_{i}", group_id=f"acct_{i % 7}"):
            first = track.signed_in(properties={"request": i})
            barrier.wait(timeout=30)  # every worker is inside its own scope now
            return [first, track.signed_out(properties={"request": i})]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(request, range(workers * 25)))

    assert len(results) == 400
    for i, messages in enumerate(results):
        for message in map(wire, messages):
            assert message["properties"]["request"] == i
            assert (message["userId"], message["context"]["groupId"]) == (f"u_{i}", f"acct_{i % 7}")


def test_one_scope_object_entered_in_many_threads_at_once(track: Tracker) -> None:
    account = scope(group_id="acct_1")
    workers = 8
    barrier = threading.Barrier(workers)

    def request(i: int) -> list[str]:
        with account, scope(user_id=f"u_{i}"):
            barrier.wait(timeout=30)  # every thread has entered the same Scope object
            first = wire(track.signed_in())["userId"]
        barrier.wait(timeout=30)  # every thread has left it again
        return [first, str(b2b_events.current_identity())]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(request, range(workers)))

    assert results == [[f"u_{i}", "None"] for i in range(workers)]


# -- every way of tracking goes through it ------------------------------------------


def test_client_async_client_and_module_level_calls_take_the_scope(
    b2b_events_capture: Capture,
) -> None:
    async def in_async_client() -> None:
        async with b2b_events.AsyncClient(write_key="k") as client:
            client.track.signed_in(properties={"via": "AsyncClient"})

    with scope(user_id="u_1", group_id="acct_1", context={"locale": "en-US"}):
        b2b_events.track.signed_in(properties={"via": "module"})
        b2b_events.identify(traits={"email": "p@initech.com"})
        with b2b_events.Client(write_key="k") as client:
            client.track.signed_in(properties={"via": "Client"})
            client.group(traits={"name": "Initech"})
        asyncio.run(in_async_client())

    for via in ("module", "Client", "AsyncClient"):
        b2b_events_capture.assert_tracked_once(
            "Signed In",
            user_id="u_1",
            group_id="acct_1",
            properties={"via": via},
            context={"locale": "en-US"},
        )
    b2b_events_capture.assert_tracked("identify", user_id="u_1", group_id="acct_1")
    b2b_events_capture.assert_tracked("group", user_id="u_1", group_id="acct_1")
