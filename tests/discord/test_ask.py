"""/ask, /reset and /help through the real discord.py client and the emulator."""

from __future__ import annotations

from typing import Any

from bot.models import ThreadKey
from tests.discord.conftest import Bot
from tests.emulators.openai import Reply


def key_of(bot: Bot, thread_id: str) -> ThreadKey:
    return ThreadKey("discord", bot.emu.guild_id, thread_id, thread_id)


async def test_ask_defers_opens_thread_streams_and_stores_mapping(
    bot: Bot, openai_emulator: Any
) -> None:
    answer = " ".join(f"word{i}" for i in range(60))
    # ~2.5 s of streaming: the reply is edited while it grows.
    openai_emulator.script(Reply(text=answer, chunk_chars=6, tokens_per_second=30))
    inter = await bot.ask("What is a thread?")
    await bot.settle()

    record = bot.emu.interaction(inter["id"])
    assert record.callback_types == [5]  # deferred ("thinking")
    assert record.first_callback_elapsed is not None and record.first_callback_elapsed < 1.0

    thread = bot.only_thread()
    assert thread["name"] == "What is a thread?"
    assert thread["owner_id"] == bot.id
    # The question is the command's response, and the thread starts from it.
    question = bot.emu.message(record.original_message_id or "")
    assert question["content"] == "**alice asked:** What is a thread?"
    assert thread["id"] == question["id"]

    replies = bot.bot_messages(thread["id"])
    assert [m["content"] for m in replies] == [answer]
    assert len(replies[0]["edits"]) >= 1  # streamed: posted early, then edited
    assert replies[0]["edits"][-1]["content"] == answer

    stored = await bot.core.store.find_thread(key_of(bot, thread["id"]))
    assert stored is not None and stored.conversation_id is not None
    turns = await bot.core.store.turns_of(stored.id)
    assert [(t.status, t.posted) for t in turns] == [("done", [replies[0]["id"]])]


def conversation_of(request: Any) -> str:
    conv = request.body["conversation"]
    return str(conv["id"] if isinstance(conv, dict) else conv)


async def test_follow_up_continues_and_reset_starts_a_new_conversation(
    bot: Bot, openai_emulator: Any
) -> None:
    await bot.ask("first question")
    await bot.settle()
    thread_id = bot.only_thread()["id"]

    await bot.emu.send_message(thread_id, "and a follow-up", author=bot.emu.alice)
    await bot.settle(count=2)
    first, second = openai_emulator.responses_requests()
    assert conversation_of(second) == conversation_of(first)
    assert bot.bot_messages(thread_id)[-1]["content"] == "echo: [alice] and a follow-up"

    reset = await bot.emu.send_slash_command("reset", channel_id=thread_id)
    await bot.emu.wait_until(lambda: bot.emu.interaction(reset["id"]).acknowledged)
    assert bot.emu.interaction(reset["id"]).callback_types == [4]
    assert "New conversation" in bot.bot_messages(thread_id)[-1]["content"]

    await bot.emu.send_message(thread_id, "fresh start", author=bot.emu.alice)
    await bot.settle(count=3)
    third = openai_emulator.responses_requests()[-1]
    assert conversation_of(third) != conversation_of(first)
    # The old mapping is kept as history, not deleted.
    history = await bot.core.store.thread_history(key_of(bot, thread_id))
    assert [row.epoch for row in history] == [0, 1]
    assert history[0].conversation_id == conversation_of(first)
    assert history[1].conversation_id == conversation_of(third)


async def test_ask_inside_bot_thread_continues_it_as_follow_up(
    bot: Bot, openai_emulator: Any
) -> None:
    await bot.ask("start")
    await bot.settle()
    thread_id = bot.only_thread()["id"]

    inter = await bot.ask("more please", channel_id=thread_id)
    await bot.settle(count=2)
    assert len(bot.emu.threads()) == 1  # no new thread
    first, second = openai_emulator.responses_requests()
    assert conversation_of(second) == conversation_of(first)
    record = bot.emu.interaction(inter["id"])
    # The question replaces "thinking"; the answer is the command's follow-up.
    assert bot.emu.message(record.original_message_id or "")["content"] == (
        "**alice asked:** more please"
    )
    assert [bot.emu.message(m)["content"] for m in record.followup_message_ids] == [
        "echo: [alice] more please"
    ]


async def test_reply_after_interaction_token_expired_goes_to_the_channel(
    bot: Bot, openai_emulator: Any
) -> None:
    dm = bot.emu.create_dm_channel(bot.emu.alice)
    openai_emulator.script(Reply(text="late answer", ttft=0.3))
    inter = await bot.ask("slow one", channel_id=dm["id"])
    await bot.handled()
    bot.emu.expire_interaction_tokens()
    await bot.core.service.drain()
    record = bot.emu.interaction(inter["id"])
    assert record.followup_message_ids == []
    replies = bot.bot_messages(dm["id"])
    assert replies[-1]["content"] == "late answer"
    assert replies[-1].get("interaction_metadata") is None  # a plain channel message
    assert bot.emu.requests_to("POST", f"/channels/{dm['id']}/messages")


async def test_help_lists_enabled_tools(make_bot: Any) -> None:
    bot = await make_bot(THREADBRIDGE_WEB_SEARCH="true")
    inter = await bot.emu.send_slash_command("help")
    await bot.emu.wait_until(lambda: bot.emu.interaction(inter["id"]).acknowledged)
    callback = bot.emu.interaction(inter["id"]).callbacks[0]
    assert callback.type == 4
    text = callback.body["data"]["content"]
    assert "/ask" in text and "/reset" in text and "web search" in text
    assert callback.body["data"]["flags"] & 64  # only the asker sees it


async def test_reset_outside_a_bot_thread_is_refused_privately(bot: Bot) -> None:
    inter = await bot.emu.send_slash_command("reset")
    await bot.emu.wait_until(lambda: bot.emu.interaction(inter["id"]).acknowledged)
    body = bot.emu.interaction(inter["id"]).callbacks[0].body
    assert body["data"]["flags"] & 64
    assert "inside a thread" in body["data"]["content"]
