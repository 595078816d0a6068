"""manifest.yml matches the listeners and the scopes the adapter really uses."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.slack.app import LISTENED_EVENTS, SCOPES, SUGGESTED_PROMPTS
from adapters.slack.shortcut import QUESTION_BLOCK, SHORTCUTS
from tests.emulators.openai import Reply
from tests.emulators.slack import (
    BOT_USER_ID,
    app_mention_event,
    assistant_thread_context_changed_event,
    assistant_thread_started_event,
    message_event,
)

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def sample_event(subscription: str) -> dict[str, Any]:
    """A payload Slack sends for a manifest bot event subscription."""
    text = f"<@{BOT_USER_ID}> hi"
    samples: dict[str, dict[str, Any]] = {
        "app_mention": app_mention_event(channel="C0001", text=text),
        "message.channels": message_event(channel="C0001", text="chatter"),
        "message.groups": message_event(channel="G0001", text="chatter"),
        "message.im": message_event(channel="D0001", text="hello"),
        "message.mpim": message_event(channel="G0002", text="chatter", channel_type="mpim"),
        "assistant_thread_started": assistant_thread_started_event(channel="D0002"),
        "assistant_thread_context_changed": assistant_thread_context_changed_event(
            channel="D0002", thread_ts="1700000000.000100"
        ),
    }
    return samples[subscription]


def test_manifest_events_and_scopes_are_the_listeners(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    events = settings["event_subscriptions"]["bot_events"]
    listened = [e for names in LISTENED_EVENTS.values() for e in names]
    assert sorted(events) == sorted(listened)
    assert len(events) == len(set(events))
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(SCOPES)
    assert "user" not in manifest["oauth_config"]["scopes"]
    assert settings["socket_mode_enabled"] is True
    assert settings["token_rotation_enabled"] is False
    assert "request_url" not in settings["event_subscriptions"]
    features = manifest["features"]
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["agent_view"]["suggested_prompts"] == list(SUGGESTED_PROMPTS)


def test_manifest_shortcuts_are_the_handled_ones(manifest: dict[str, Any]) -> None:
    """Each shortcut the manifest declares is one the adapter handles, and the other way
    round; with interactivity on (Socket Mode: no request_url) and the commands scope."""
    shortcuts = manifest["features"]["shortcuts"]
    declared = {s["callback_id"]: (s["type"], s["name"]) for s in shortcuts}
    assert declared == dict(SHORTCUTS) and len(shortcuts) == len(declared)
    for shortcut in shortcuts:
        # Slack's manifest schema: these four fields, a description of at most 150
        # characters, a callback_id of at most 255.
        assert set(shortcut) == {"name", "type", "callback_id", "description"}
        assert shortcut["type"] in ("message", "global")
        assert 0 < len(shortcut["description"]) <= 150
        assert 0 < len(shortcut["callback_id"]) <= 255
    assert manifest["settings"]["interactivity"] == {"is_enabled": True}
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]


async def test_every_subscribed_event_reaches_a_listener_and_is_acked(
    slack_bot: Any, manifest: dict[str, Any]
) -> None:
    bot = await slack_bot()
    registered = {listener.ack_function.__name__ for listener in bot.bridge.app._async_listeners}
    assert registered >= {"_on_message", "_on_thread_started", "_on_context_changed"}
    assert registered >= {"_on_shortcut", "_on_submission"}
    for subscription in manifest["settings"]["event_subscriptions"]["bot_events"]:
        envelope = await bot.emulator.socket_send_event(sample_event(subscription))
        await bot.emulator.wait_ack(envelope, 5)
    # An event nobody listens to is not acked: the check above is not vacuous.
    stray = {
        "type": "reaction_added",
        "user": "U0USER",
        "reaction": "eyes",
        "item": {"type": "message", "channel": "C0001", "ts": "1.000001"},
        "event_ts": "1.000002",
    }
    envelope = await bot.emulator.socket_send_event(stray)
    with pytest.raises(TimeoutError):
        await bot.emulator.wait_ack(envelope, 0.5)
    # Each declared shortcut is acked and opens its modal.
    message = bot.emulator.user_message("C0001", "something to ask about")
    for shortcut in manifest["features"]["shortcuts"]:
        delivery = await bot.emulator.message_shortcut(
            "C0001", message.ts, callback_id=shortcut["callback_id"]
        )
        assert delivery.acked
    assert len(bot.emulator.open_views()) == len(manifest["features"]["shortcuts"])
    unknown = await bot.emulator.message_shortcut(
        "C0001", message.ts, callback_id="nope", timeout_seconds=0.5
    )
    assert not unknown.acked  # not vacuous either
    await bot.settle()


async def test_the_manifest_scopes_are_enough(
    slack_bot: Any, openai_emulator: Any, manifest: dict[str, Any]
) -> None:
    """A full tour with exactly the manifest's scopes: no call is refused."""
    bot = await slack_bot(THREADBRIDGE_CODE_INTERPRETER="true")
    emu = bot.emulator
    emu.scopes[:] = manifest["oauth_config"]["scopes"]["bot"]
    hosted = emu.host_file("notes.txt", b"notes", "text/plain")
    openai_emulator.script(
        Reply(text="chart", code="plot()", files=[("chart.png", PNG)]),
        Reply(text="in the pane"),
        Reply(text="in the DM"),
        Reply(text="about that message"),
    )
    await bot.send(app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> go", files=[hosted]))
    await bot.settle()
    started = assistant_thread_started_event(channel="D0001")
    thread_ts = started["assistant_thread"]["thread_ts"]
    await bot.send(started)
    await bot.send(message_event(channel="D0001", text="question", thread_ts=thread_ts))
    await bot.send(message_event(channel="D0001", text="at the root"))
    await bot.settle()
    # The message shortcut: modal, question posted into the thread, answer there.
    about = emu.user_message("C0002", "an old message", user="U0ANN")
    await emu.message_shortcut("C0002", about.ts, callback_id=next(iter(SHORTCUTS)))
    [view] = emu.open_views()
    await emu.submit_view(view.id, {QUESTION_BLOCK: "what about it?"})
    await bot.settle()
    assert emu.bot_texts("C0002", about.ts)[-1] == "about that message"
    await asyncio.sleep(0.1)
    await bot.bridge.close()
    refused = [(c.method, c.error) for c in emu.calls if not c.ok]
    assert refused == []
    used = {c.method for c in emu.calls}
    assert {
        "chat.startStream",
        "files.completeUploadExternal",
        "users.info",
        "assistant.threads.setSuggestedPrompts",
        "assistant.threads.setTitle",
        "chat.postMessage",
        "views.open",
        "conversations.replies",
    } <= used
    assert [r.served for r in emu.file_requests] == ["file"]


def test_readme_section_documents_every_scope_and_setting() -> None:
    from adapters.slack.settings import SlackSettings
    from bot.config import settings_table

    section = (
        (MANIFEST.parent / "README.md")
        .read_text("utf-8")
        .split("## Slack", 1)[1]
        .split("\n## Discord", 1)[0]
    )
    for scope, purpose in SCOPES.items():
        assert f"| `{scope}` | {purpose} |" in section
    for name, _default, _description in settings_table(SlackSettings):
        assert f"`{name}`" in section, name


def test_every_registered_action_is_a_known_one() -> None:
    """The block actions the adapter registers are exactly ACTIONS (the buttons it
    posts); Slack delivers them because interactivity is on (checked above)."""
    import ast

    from adapters.slack import controls
    from adapters.slack.controls import ACTIONS

    registered: set[str] = set()
    root = MANIFEST.parent / "adapters" / "slack"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "action"
                and node.args
            ):
                arg = node.args[0]
                if isinstance(arg, ast.Name):  # a module constant of controls.py
                    registered.add(getattr(controls, arg.id))
                elif isinstance(arg, ast.Constant):
                    registered.add(str(arg.value))
    assert registered == set(ACTIONS)


@pytest.mark.parametrize("mode", ["socket", "http"])
async def test_every_action_is_handled_and_acked(slack_bot: Any, mode: str) -> None:
    """A click on each of the app's buttons is acknowledged at once, even one naming a
    turn or approval that does not exist (it only gets an ephemeral note)."""
    from adapters.slack.controls import ACTIONS
    from tests.emulators.slack import BOT_USER_ID, app_mention_event

    bot = await slack_bot(mode)
    event = app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> hello")
    await bot.send(event)
    await bot.settle()
    (reply,) = bot.emulator.bot_messages("C0001", event["ts"])
    kwargs: dict[str, Any] = {"url": bot.url} if mode == "http" else {}
    feedback = await bot.emulator.click_feedback(
        "C0001", reply.ts, positive=True, user="U0USER", **kwargs
    )
    assert feedback.acked
    base = feedback.payload
    for action in ACTIONS:
        payload = {
            **base,
            "actions": [
                {**base["actions"][0], "action_id": action, "type": "button", "value": "999999"}
            ],
        }
        delivery = await bot.emulator.deliver_interactive(payload, **kwargs)
        assert delivery.acked, action
    # An action the app does not handle is not acknowledged (Bolt: 404 / no ack).
    stray = {**base, "actions": [{**base["actions"][0], "action_id": "tb_nope"}]}
    assert not (await bot.emulator.deliver_interactive(stray, timeout_seconds=1, **kwargs)).acked
