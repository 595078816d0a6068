"""Self-tests: buttons, feedback buttons, response_url, strict blocks and streaming
chunks, driven by the real slack_sdk AsyncWebClient and a real Bolt AsyncApp."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextActionsBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
)
from slack_sdk.models.messages.chunk import MarkdownTextChunk, PlanUpdateChunk, TaskUpdateChunk
from slack_sdk.web.async_client import AsyncWebClient

from tests.emulators.slack import SlackEmulator
from tests.emulators.slack.arguments import sdk_arguments
from tests.emulators.slack.test_slack_emulator import (
    close_socket_mode,
    serve,
    start_socket_mode,
    web_client,
)

BUTTONS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Run the tool?"}},
    {
        "type": "actions",
        "block_id": "approval",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": "call_1",
                "style": "primary",
            },
            {
                "type": "button",
                "action_id": "deny",
                "text": {"type": "plain_text", "text": "Deny"},
                "value": "call_1",
                "style": "danger",
                "confirm": {
                    "title": {"type": "plain_text", "text": "Sure?"},
                    "text": {"type": "mrkdwn", "text": "The tool will not run."},
                    "confirm": {"type": "plain_text", "text": "Deny"},
                    "deny": {"type": "plain_text", "text": "Back"},
                },
            },
        ],
    },
]

FEEDBACK = ContextActionsBlock(
    block_id="fb",
    elements=[
        FeedbackButtonsElement(
            action_id="feedback",
            positive_button=FeedbackButtonObject(
                text="👍", value="good", accessibility_label="Good reply"
            ),
            negative_button=FeedbackButtonObject(
                text="👎", value="bad", accessibility_label="Bad reply"
            ),
        )
    ],
).to_dict()


def button_app(emu: SlackEmulator, *, signing_secret: str | None = None) -> AsyncApp:
    """Approve: an ephemeral note to the clicker and the buttons replaced by a line.
    Deny: the message deleted. Feedback: an ephemeral thank-you naming the value."""
    app = AsyncApp(
        client=web_client(emu),
        signing_secret=signing_secret or "",
        request_verification_enabled=signing_secret is not None,
        process_before_response=True,
    )

    @app.action("approve")
    async def on_approve(ack: Any, respond: Any, body: dict[str, Any]) -> None:
        await ack()
        await respond(text=f"approved by <@{body['user']['id']}>", response_type="ephemeral")
        await respond(text="Approved.", replace_original=True)

    @app.action("deny")
    async def on_deny(ack: Any, respond: Any) -> None:
        await ack()
        await respond(delete_original=True)

    @app.action("feedback")
    async def on_feedback(ack: Any, respond: Any, action: dict[str, Any]) -> None:
        await ack()
        await respond(text=f"thanks: {action['value']}")

    return app


async def running(
    emu: SlackEmulator, mode: str
) -> tuple[AsyncSocketModeHandler | None, web.AppRunner | None, str | None]:
    if mode == "socket":
        handler = await start_socket_mode(button_app(emu), emu.app_token)
        await emu.wait_socket_connected()
        return handler, None, None
    runner, url = await serve(button_app(emu, signing_secret=emu.signing_secret))
    return None, runner, url


async def stopped(handler: AsyncSocketModeHandler | None, runner: web.AppRunner | None) -> None:
    if handler is not None:
        await close_socket_mode(handler)
    if runner is not None:
        await runner.cleanup()


# --------------------------------------------------------------------------- buttons


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_button_click_payload_and_response_url(
    slack_emulator: SlackEmulator, mode: str
) -> None:
    emu = slack_emulator
    client = web_client(emu)
    root = emu.user_message("C0001", "<@UBOT> delete the logs", user="U0ANN")
    posted = await client.chat_postMessage(
        channel="C0001", thread_ts=root.ts, text="Run the tool?", blocks=BUTTONS
    )
    handler, runner, url = await running(emu, mode)
    try:
        clicked = await emu.click("C0001", posted["ts"], "approve", user="U0ANN", url=url)
        assert clicked.acked and clicked.kind == "block_actions" and clicked.mode == mode
        payload = clicked.payload
        assert payload["type"] == "block_actions" and payload["api_app_id"] == "A0001"
        assert payload["user"] == {
            "id": "U0ANN",
            "username": "u0ann",
            "name": "u0ann",
            "team_id": "T0001",
        }
        assert payload["container"] == {
            "type": "message",
            "message_ts": posted["ts"],
            "channel_id": "C0001",
            "is_ephemeral": False,
            "thread_ts": root.ts,
        }
        assert payload["channel"]["id"] == "C0001" and payload["state"] == {"values": {}}
        assert payload["message"]["ts"] == posted["ts"]
        assert payload["message"]["bot_id"] == "BBOT"
        assert payload["message"]["blocks"][1]["block_id"] == "approval"
        [action] = payload["actions"]
        assert {k: v for k, v in action.items() if k != "action_ts"} == {
            "action_id": "approve",
            "block_id": "approval",
            "text": {"type": "plain_text", "text": "Approve"},
            "value": "call_1",
            "style": "primary",
            "type": "button",
        }
        assert payload["trigger_id"] in emu.triggers
        assert payload["response_url"].startswith(f"{emu.base_url}/actions/T0001/")

        # The app's two respond() calls: an ephemeral note, then the replacement.
        record = emu.response_urls[payload["response_url"]]
        assert [p.effect for p in record.posts] == ["ephemeral", "replaced"]
        assert emu.ephemeral_texts("U0ANN", "C0001", root.ts) == ["approved by <@U0ANN>"]
        assert emu.ephemerals_for("U0ANN")[0].source == "response_url"
        assert emu.ephemeral_texts("U0USER") == []
        msg = emu.message("C0001", posted["ts"])
        assert msg is not None and msg.text == "Approved." and msg.blocks is None
        assert msg.history == ["Run the tool?", "Approved."]

        # The buttons are gone now: clicking one fails the test loudly.
        with pytest.raises(LookupError, match="no button with action_id 'deny'"):
            await emu.click("C0001", posted["ts"], "deny", url=url)

        again = await client.chat_postMessage(channel="C0001", text="again", blocks=BUTTONS)
        denied = await emu.click("C0001", again["ts"], "deny", url=url)
        assert denied.acked and "thread_ts" not in denied.payload["container"]
        assert emu.messages("C0001")[-1].ts != again["ts"]  # deleted
        post = emu.response_urls[denied.payload["response_url"]].posts[0]
        assert post.effect == "deleted" and post.status == 200 and post.answer == "ok"
    finally:
        await stopped(handler, runner)


async def test_click_errors_before_sending(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    posted = await client.chat_postMessage(channel="C0001", text="q", blocks=BUTTONS)
    with pytest.raises(LookupError, match="'nope'"):
        await emu.click("C0001", posted["ts"], "nope")
    with pytest.raises(ValueError, match="call_1"):
        await emu.click("C0001", posted["ts"], "approve", value="call_2")
    with pytest.raises(KeyError):
        await emu.click("C0001", "1.000001", "approve")
    plain = await client.chat_postMessage(channel="C0001", text="no buttons")
    with pytest.raises(LookupError, match="none"):
        await emu.click("C0001", plain["ts"], "approve")
    assert emu.interactive_deliveries == []


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_feedback_buttons_on_a_streamed_reply(
    slack_emulator: SlackEmulator, mode: str
) -> None:
    emu = slack_emulator
    client = web_client(emu)
    root = emu.user_message("C0001", "question")
    stream = await client.chat_stream(
        channel="C0001", thread_ts=root.ts, recipient_team_id="T0001", recipient_user_id="U0USER"
    )
    await stream.append(markdown_text="the answer")
    await stream.stop(blocks=[FEEDBACK])
    handler, runner, url = await running(emu, mode)
    try:
        good = await emu.click_feedback("C0001", stream.ts or "", positive=True, url=url)
        bad = await emu.click_feedback("C0001", stream.ts or "", positive=False, url=url)
        assert good.acked and bad.acked
        for delivery, value, text in [(good, "good", "👍"), (bad, "bad", "👎")]:
            [action] = delivery.payload["actions"]
            assert action["type"] == "feedback_buttons"
            assert action["action_id"] == "feedback" and action["block_id"] == "fb"
            assert action["value"] == value and action["text"]["text"] == text
        assert delivery.payload["message"]["text"] == "the answer"
        assert emu.ephemeral_texts("U0USER", "C0001") == ["thanks: good", "thanks: bad"]
        with pytest.raises(ValueError, match="meh"):
            await emu.click("C0001", stream.ts or "", "feedback", value="meh")
    finally:
        await stopped(handler, runner)


async def test_click_a_button_on_an_ephemeral_message(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    sent = await client.chat_postEphemeral(
        channel="C0001", user="U0ANN", text="only you", blocks=BUTTONS, thread_ts="1.000001"
    )
    [eph] = emu.ephemerals_for("U0ANN", "C0001", "1.000001")
    assert eph.source == "chat.postEphemeral" and eph.message_ts == sent["message_ts"]
    assert emu.ephemerals_for("U0ANN", "C0001", thread_ts="2.000002") == []
    handler, runner, _ = await running(emu, "socket")
    try:
        with pytest.raises(KeyError, match="U0ANN"):
            await emu.click("C0001", sent["message_ts"], "approve", user="U0BOB")
        clicked = await emu.click("C0001", sent["message_ts"], "approve", user="U0ANN")
        assert clicked.payload["container"]["is_ephemeral"] is True
        assert "message" not in clicked.payload
        # replace_original replaces the ephemeral message itself.
        assert emu.ephemeral_texts("U0ANN", "C0001") == ["Approved.", "approved by <@U0ANN>"]
    finally:
        await stopped(handler, runner)


# --------------------------------------------------------------------------- response_url


async def test_response_url_limits_and_errors(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    posted = await client.chat_postMessage(channel="C0001", text="q", blocks=BUTTONS)
    app = AsyncApp(client=web_client(emu), process_before_response=True)

    @app.action("approve")
    async def on_approve(ack: Any) -> None:
        await ack()

    handler = await start_socket_mode(app, emu.app_token)
    try:
        await emu.wait_socket_connected()
        clicked = await emu.click("C0001", posted["ts"], "approve")
    finally:
        await close_socket_mode(handler)
    url = clicked.payload["response_url"]

    async with aiohttp.ClientSession() as session:

        async def post(body: Any) -> tuple[int, str]:
            async with session.post(url, json=body) as resp:
                return resp.status, await resp.text()

        bad_button = {**BUTTONS[1]["elements"][0], "text": {"type": "plain_text", "text": "x" * 76}}
        assert await post({"blocks": [{"type": "actions", "elements": [bad_button]}]}) == (
            400,
            "invalid_blocks",
        )
        assert await post({"response_type": "ephemeral"}) == (400, "no_text")
        assert await post(["not", "an", "object"]) == (400, "invalid_payload")
        for i in range(5):
            assert await post({"text": f"note {i}"}) == (200, "ok")
        assert await post({"text": "a sixth"}) == (404, "used_url")
        async with session.post(f"{emu.base_url}/actions/T0001/1/nope", json={}) as resp:
            assert (resp.status, await resp.text()) == (404, "no_service")

    assert emu.ephemeral_texts("U0USER") == [f"note {i}" for i in range(5)]
    record = emu.response_urls[url]
    assert record.uses == 5
    assert [p.effect for p in record.posts][:3] == ["invalid_blocks", "no_text", "invalid_payload"]

    # in_channel posts a message everyone sees; past 30 minutes the URL is dead.
    emu.response_url_uses = 10
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"text": "for all", "response_type": "in_channel"}) as r:
            assert r.status == 200
        assert emu.bot_texts("C0001")[-1] == "for all"
        record.issued_at -= emu.response_url_seconds + 1
        async with session.post(url, json={"text": "late"}) as r:
            assert (r.status, await r.text()) == (404, "expired_url")


# --------------------------------------------------------------------------- blocks


async def test_invalid_blocks_are_refused_like_slack(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)

    async def refused(blocks: Any, method: str = "chat_postMessage", **kw: Any) -> list[str]:
        with pytest.raises(SlackApiError) as exc:
            await getattr(client, method)(channel="C0001", text="t", blocks=blocks, **kw)
        data = exc.value.response.data
        assert data["error"] == "invalid_blocks"
        assert data["response_metadata"]["messages"] == [f"[ERROR] {e}" for e in data["errors"]]
        return list(data["errors"])

    button = BUTTONS[1]["elements"][0]
    assert await refused([{"type": "carousel"}]) == [
        "unsupported type: carousel [json-pointer:/blocks/0/type]"
    ]
    long_text = {**button, "text": {"type": "plain_text", "text": "x" * 76}}
    assert await refused([{"type": "actions", "elements": [long_text]}]) == [
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
    ]
    mrkdwn = {**button, "text": {"type": "mrkdwn", "text": "*x*"}}
    assert (
        "/blocks/0/elements/0/text/type"
        in (await refused([{"type": "actions", "elements": [mrkdwn]}]))[0]
    )
    style = {**button, "style": "secondary"}
    assert "elements/0/style" in (await refused([{"type": "actions", "elements": [style]}]))[0]
    assert (
        "/blocks/0/elements/0/value"
        in (await refused([{"type": "actions", "elements": [{**button, "value": "v" * 2001}]}]))[0]
    )
    assert (
        "/blocks/0/elements/0/action_id"
        in (await refused([{"type": "actions", "elements": [{**button, "action_id": "a" * 256}]}]))[
            0
        ]
    )
    many = [{**button, "action_id": f"b{i}"} for i in range(26)]
    assert await refused([{"type": "actions", "elements": many}]) == [
        "must have no more than 25 items [json-pointer:/blocks/0/elements]"
    ]
    assert await refused([BUTTONS[1], {**BUTTONS[1], "block_id": "other"}]) == [
        "duplicate action_id: approve [json-pointer:/blocks/1/elements/0/action_id]",
        "duplicate action_id: deny [json-pointer:/blocks/1/elements/1/action_id]",
    ]
    assert await refused(
        [{"type": "divider", "block_id": "d"}, {"type": "divider", "block_id": "d"}]
    )
    assert await refused([{"type": "divider", "block_id": "x" * 256}])
    no_deny = dict(BUTTONS[1]["elements"][1])
    no_deny["confirm"] = {k: v for k, v in no_deny["confirm"].items() if k != "deny"}
    assert "confirm" in (await refused([{"type": "actions", "elements": [no_deny]}]))[0]
    assert await refused([{"type": "context_actions", "elements": [button]}]) == [
        "unsupported type: button [json-pointer:/blocks/0/elements/0/type]"
    ]
    no_value = {
        **FEEDBACK["elements"][0],
        "negative_button": {"text": FEEDBACK["elements"][0]["negative_button"]["text"]},
    }
    assert await refused([{"type": "context_actions", "elements": [no_value]}]) == [
        "missing required field: value [json-pointer:/blocks/0/elements/0/negative_button]"
    ]
    assert await refused([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}])
    # Markdown blocks: 12,000 characters at most, all of one payload's together.
    halves = [{"type": "markdown", "text": "m" * 6000}, {"type": "markdown", "text": "m" * 6001}]
    assert await refused(halves) == [
        "markdown blocks must total no more than 12000 [json-pointer:/blocks/1]"
    ]
    await client.chat_postMessage(channel="C0001", text="t", blocks=halves[:1] * 2)

    # Every method that takes blocks holds them to the same rules.
    ok = await client.chat_postMessage(channel="C0001", text="t", blocks=[*BUTTONS, FEEDBACK])
    await refused([{"type": "carousel"}], "chat_update", ts=ok["ts"])
    await refused([{"type": "carousel"}], "chat_postEphemeral", user="U0USER")
    assert emu.message("C0001", ok["ts"]) is not None
    started = await client.chat_startStream(
        channel="D0001", thread_ts="1.000001", markdown_text="a"
    )
    with pytest.raises(SlackApiError) as exc:
        await client.chat_stopStream(channel="D0001", ts=started["ts"], blocks=[{"type": "nope"}])
    assert exc.value.response["error"] == "invalid_blocks"
    msg = emu.message("D0001", started["ts"])
    assert msg is not None and msg.streaming  # a refused stop changes nothing
    # slack_sdk's own models produce blocks the emulator takes.
    sdk_blocks = [
        ActionsBlock(block_id="a", elements=[ButtonElement(text="Go", action_id="go", value="1")]),
        FEEDBACK,
    ]
    await client.chat_stopStream(channel="D0001", ts=started["ts"], blocks=sdk_blocks)


# --------------------------------------------------------------------------- chunks


async def test_stream_chunks_tasks_and_plan(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    root = emu.user_message("C0001", "research this")
    stream = await client.chat_stream(
        channel="C0001",
        thread_ts=root.ts,
        recipient_team_id="T0001",
        recipient_user_id="U0USER",
        task_display_mode="plan",
    )
    await stream.append(
        chunks=[
            PlanUpdateChunk(title="Looking it up"),
            TaskUpdateChunk(id="search", title="Searching the web", status="in_progress"),
        ]
    )
    await stream.append(markdown_text="Found ")
    await stream.append(
        chunks=[
            TaskUpdateChunk(
                id="search",
                title="Searched the web",
                status="complete",
                output="3 results",
                sources=[{"type": "url", "url": "https://example.com", "text": "Example"}],
            ),
            {"type": "task_update", "id": "read", "title": "Reading", "status": "pending"},
            MarkdownTextChunk(text="three pages."),
        ]
    )
    await stream.stop(
        chunks=[{"type": "task_update", "id": "read", "title": "Read", "status": "error"}],
        session_status="processing",
    )
    start = emu.calls_to("chat.startStream")[0]
    assert start.params["task_display_mode"] == "plan"
    msg = emu.message("C0001", stream.ts or "")
    assert msg is not None and msg.text == "Found three pages."
    assert msg.task_display_mode == "plan" and msg.plan_title == "Looking it up"
    assert msg.task_statuses("search") == ["in_progress", "complete"]
    assert msg.task_statuses("read") == ["pending", "error"]
    search = msg.tasks["search"]
    assert (search.title, search.output) == ("Searched the web", "3 results")
    assert search.sources == [{"type": "url", "url": "https://example.com", "text": "Example"}]
    assert [c["type"] for c in msg.stream_chunks] == [
        "plan_update",
        "task_update",
        "markdown_text",
        "task_update",
        "task_update",
        "markdown_text",
        "task_update",
    ]
    assert len(msg.chunks_of("task_update")) == 4
    assert msg.session_status == "processing" and msg.stream_state == "stopped"


async def test_invalid_chunks_are_refused(slack_emulator: SlackEmulator) -> None:
    emu = slack_emulator
    client = web_client(emu)
    started = await client.chat_startStream(channel="D0001", thread_ts="1.000001")
    ts = started["ts"]

    async def refused(chunks: Any) -> list[str]:
        with pytest.raises(SlackApiError) as exc:
            await client.chat_appendStream(channel="D0001", ts=ts, chunks=chunks)
        assert exc.value.response["error"] == "invalid_chunks"
        return list(exc.value.response["response_metadata"]["messages"])

    assert await refused([{"type": "thinking", "text": "x"}]) == [
        "[ERROR] unsupported type: thinking [json-pointer:/chunks/0/type]"
    ]
    assert await refused([{"type": "task_update", "id": "t", "title": "T", "status": "done"}]) == [
        "[ERROR] must be a valid enum value [json-pointer:/chunks/0/status]"
    ]
    assert await refused([{"type": "task_update", "title": "T", "status": "pending"}]) == [
        "[ERROR] missing required field: id [json-pointer:/chunks/0]"
    ]
    assert await refused([{"type": "task_update", "id": "t", "status": "pending"}]) == [
        "[ERROR] missing required field: title [json-pointer:/chunks/0]"
    ]
    assert await refused([{"type": "plan_update"}]) == [
        "[ERROR] missing required field: title [json-pointer:/chunks/0]"
    ]
    bad_source = {"type": "task_update", "id": "t", "title": "T", "status": "complete"}
    bad_source["sources"] = [{"type": "file", "url": "u", "text": "t"}]
    assert await refused([bad_source]) == [
        "[ERROR] must be a valid enum value [json-pointer:/chunks/0/sources/0/type]"
    ]
    assert await refused([{"type": "blocks", "blocks": [{"type": "carousel"}]}]) == [
        "[ERROR] unsupported type: carousel [json-pointer:/chunks/0/blocks/0/type]"
    ]
    msg = emu.message("D0001", ts)
    assert msg is not None and msg.stream_chunks == [] and msg.tasks == {}

    with pytest.raises(SlackApiError) as exc:
        await client.chat_startStream(
            channel="D0001", thread_ts="1.000001", task_display_mode="cards"
        )
    assert exc.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as exc:
        await client.chat_stopStream(channel="D0001", ts=ts, session_status="done")
    assert exc.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as exc:
        await client.chat_appendStream(channel="D0001", ts=ts, markdown_text="x" * 12_001)
    assert exc.value.response["error"] == "msg_too_long"

    # A blocks chunk's buttons are on the message while it streams.
    await client.chat_appendStream(
        channel="D0001", ts=ts, chunks=[{"type": "blocks", "blocks": BUTTONS}]
    )
    with pytest.raises(RuntimeError, match="no Socket Mode client"):
        await emu.click("D0001", ts, "approve")  # found; nobody to deliver to


def test_stream_arguments_match_slack_sdk() -> None:
    """The emulator's stream arguments are exactly what slack_sdk's methods name (the
    strict-argument check refuses anything else)."""
    assert {"chunks", "markdown_text", "task_display_mode", "recipient_team_id"} <= (
        sdk_arguments("chat.startStream") or frozenset()
    )
    assert {"chunks", "markdown_text"} <= (sdk_arguments("chat.appendStream") or frozenset())
    assert {"chunks", "blocks", "metadata", "session_status"} <= (
        sdk_arguments("chat.stopStream") or frozenset()
    )


async def test_unknown_stream_argument_is_refused(slack_emulator: SlackEmulator) -> None:
    client: AsyncWebClient = web_client(slack_emulator)
    slack_emulator.expect_unknown_arguments = True
    with pytest.raises(SlackApiError) as exc:
        await client.chat_startStream(channel="D0001", thread_ts="1.000001", display_mode="plan")
    assert exc.value.response["error"] == "invalid_arguments"
    assert slack_emulator.unknown_arguments[0].names == ["display_mode"]
