"""What the reply sink sends Slack: no pings, long replies split, stream fallbacks."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
from typing import Any

import pytest

from adapters.slack.events import Anchor
from adapters.slack.text import PAGE_LIMIT
from bot.models import PostedRefs, Progress, ThreadKey
from tests.emulators.openai import Reply
from tests.emulators.slack import BOT_USER_ID, app_mention_event, message_event

TEXT_METHODS = (
    "chat.postMessage",
    "chat.update",
    "chat.startStream",
    "chat.appendStream",
    "chat.stopStream",
)


def received(emulator: Any) -> str:
    """Every piece of text Slack received for messages, in call order.

    A stream's appends are joined as Slack shows them (one message); other texts
    (posts, edits, blocks) are separate lines.
    """
    parts: list[str] = []
    for call in emulator.calls:
        if call.method in TEXT_METHODS:
            continues = call.method in ("chat.appendStream", "chat.stopStream") and parts
            for name in ("text", "markdown_text"):
                if call.params.get(name):
                    if continues:
                        parts[-1] += str(call.params[name])
                    else:
                        parts.append(str(call.params[name]))
            for chunk in call.params.get("chunks") or []:
                parts.append(str(chunk.get("text", "")))
            for block in call.params.get("blocks") or []:
                if isinstance(block, dict) and block.get("type") == "markdown":
                    parts.append(str(block.get("text", "")))
    return "\n".join(parts)


def fast(bot: Any) -> None:
    """Flush every 50 ms instead of every second, so tests see several updates quickly."""
    replier = bot.bridge.replier
    replier.options = dataclasses.replace(replier.options, flush_interval=0.05)


def ask(where: str) -> dict[str, Any]:
    if where == "dm":
        return message_event(channel="D0001", text="say it")
    return app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> say it")


PINGS = "Attention <!channel> and <!here|here>, <!everyone>, <!subteam^S0TEAM|@team>, "
PINGS += "<@U123> and <@W0ABC|bob>; also @channel @here @everyone. Done & dusted."


@pytest.mark.parametrize("where", ["thread", "dm"])
async def test_model_output_cannot_ping(slack_bot: Any, openai_emulator: Any, where: str) -> None:
    bot = await slack_bot()
    fast(bot)
    openai_emulator.script(Reply(text=PINGS, chunk_chars=3, tokens_per_second=300))
    await bot.send(ask(where))
    await bot.settle()
    calls = [c for c in bot.emulator.calls if c.method in TEXT_METHODS]
    assert len(calls) >= 3  # the text arrived in several pieces
    text = received(bot.emulator)
    assert "Attention" in text and "Done" in text
    for token in ("<!channel", "<!here", "<!everyone", "<!subteam", "<@U123", "<@W0ABC"):
        assert token not in text
    assert not re.search(r"@(channel|here|everyone)\b", text)


async def test_user_mentions_can_be_allowed(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_ALLOW_USER_MENTIONS="true")
    openai_emulator.script(Reply(text=PINGS), Reply(text=PINGS))
    await bot.send(ask("dm"))
    await bot.send(ask("thread"))
    await bot.settle()
    text = received(bot.emulator)
    assert "<@U123>" in text
    for token in ("<!channel", "<!here", "<!everyone", "<!subteam"):
        assert token not in text


async def test_markdown_renders_as_mrkdwn_when_posted(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot()
    openai_emulator.script(
        Reply(
            text="## Result\n**bold** and [docs](https://example.com/a?b=1&c=2)\n"
            "```python\nif a < b:\n    pass\n```"
        )
    )
    await bot.send(ask("dm"))
    await bot.settle()
    [text] = bot.emulator.bot_texts("D0001")
    assert text == (
        "*Result*\n*bold* and <https://example.com/a?b=1&amp;c=2|docs>\n"
        "```\nif a &lt; b:\n    pass\n```"
    )


def long_reply() -> str:
    prose = " ".join(f"word{i}" for i in range(120))
    code = "\n".join(f"    value_{i} = compute({i}) * 2  # step {i}" for i in range(260))
    return (
        f"# Report\n\n{prose}\n\n{prose}\n\n```python\ndef run():\n{code}\n```\n\n"
        f"After the code.\n\n{prose}\n\n```\nshort block\n```\nThe end."
    )


def fences_balanced(text: str) -> bool:
    return sum(1 for line in text.split("\n") if line.strip().startswith("```")) % 2 == 0


@pytest.mark.parametrize("where", ["thread", "dm"])
async def test_long_reply_continues_in_more_messages_with_code_fences_intact(
    slack_bot: Any, openai_emulator: Any, where: str
) -> None:
    bot = await slack_bot()
    fast(bot)
    body = long_reply()
    # Paced (about 0.8 s in all), so the reply is seen growing: with no pause between
    # deltas a loaded machine can read the whole stream before the first flush.
    openai_emulator.script(Reply(text=body, chunk_chars=97, tokens_per_second=200))
    event = ask(where)
    await bot.send(event)
    await bot.settle()
    emu = bot.emulator
    if where == "dm":
        messages = emu.bot_messages("D0001")
    else:
        messages = emu.bot_messages("C0001", event["ts"])
    texts = [m.text for m in messages]
    assert len(texts) >= 3
    assert all(len(t) <= PAGE_LIMIT + 200 for t in texts)
    assert all(fences_balanced(t) for t in texts), texts
    joined = "\n".join(texts)
    for i in (0, 130, 259):
        assert f"value_{i} = compute({i}) * 2" in joined
    assert "The end." in texts[-1] and "short block" in joined
    # Every line of code survived in order, across the messages.
    code_lines = [line for line in joined.split("\n") if "value_" in line]
    assert len(code_lines) == 260
    if where == "thread":
        assert all(m.stream_state == "stopped" for m in messages)
        assert all(m.thread_ts == event["ts"] for m in messages)
    else:
        assert len(emu.calls_to("chat.update")) >= 1  # edited while streaming in


async def test_expired_stream_falls_back_to_editing_the_same_message(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    fast(bot)
    emu = bot.emulator
    words = " ".join(f"w{i}" for i in range(300))
    openai_emulator.script(Reply(text=words, chunk_chars=6, tokens_per_second=600))
    emu.fail_next("chat.appendStream", error="message_not_in_streaming_state")
    event = ask("thread")
    await bot.send(event)
    await bot.settle()
    [message] = emu.bot_messages("C0001", event["ts"])
    assert message.text == words
    methods = [e.method for e in message.edits]
    assert methods[0] == "chat.startStream" and "chat.update" in methods
    failed = [c for c in emu.calls_to("chat.appendStream") if not c.ok]
    assert failed and failed[0].error == "message_not_in_streaming_state"


async def test_streaming_can_be_turned_off(slack_bot: Any, openai_emulator: Any) -> None:
    bot = await slack_bot(THREADBRIDGE_SLACK_STREAMING="false")
    fast(bot)
    openai_emulator.script(Reply(text=" ".join(["edit"] * 200), tokens_per_second=500))
    event = ask("thread")
    await bot.send(event)
    await bot.settle()
    emu = bot.emulator
    assert "chat.startStream" not in emu.call_names()
    [message] = emu.bot_messages("C0001", event["ts"])
    assert message.text == " ".join(["edit"] * 200)
    assert message.history[0] != message.text  # posted early, then edited


async def test_updates_are_throttled_to_about_one_a_second(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    openai_emulator.script(Reply(text=" ".join(["tick"] * 300), tokens_per_second=200))
    event = ask("dm")
    await bot.send(event)
    await bot.settle()
    [message] = bot.emulator.bot_messages("D0001")
    times = [e.time for e in message.edits]
    assert len(times) >= 2  # about 1.5 s of streaming
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap > 0.8 for gap in gaps[:-1]), gaps


async def test_first_word_shows_before_the_next_delta_unless_it_could_be_a_mention(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    # A quarter second between deltas. The first delta is "Sure", then "Sure@".
    openai_emulator.script(
        Reply(text="Sure, here it is.", chunk_chars=4, tokens_per_second=4),
        Reply(text="Sure@everyone hi", chunk_chars=5, tokens_per_second=4),
    )
    await bot.send(ask("thread"))
    await bot.settle()
    [start] = [c for c in bot.emulator.calls if c.method == "chat.startStream"]
    assert start.params["markdown_text"] == "Sure"  # not held back for a whole token

    bot.emulator.calls.clear()
    await bot.send(app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> again"))
    await bot.settle()
    [start] = [c for c in bot.emulator.calls if c.method == "chat.startStream"]
    # "Sure@" could be the start of "@everyone": it waits until the word is complete.
    assert start.params["markdown_text"] == "Sure@\u200deveryone h"
    assert "@everyone" not in received(bot.emulator)


async def test_the_reply_clears_the_status_and_a_later_step_is_cleared_at_the_end(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    openai_emulator.script(Reply(text="a plain answer"))
    event = ask("thread")
    await bot.send(event)
    await bot.settle()
    # Slack cleared "thinking" when the reply was posted: one status call, no clear.
    assert emu.assistant_statuses("C0001", event["ts"]) == ["is thinking…"]
    assert emu.assistant_status("C0001", event["ts"]) == ""

    # A step after the first words: its status shows under the reply until cleared.
    fast(bot)
    parent = emu.user_message("C0001", f"<@{BOT_USER_ID}> question")
    anchor = Anchor(thread_ts=parent.ts, user="U0USER", team="T0001").dumps()
    sink = await bot.bridge.replier.open_reply(
        key=ThreadKey("slack", "T0001", "C0001", parent.ts), anchor=anchor
    )
    await sink.text("Let me look that up.")
    await asyncio.sleep(0.2)  # flushed: the reply's message exists
    assert emu.bot_texts("C0001", parent.ts) == ["Let me look that up."]
    await sink.progress(Progress("call_1", "function", "Calling lookup"))
    assert emu.assistant_status("C0001", parent.ts) == "is working…"
    await sink.text(" Found it.")
    await sink.finish()
    assert emu.bot_texts("C0001", parent.ts) == ["Let me look that up. Found it."]
    assert emu.assistant_statuses("C0001", parent.ts) == ["is thinking…", "is working…", ""]
    assert emu.assistant_status("C0001", parent.ts) == ""


async def test_reply_after_restart_goes_to_the_stored_thread(slack_bot: Any) -> None:
    """The destination is data: a new replier rebuilds it from key + stored anchor."""
    bot = await slack_bot()
    emu = bot.emulator
    parent = emu.user_message("C0001", f"<@{BOT_USER_ID}> question")
    anchor = Anchor(thread_ts=parent.ts, user="U0USER", team="T0001").dumps()
    sink = await bot.bridge.replier.open_reply(
        key=ThreadKey("slack", "T0001", "C0001", parent.ts), anchor=anchor
    )
    await sink.text("answer after a restart")
    refs = await sink.finish()
    assert emu.bot_texts("C0001", parent.ts) == ["answer after a restart"]
    assert refs.message_ids == (emu.bot_messages("C0001", parent.ts)[0].ts,)
    assert Anchor.loads(anchor) == Anchor(thread_ts=parent.ts, user="U0USER", team="T0001")
    assert Anchor.loads("not json") == Anchor(thread_ts="", user="", team="")


@dataclasses.dataclass
class Asked:
    """A question in a channel thread, and reply sinks opened in that thread."""

    bot: Any
    parent: Any
    key: ThreadKey
    anchor: str

    async def reply(self, **kwargs: Any) -> Any:
        return await self.bot.bridge.replier.open_reply(key=self.key, anchor=self.anchor, **kwargs)


def asked(bot: Any) -> Asked:
    parent = bot.emulator.user_message("C0001", f"<@{BOT_USER_ID}> question")
    key = ThreadKey("slack", "T0001", "C0001", parent.ts)
    anchor = Anchor(thread_ts=parent.ts, user="U0USER", team="T0001").dumps()
    return Asked(bot, parent, key, anchor)


@pytest.mark.parametrize("feedback", [True, False])
async def test_a_reply_complete_before_its_first_words_is_posted_once(
    slack_bot: Any, feedback: bool
) -> None:
    """No stream to start and stop: one chat.postMessage, in Markdown as a stream shows it,
    with the feedback buttons under it (then the Markdown is a block, `text` its fallback)."""
    bot = await slack_bot(THREADBRIDGE_FEEDBACK_BUTTONS=str(feedback).lower())
    emu = bot.emulator
    thread = asked(bot)
    parent = thread.parent
    sink = await thread.reply(turn_id=7)
    await sink.text("**Yes**, see `x` <!channel>.")  # the flush has not run yet
    refs = await sink.finish()
    await sink.close()
    assert [c for c in emu.call_names() if c.startswith("chat.")] == ["chat.postMessage"]
    [call] = emu.calls_to("chat.postMessage")
    [reply] = emu.bot_messages("C0001", parent.ts)
    assert refs.message_ids == (reply.ts,) and reply.stream_state is None
    shown = "**Yes**, see `x` <\u200b!channel>."  # the broadcast broken up
    if feedback:
        markdown, buttons = reply.blocks
        assert markdown == {"type": "markdown", "text": shown}
        assert buttons["type"] == "context_actions"
        assert reply.text.startswith("*Yes*, see `x`") and "<!channel" not in reply.text
    else:
        assert call.params["markdown_text"] == shown and "blocks" not in call.params
        assert reply.text == shown


async def test_the_last_words_do_not_wait_for_the_status_call(slack_bot: Any) -> None:
    """A slow setStatus ("is thinking...") does not hold up the reply: it is posted while
    the status call is under way, and the status is cleared after it (a setStatus that
    lands after the post would otherwise stay). No Stop button for a reply already done."""
    bot = await slack_bot(THREADBRIDGE_SLACK_STOP_AFTER="0")
    emu = bot.emulator
    emu.latency["assistant.threads.setStatus"] = 0.5
    thread = asked(bot)
    parent = thread.parent
    sink = await thread.reply(turn_id=7)
    for _ in range(100):
        if emu.calls_to("assistant.threads.setStatus"):
            break
        await asyncio.sleep(0.01)
    await sink.text("Done already.")
    await sink.finish()
    await sink.close()
    [thinking, cleared] = emu.calls_to("assistant.threads.setStatus")
    [post] = emu.calls_to("chat.postMessage")
    assert thinking.params["status"] and cleared.params["status"] == ""
    assert thinking.time < post.time < thinking.time + 0.5 < cleared.time
    assert emu.assistant_status("C0001", parent.ts) == ""
    assert emu.calls_to("chat.postEphemeral") == []


async def test_no_stop_button_once_the_last_words_are_on_their_way(slack_bot: Any) -> None:
    """The Stop button's wait ends while the reply's last post is still under way (a slow
    Slack): a reply that is ending gets no Stop."""
    bot = await slack_bot(THREADBRIDGE_SLACK_STOP_AFTER="0.3")
    emu = bot.emulator
    emu.latency["chat.postMessage"] = 0.6
    thread = asked(bot)
    parent = thread.parent
    sink = await thread.reply(turn_id=7)
    for _ in range(100):  # "is thinking..." is set: the Stop button's wait has begun
        if any(c.answered for c in emu.calls_to("assistant.threads.setStatus")):
            break
        await asyncio.sleep(0.01)
    await sink.text("Done.")
    await sink.finish()
    await sink.close()
    assert emu.bot_texts("C0001", parent.ts)[-1].startswith("Done.")
    assert emu.calls_to("chat.postEphemeral") == []


async def test_a_long_reply_complete_before_its_first_words_has_one_set_of_buttons(
    slack_bot: Any,
) -> None:
    """Two pages, both posted whole: the feedback buttons go under the last one only."""
    bot = await slack_bot()
    emu = bot.emulator
    thread = asked(bot)
    parent = thread.parent
    sink = await thread.reply(turn_id=7)
    await sink.text("x " * 3000)
    await sink.finish()
    await sink.close()
    assert [c for c in emu.call_names() if c.startswith("chat.")] == ["chat.postMessage"] * 2
    first, last = emu.bot_messages("C0001", parent.ts)
    assert first.blocks is None and first.text.startswith("x x")
    assert [b["type"] for b in last.blocks] == ["markdown", "context_actions"]
    assert (first.text + last.blocks[0]["text"]).split() == ["x"] * 3000


async def test_a_resumed_reply_rewrites_a_page_posted_whole_blocks_and_all(
    slack_bot: Any,
) -> None:
    """The interrupted attempt posted its page whole, in a Markdown block with buttons;
    the resumed one fails halfway: the page shows the new text, not the old block."""
    bot = await slack_bot()
    emu = bot.emulator
    thread = asked(bot)
    parent = thread.parent
    first = await thread.reply(turn_id=7)
    await first.text("The old answer.")
    refs = await first.finish()
    [page] = emu.bot_messages("C0001", parent.ts)
    assert page.blocks is not None and page.blocks[0]["type"] == "markdown"

    resumed = await thread.reply(posted=refs.message_ids, turn_id=7)
    await resumed.text("The new answer, half")
    await resumed.finish(error="The model failed.")
    page = emu.message("C0001", page.ts)
    assert page is not None and page.text == "The new answer, half"
    assert page.blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": page.text}}]


async def test_resumed_reply_rewrites_its_pages_and_removes_what_it_no_longer_needs(
    slack_bot: Any,
) -> None:
    """A dead process had posted two pages and a note; the resumed answer fits in one."""
    bot = await slack_bot()
    emu = bot.emulator
    thread = asked(bot)
    parent = thread.parent
    recorded: list[tuple[str, ...]] = []

    async def on_posted(refs: PostedRefs) -> None:
        recorded.append(refs.message_ids)

    first = await thread.reply(on_posted=on_posted)
    await first.notice("Skipped big.zip: too large.")
    await first.text("x " * 3000)  # two pages, the second still streaming when "killed"
    await asyncio.sleep(0.3)  # the first flush ran; the sink is never finished
    pages = [m.ts for m in emu.bot_messages("C0001", parent.ts) if m.text.startswith("x")]
    assert len(pages) == 2 and recorded[-1][1:] == tuple(pages)
    # The full first page went out whole (no stream); the second is still streaming.
    assert [emu.message("C0001", ts).stream_state for ts in pages] == [None, "streaming"]
    assert recorded[-1][0].startswith("note:")

    resumed = await thread.reply(posted=recorded[-1])
    await resumed.text("The short, complete answer.")
    refs = await resumed.finish()
    texts = emu.bot_texts("C0001", parent.ts)
    assert texts == [
        ":information_source: Skipped big.zip: too large.",
        "The short, complete answer.",
    ]
    [page] = [m for m in emu.bot_messages("C0001", parent.ts) if "answer" in m.text]
    assert page.ts == pages[0] and page.stream_state in (None, "stopped")
    assert refs.message_ids == (recorded[-1][0], pages[0])
