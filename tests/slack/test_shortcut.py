"""The "Ask threadbridge" message shortcut, through the real Bolt app in both modes:
the modal, the question in the thread, the answer with the thread as context, and the
errors a user sees in the modal."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack.shortcut import (
    CALLBACK_ID,
    EMPTY,
    NOT_A_MEMBER,
    QUESTION_BLOCK,
    STOPPING,
    VIEW_CALLBACK_ID,
    Target,
    excerpt,
    model_text,
    parse_shortcut,
    question_text,
)
from bot.models import ThreadKey
from tests.emulators.slack import InteractiveDelivery, SlackEmulator, View
from tests.emulators.slack.models import new_ts
from tests.helpers import model_input, strip_time, texts_of

CHANNEL = "C0001"
MODES = pytest.mark.parametrize("mode", ["socket", "http"])
REFUSAL = "Sorry, I'm not set up to answer here."


async def shortcut(bot: Any, channel: str, ts: str, *, user: str = "U0USER") -> View | None:
    """`user` chooses "Ask threadbridge" on a message; the modal it opened, if any."""
    emu: SlackEmulator = bot.emulator
    before = set(emu.views)
    delivery = await emu.message_shortcut(
        channel, ts, callback_id=CALLBACK_ID, user=user, url=bot.url or None
    )
    assert delivery.acked, delivery
    opened = [v for k, v in emu.views.items() if k not in before]
    return opened[0] if opened else None


async def submit(bot: Any, view: View, question: str) -> InteractiveDelivery:
    return await bot.emulator.submit_view(view.id, {QUESTION_BLOCK: question}, url=bot.url or None)


async def a_thread(bot: Any) -> tuple[str, str]:
    """Ann's question and Bob's reply, in a thread the bot was never part of."""
    emu = bot.emulator
    emu.add_user("U0ANN", display_name="Ann")
    emu.add_user("U0BOB", display_name="Bob")
    root = emu.user_message(CHANNEL, "Shall we ship on Friday?", user="U0ANN")
    reply = emu.user_message(CHANNEL, "Only with the flag off.", user="U0BOB", thread_ts=root.ts)
    return root.ts, reply.ts


@MODES
async def test_the_shortcut_opens_a_modal_about_the_message(slack_bot: Any, mode: str) -> None:
    bot = await slack_bot(mode)
    root, reply = await a_thread(bot)
    view = await shortcut(bot, CHANNEL, reply)
    assert view is not None and view.open and view.user == "U0USER"
    shown = view.view
    assert shown["callback_id"] == VIEW_CALLBACK_ID
    assert shown["submit"]["text"] == "Ask"
    assert Target.loads(shown["private_metadata"]) == Target(
        channel=CHANNEL,
        ts=reply,
        thread_ts=root,
        team="T0001",
        author="U0BOB",
        excerpt="Only with the flag off.",
    )
    context, question = shown["blocks"]
    assert context["elements"][0]["text"] == "“Only with the flag off.”"
    assert question["block_id"] == QUESTION_BLOCK
    assert question["element"]["type"] == "plain_text_input"
    # Nothing was posted, claimed or read yet.
    assert bot.emulator.bot_messages(CHANNEL) == []
    assert bot.emulator.calls_to("conversations.replies") == []


@MODES
async def test_the_answer_goes_into_the_thread_with_the_thread_as_context(
    slack_bot: Any, openai_emulator: Any, mode: str
) -> None:
    bot = await slack_bot(mode)
    emu = bot.emulator
    root, reply = await a_thread(bot)
    view = await shortcut(bot, CHANNEL, reply)
    assert view is not None
    done = await submit(bot, view, "Which flag does Bob mean?")
    assert done.acked and not done.response and not view.open
    # The ack came after the claim: the question is stored, keyed by the view id and by
    # the ts of the question the bot posted into the thread.
    rows = await bot.store.run(
        lambda conn: conn.exec_driver_sql("SELECT event_id, message_id FROM inbound").all()
    )
    [posted] = emu.bot_messages(CHANNEL, root)
    assert [tuple(r) for r in rows] == [(view.id, posted.ts)]
    await bot.settle()

    question, answer = emu.bot_messages(CHANNEL, root)
    assert question.thread_ts == root and answer.thread_ts == root
    assert question.text == "<@U0USER> asked:\n> Which flag does Bob mean?"
    assert answer.text.startswith("echo: [u0user] Which flag does Bob mean?")
    # A normal thread reply: streamed, to the asker.
    assert answer.edits[0].method == "chat.startStream"
    assert answer.recipient_user_id == "U0USER"
    items = model_input(openai_emulator.responses_requests()[0].body)
    assert [(role, strip_time(text)) for role, text in texts_of(items)] == [
        ("user", "[Ann] Shall we ship on Friday?"),
        ("user", "[Bob] Only with the flag off."),
        (
            "user",
            "[u0user] Which flag does Bob mean?\n\n"
            "(Asked about this message from Bob: “Only with the flag off.”)",
        ),
    ]
    # The thread was read once, up to the question the bot posted (not including it).
    [read] = emu.calls_to("conversations.replies")
    assert read.params["ts"] == root and read.params["latest"] == question.ts
    thread = await bot.store.find_thread(ThreadKey("slack", "T0001", CHANNEL, root))
    assert thread is not None


@MODES
async def test_a_second_question_in_the_thread_does_not_read_it_again(
    slack_bot: Any, openai_emulator: Any, mode: str
) -> None:
    bot = await slack_bot(mode)
    emu = bot.emulator
    root, reply = await a_thread(bot)
    first = await shortcut(bot, CHANNEL, reply)
    assert first is not None
    await submit(bot, first, "Which flag?")
    await bot.settle()
    later = emu.user_message(CHANNEL, "Flag is called fast-path.", user="U0ANN", thread_ts=root)
    second = await shortcut(bot, CHANNEL, later.ts)
    assert second is not None
    await submit(bot, second, "Is that the default?")
    await bot.settle()
    assert len(emu.calls_to("conversations.replies")) == 1
    assert texts_of(model_input(openai_emulator.responses_requests()[1].body)) == [
        (
            "user",
            "[u0user] Is that the default?\n\n"
            "(Asked about this message from Ann: “Flag is called fast-path.”)",
        )
    ]
    texts = emu.bot_texts(CHANNEL, root)
    assert texts[2] == "<@U0USER> asked:\n> Is that the default?"
    assert texts[3].startswith("echo: [u0user] Is that the default?")
    assert len(texts) == 4


@MODES
async def test_a_message_without_a_thread_gets_one(
    slack_bot: Any, openai_emulator: Any, mode: str
) -> None:
    bot = await slack_bot(mode)
    emu = bot.emulator
    lone = emu.user_message(CHANNEL, "Deploy is at 5pm & not later <3", user="U0ANN")
    view = await shortcut(bot, CHANNEL, lone.ts, user="U0CARL")
    assert view is not None
    await submit(bot, view, "what time zone?")
    await bot.settle()
    texts = emu.bot_texts(CHANNEL, lone.ts)
    assert texts[0] == "<@U0CARL> asked:\n> what time zone?"
    assert texts[1].startswith("echo: [u0carl] what time zone?")
    got = [
        strip_time(t)
        for _, t in texts_of(model_input(openai_emulator.responses_requests()[0].body))
    ]
    assert got[0] == "[u0ann] Deploy is at 5pm & not later <3"  # the message itself


@MODES
async def test_outside_the_allowlists_the_modal_refuses(
    slack_bot: Any, openai_emulator: Any, mode: str
) -> None:
    bot = await slack_bot(mode, THREADBRIDGE_SLACK_ALLOWED_USERS="U0ANN")
    emu = bot.emulator
    root, reply = await a_thread(bot)
    notice = await shortcut(bot, CHANNEL, reply, user="U0MALLORY")
    assert notice is not None and "submit" not in notice.view
    assert notice.view["blocks"][0]["text"]["text"] == REFUSAL
    # An allowed user's form, submitted after the allowlist changed, is refused in it.
    view = await shortcut(bot, CHANNEL, reply, user="U0ANN")
    assert view is not None
    bot.bridge.ask.allowed_users = ("U0BOB",)
    refused = await submit(bot, view, "Which flag?")
    assert refused.acked and view.open and view.errors == {QUESTION_BLOCK: REFUSAL}
    await bot.settle()
    assert [m for m in emu.messages(CHANNEL, include_deleted=True) if m.is_bot] == []
    assert openai_emulator.responses_requests() == []
    assert await bot.store.find_thread(ThreadKey("slack", "T0001", CHANNEL, root)) is None


@MODES
async def test_problems_show_in_the_modal_and_leave_the_thread_alone(
    slack_bot: Any, openai_emulator: Any, mode: str
) -> None:
    bot = await slack_bot(mode)
    emu = bot.emulator
    emu.add_channel("C0OUT", is_member=False)
    outside = emu.user_message("C0OUT", "a channel without the bot")
    view = await shortcut(bot, "C0OUT", outside.ts)
    assert view is not None
    await submit(bot, view, "hello?")
    assert view.open and view.errors == {QUESTION_BLOCK: NOT_A_MEMBER}

    root, _ = await a_thread(bot)
    view = await shortcut(bot, CHANNEL, root)
    assert view is not None
    await submit(bot, view, "   \n ")
    assert view.errors == {QUESTION_BLOCK: EMPTY}
    await bot.service.stop(budget=1)  # shutting down: the question cannot be claimed
    await submit(bot, view, "Which flag?")
    assert view.open and view.errors == {QUESTION_BLOCK: STOPPING}
    # The question it had posted was taken back.
    [retracted] = [m for m in emu.messages(CHANNEL, root, include_deleted=True) if m.is_bot]
    assert retracted.deleted and retracted.text == "<@U0USER> asked:\n> Which flag?"
    assert emu.bot_messages(CHANNEL) == []
    assert openai_emulator.responses_requests() == []


@MODES
async def test_a_form_submitted_twice_is_answered_once(
    slack_bot: Any, openai_emulator: Any, mode: str
) -> None:
    bot = await slack_bot(mode)
    emu = bot.emulator
    root, reply = await a_thread(bot)
    view = await shortcut(bot, CHANNEL, reply)
    assert view is not None
    first = await submit(bot, view, "Which flag?")
    # Slack showed an error (say the answer was lost) and the user pressed Ask again.
    again = await emu.deliver_interactive(first.payload, url=bot.url or None)
    assert again.acked and not again.response
    await bot.settle()
    texts = emu.bot_texts(CHANNEL, root)
    assert texts[0] == "<@U0USER> asked:\n> Which flag?"
    assert len(texts) == 2 and texts[1].startswith("echo:")
    assert len(openai_emulator.responses_requests()) == 1


async def test_a_question_in_a_direct_message_reads_its_thread(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    said = emu.user_message("D0001", "my notes: buy milk")
    view = await shortcut(bot, "D0001", said.ts)
    assert view is not None
    await submit(bot, view, "turn this into a list")
    await bot.settle()
    texts = emu.bot_texts("D0001", said.ts)
    assert texts[0] == "<@U0USER> asked:\n> turn this into a list"
    assert texts[1].startswith("echo: [u0user] turn this into a list")
    got = [
        strip_time(t)
        for _, t in texts_of(model_input(openai_emulator.responses_requests()[0].body))
    ]
    assert got[0] == "[u0user] my notes: buy milk"


async def test_the_question_in_the_thread_pings_nobody_but_the_asker(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    root, reply = await a_thread(bot)
    view = await shortcut(bot, CHANNEL, reply)
    assert view is not None
    await submit(bot, view, "tell <!channel> and @here\nand <@U0BOB> & <!subteam^S1>")
    await bot.settle()
    question = bot.emulator.bot_texts(CHANNEL, root)[0]
    assert question == (
        "<@U0USER> asked:\n"
        "> tell &lt;!channel&gt; and @\u200dhere\n"
        "> and &lt;@U0BOB&gt; &amp; &lt;!subteam^S1&gt;"
    )


# --- pure parts ------------------------------------------------------------------------


def test_question_text_quotes_every_line() -> None:
    assert question_text("one\n\ntwo", "U0USER") == "<@U0USER> asked:\n> one\n>\n> two"
    assert question_text("hi", "<!channel>").startswith("Someone asked:")


def test_target_round_trips_and_refuses_foreign_metadata() -> None:
    target = Target(CHANNEL, "1.000001", "1.000000", "T0001", "U0ANN", "“quoted” \\ text")
    assert Target.loads(target.dumps()) == target
    for raw in ("", "not json", "[]", '{"c": "C1"}', None, 3):
        assert Target.loads(raw) is None


def test_parse_shortcut_and_excerpt() -> None:
    ts = new_ts()
    body = {
        "type": "message_action",
        "channel": {"id": CHANNEL},
        "user": {"id": "U0USER", "team_id": "T0001"},
        "team": None,  # org-wide installs
        "trigger_id": "1.2.x",
        "message_ts": ts,
        "message": {"ts": ts, "bot_id": "B0", "bot_profile": {"name": "deploy"}, "text": "ok"},
    }
    parsed = parse_shortcut(body)
    assert parsed is not None
    target, user, trigger = parsed
    assert (target.thread_ts, target.team, target.author, user, trigger) == (
        ts,
        "T0001",
        "deploy",
        "U0USER",
        "1.2.x",
    )
    assert parse_shortcut({**body, "type": "shortcut"}) is None
    long = "word " * 100
    cut = excerpt(long)
    assert cut.endswith("…") and len(cut) <= 300 and "  " not in cut
    assert excerpt("a &amp; b\n\nc") == "a & b c"
    assert (
        model_text("q", author="", about="")
        == "q\n\n(Asked about a message from someone in this thread.)"
    )


@MODES
async def test_with_several_assistants_the_form_picks_one_for_a_new_thread(
    slack_bot: Any, openai_emulator: Any, mode: str, tmp_path: Any
) -> None:
    path = tmp_path / "assistants.toml"
    path.write_text(
        f"""
[[assistant]]
name = "support"
model = "model-support"
instructions = "Help."
default = true
channels = ["slack:{CHANNEL}"]

[[assistant]]
name = "legal"
model = "model-legal"
instructions = "Be careful."
channels = ["slack:C0OTHER", "slack:{CHANNEL}"]
"""
    )
    bot = await slack_bot(mode, THREADBRIDGE_ASSISTANTS_FILE=str(path))
    emu = bot.emulator
    root, reply = await a_thread(bot)
    view = await shortcut(bot, CHANNEL, reply)
    assert view is not None
    # Only the assistants allowed here are offered, the bound one first and chosen.
    [select] = [b for b in view.view["blocks"] if b.get("block_id") == "assistant"]
    assert [o["value"] for o in select["element"]["options"]] == ["support", "legal"]
    assert select["element"]["initial_option"]["value"] == "support"
    done = await emu.submit_view(
        view.id, {QUESTION_BLOCK: "Is this fine?", "assistant": "legal"}, url=bot.url or None
    )
    assert done.acked
    await bot.settle()
    assert openai_emulator.responses_requests()[-1].body["model"] == "model-legal"
    assert emu.bot_messages(CHANNEL, root)[-1].text.endswith("— _legal_")
    # The thread keeps it: a second question there offers no choice.
    again = await shortcut(bot, CHANNEL, reply)
    assert again is not None
    assert not [b for b in again.view["blocks"] if b.get("block_id") == "assistant"]
