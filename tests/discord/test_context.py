"""What the bot reads before a first question on Discord: someone else's thread, the
reply chain of a channel mention; and replies in a DM, which read nothing."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from bot.models import ThreadKey
from tests.discord.conftest import Bot, MakeBot
from tests.emulators.discord import payloads as P
from tests.helpers import model_input, strip_time, texts_of

NOTE = "-# ℹ️ I couldn't read the earlier messages in this thread."


def sent(openai_emulator: Any, index: int = 0) -> list[tuple[str, str]]:
    items = model_input(openai_emulator.responses_requests()[index].body)
    return [(role, strip_time(text)) for role, text in texts_of(items)]


def history_reads(bot: Bot, channel_id: str) -> list[Any]:
    """The history pages the bot asked for (not single messages)."""
    path = f"/channels/{channel_id}/messages"
    return [r for r in bot.emu.requests_to("GET", path) if r.path == path]


async def someone_elses_thread(bot: Bot) -> tuple[str, dict[str, Any]]:
    """Alice's thread from her channel message: Bob answered, the bot once wrote there,
    another bot posted, Alice attached the plan."""
    emu = bot.emu
    bob = emu.add_user("bob")
    deploy = emu.add_user("deploybot", bot=True)
    starter = await emu.send_message(emu.channel_id, "Shall we ship on Friday?", author=emu.alice)
    thread = await emu.create_thread(
        emu.channel_id, "ship?", owner=emu.alice, message_id=starter["id"]
    )
    tid = thread["id"]
    await emu.send_message(tid, "Only if the tests pass.", author=bob)
    await emu.send_message(tid, "(an earlier answer of mine)", author=emu.bot_user)
    await emu.send_message(tid, "build 42 green", author=deploy)
    plan = emu.host_attachment("plan.txt", b"the release plan", "text/plain", channel_id=tid)
    await emu.send_message(tid, "Here is the plan", author=emu.alice, attachments=[plan])
    return tid, bob


async def context_count(bot: Bot, thread_id: str) -> int:
    key = ThreadKey("discord", bot.emu.guild_id, thread_id, thread_id)
    thread = await bot.core.store.find_thread(key)
    turn = (await bot.core.store.turns_of(thread.id))[0]
    return int(
        await bot.core.store.run(
            lambda conn: conn.exec_driver_sql(
                "SELECT context_messages FROM turns WHERE id = ?", (turn.id,)
            ).scalar()
        )
    )


async def test_a_mention_in_someone_elses_thread_gives_the_model_the_thread(
    bot: Bot, openai_emulator: Any
) -> None:
    tid, bob = await someone_elses_thread(bot)
    await bot.emu.send_message(tid, f"<@{bot.id}> what did we decide?", author=bob)
    await bot.settle()

    assert sent(openai_emulator) == [
        ("user", "[alice] Shall we ship on Friday?"),  # the starter, in the parent channel
        ("user", "[bob] Only if the tests pass."),
        ("assistant", "(an earlier answer of mine)"),
        ("user", "[alice] Here is the plan\nFiles: plan.txt"),
        ("user", "[bob] what did we decide?"),
    ]  # the other bot is left out; the question comes last, once
    first = texts_of(model_input(openai_emulator.responses_requests()[0].body))[0][1]
    assert first.startswith("[alice, 20") and " UTC] " in first
    # The file of the earlier message went to the model like one of the question's.
    assert [f.data for f in openai_emulator.files.values()] == [b"the release plan"]
    assert await context_count(bot, tid) == 4
    assert [m["content"] for m in bot.bot_messages(tid)][-1] == "echo: [bob] what did we decide?"

    # The next turn does not send the history again.
    reads = len(history_reads(bot, tid))
    await bot.emu.send_message(tid, "and then?", author=bob)
    await bot.settle(count=2)
    assert sent(openai_emulator, 1) == [("user", "[bob] and then?")]
    assert len(history_reads(bot, tid)) == reads == 1


async def test_ask_in_someone_elses_thread_reads_it_up_to_the_question(
    bot: Bot, openai_emulator: Any
) -> None:
    tid, _ = await someone_elses_thread(bot)
    await bot.ask("sum it up", channel_id=tid)
    await bot.settle()
    got = sent(openai_emulator)
    # The question line the bot posted for /ask is not read as an answer of its own.
    assert got[0] == ("user", "[alice] Shall we ship on Friday?")
    assert got[-2:] == [
        ("user", "[alice] Here is the plan\nFiles: plan.txt"),
        ("user", "[alice] sum it up"),
    ]
    assert not any("asked:" in text for _, text in got)


async def test_a_long_thread_keeps_its_starter_and_latest_and_counts_the_gap(
    make_bot: MakeBot, openai_emulator: Any
) -> None:
    bot = await make_bot(THREADBRIDGE_CONTEXT_MAX_MESSAGES=10)
    emu = bot.emu
    # Written before the bot connected: nothing in its cache, all read over REST.
    starter = await emu.send_message(emu.channel_id, "message 0", dispatch=False)
    thread = await emu.create_thread(emu.channel_id, "long", message_id=starter["id"])
    for i in range(1, 150):
        await emu.send_message(thread["id"], f"message {i}", dispatch=False)
    await emu.send_message(thread["id"], f"<@{bot.id}> sum up")
    await bot.settle()
    got = [text for _, text in sent(openai_emulator)]
    assert got[0] == "[alice] message 0"
    assert got[1] == "(140 earlier messages omitted)"
    assert got[2:-1] == [f"[alice] message {i}" for i in range(141, 150)]
    assert got[-1] == "[alice] sum up"
    # 149 messages before the question: two pages, newest first; the starter by id.
    pages = history_reads(bot, thread["id"])
    assert [r.query.get("limit") for r in pages] == ["100", "100"]
    assert all("before" in r.query for r in pages)
    assert len(emu.requests_to("GET", f"/channels/{emu.channel_id}/messages/{starter['id']}")) == 1
    assert emu.spec_violations == []


@pytest.mark.parametrize(("code", "named"), [(50001, "View Channel"), (50013, "Read Message")])
async def test_a_thread_that_cannot_be_read_is_answered_with_a_note(
    bot: Bot, openai_emulator: Any, caplog: pytest.LogCaptureFixture, code: int, named: str
) -> None:
    tid, bob = await someone_elses_thread(bot)
    bot.emu.deny_history(tid, code=code)
    with caplog.at_level(logging.WARNING, logger="adapters.discord"):
        await bot.emu.send_message(tid, f"<@{bot.id}> hi", author=bob)
        await bot.settle()
    [reply] = [m["content"] for m in bot.bot_messages(tid) if "echo" in m["content"]]
    assert reply == f"{NOTE}\necho: [bob] hi"
    assert sent(openai_emulator) == [("user", "[bob] hi")]
    [line] = [r.getMessage() for r in caplog.records if "for context" in r.getMessage()]
    assert f"403 {code}" in line and named in line and "Read Message History" in line


async def test_a_server_error_past_the_time_budget_goes_on_without_context(
    bot: Bot, openai_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    reader = bot.client.context_reader
    reader.options = dataclasses.replace(reader.options, read_seconds=0.3)
    tid, bob = await someone_elses_thread(bot)
    bot.emu.deny_history(tid, status=500, code=0)  # discord.py waits a second to retry
    with caplog.at_level(logging.WARNING, logger="adapters.discord"):
        await bot.emu.send_message(tid, f"<@{bot.id}> hi", author=bob)
        await bot.settle()
    assert f"{NOTE}\necho: [bob] hi" in [m["content"] for m in bot.bot_messages(tid)]
    assert "timed out" in caplog.text


async def test_without_read_message_history_nothing_is_asked_and_the_log_says_so(
    bot: Bot, openai_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    emu = bot.emu
    tid, bob = await someone_elses_thread(bot)
    # Discord would answer the history with no messages at all: an empty thread.
    await emu.set_permission_overwrite(
        emu.channel_id, emu.bot_role_id(emu.guild_id), deny=P.READ_MESSAGE_HISTORY
    )
    with caplog.at_level(logging.WARNING, logger="adapters.discord"):
        await emu.send_message(tid, f"<@{bot.id}> hi", author=bob)
        await bot.settle()
    assert history_reads(bot, tid) == []
    assert f"{NOTE}\necho: [bob] hi" in [m["content"] for m in bot.bot_messages(tid)]
    assert "lacks the Read Message History permission" in caplog.text


async def test_history_reading_can_be_turned_off(make_bot: MakeBot, openai_emulator: Any) -> None:
    bot = await make_bot(THREADBRIDGE_DISCORD_READ_HISTORY="false")
    tid, bob = await someone_elses_thread(bot)
    await bot.emu.send_message(tid, f"<@{bot.id}> hi", author=bob)
    await bot.settle()
    assert bot.emu.requests_to("GET", "/messages") == []
    assert sent(openai_emulator) == [("user", "[bob] hi")]


async def test_a_channel_mention_that_replies_reads_the_reply_chain(
    bot: Bot, openai_emulator: Any
) -> None:
    emu = bot.emu
    bob = emu.add_user("bob")
    ch = emu.channel_id
    # The two oldest were never seen by the bot; Discord embeds one level of the chain.
    a = await emu.send_message(ch, "Which port does the API use?", author=bob, dispatch=False)
    b = await emu.send_message(
        ch, "It is 8080.", author=emu.bot_user, reply_to=a["id"], dispatch=False
    )
    c = await emu.send_message(
        ch, "no, 8443 since March", author=bob, reply_to=b["id"], reply_ping=False
    )
    await emu.send_message(ch, "unrelated chatter", author=emu.alice)
    await emu.send_message(ch, f"<@{bot.id}> who is right?", author=emu.alice, reply_to=c["id"])
    await bot.settle()
    thread = bot.only_thread()
    assert sent(openai_emulator) == [
        ("user", "[bob] Which port does the API use?"),
        ("assistant", "It is 8080."),
        ("user", "[bob] no, 8443 since March"),
        ("user", "[alice] who is right?"),
    ]
    # c from the cache, b embedded in it, a fetched: one request.
    assert len(emu.requests_to("GET", f"/channels/{ch}/messages/")) == 1
    assert history_reads(bot, thread["id"]) == []
    assert await context_count(bot, thread["id"]) == 3


async def test_a_reply_chain_stops_at_its_limit_and_at_a_deleted_message(
    bot: Bot, openai_emulator: Any
) -> None:
    emu = bot.emu
    ch = emu.channel_id
    previous = await emu.send_message(ch, "link 0", dispatch=False)
    for i in range(1, 25):
        previous = await emu.send_message(ch, f"link {i}", reply_to=previous["id"], dispatch=False)
    await emu.send_message(ch, f"<@{bot.id}> long chain", reply_to=previous["id"])
    await bot.settle()
    got = [text for _, text in sent(openai_emulator)]
    assert got == [f"[alice] link {i}" for i in range(5, 25)] + ["[alice] long chain"]

    gone = await emu.send_message(ch, "deleted soon", dispatch=False)
    kept = await emu.send_message(ch, "kept", reply_to=gone["id"], dispatch=False)
    await emu.delete_user_message(gone["id"])
    await emu.send_message(ch, f"<@{bot.id}> short chain", reply_to=kept["id"])
    await bot.settle(count=2)
    assert [text for _, text in sent(openai_emulator, 1)] == [
        "[alice] kept",
        "[alice] short chain",
    ]


async def test_a_reply_chain_that_cannot_be_read_is_answered_with_a_note(
    bot: Bot, openai_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    emu = bot.emu
    earlier = await emu.send_message(emu.channel_id, "earlier", dispatch=False)
    emu.deny_history(emu.channel_id, code=50013)
    with caplog.at_level(logging.WARNING, logger="adapters.discord"):
        await emu.send_message(emu.channel_id, f"<@{bot.id}> and?", reply_to=earlier["id"])
        await bot.settle()
    thread = bot.only_thread()
    assert [m["content"] for m in bot.bot_messages(thread["id"])] == [
        "-# ℹ️ I couldn't read the messages you replied to.\necho: [alice] and?"
    ]
    assert "reply chain" in caplog.text and "Read Message History" in caplog.text


async def test_a_top_level_mention_reads_nothing(bot: Bot, openai_emulator: Any) -> None:
    await bot.emu.send_message(bot.emu.channel_id, "before", author=bot.emu.alice)
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> new topic")
    await bot.settle()
    assert bot.emu.requests_to("GET", "/messages") == []
    assert sent(openai_emulator) == [("user", "[alice] new topic")]


async def test_a_reply_to_an_answer_in_a_dm_continues_the_dm_conversation(
    bot: Bot, openai_emulator: Any
) -> None:
    emu = bot.emu
    dm = emu.create_dm_channel(emu.alice)
    await emu.send_message(dm["id"], "hello", author=emu.alice)
    await bot.settle()
    [answer] = bot.bot_messages(dm["id"])
    await emu.send_message(dm["id"], "tell me more", author=emu.alice, reply_to=answer["id"])
    await bot.settle(count=2)
    first, second = openai_emulator.responses_requests()
    assert second.body["conversation"] == first.body["conversation"]
    # The answer is in the conversation already: nothing is read, nothing repeated.
    assert sent(openai_emulator, 1) == [("user", "[alice] tell me more")]
    assert emu.requests_to("GET", "/messages") == []
