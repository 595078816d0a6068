"""Reply buttons on Discord: Stop while a reply streams, thumbs up / down when done."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.models import ThreadKey
from bot.tools import ToolRegistry
from tests.core.test_config import run_cli
from tests.discord.conftest import Bot, MakeBot
from tests.emulators.openai import Reply

LONG = " ".join(f"word{i}" for i in range(400))


async def mention_and_wait_for_stop(bot: Bot, openai_emulator: Any) -> tuple[str, str]:
    """Start a slow answer; return (thread id, id of the message with the Stop button)."""
    openai_emulator.script(Reply(text=LONG, tokens_per_second=40, chunk_chars=6))
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> write a lot", author=bot.emu.alice)
    await bot.handled()

    def stop_message() -> str | None:
        threads = bot.emu.threads(bot.emu.channel_id)
        for m in bot.bot_messages(threads[0]["id"]) if threads else []:
            if any(b["custom_id"].startswith("tb:stop:") for b in bot.emu.buttons(m["id"])):
                return str(m["id"])
        return None

    message_id = await bot.emu.wait_until(stop_message)
    return str(bot.only_thread()["id"]), message_id


def replies(bot: Bot, thread_id: str) -> list[dict[str, Any]]:
    """The bot's messages everyone sees (not the ephemeral answers to clicks)."""
    return [m for m in bot.bot_messages(thread_id) if not (m.get("flags") or 0) & 64]


async def notes(bot: Bot, click: dict[str, Any]) -> list[str]:
    """What the clicking user was told (waits for the bot's answer to the click)."""
    await bot.emu.wait_until(lambda: bot.emu.outcome(click["id"]).response_type is not None)
    return bot.emu.outcome(click["id"]).ephemeral_replies


def custom_ids(bot: Bot, message_id: str) -> list[str]:
    return [b["custom_id"] for b in bot.emu.buttons(message_id) if not b["disabled"]]


async def test_stop_keeps_the_text_so_far_and_the_thread_answers_again(
    make_bot: MakeBot, openai_emulator: Any
) -> None:
    bot = await make_bot(edit_interval=0.05)
    thread_id, message_id = await mention_and_wait_for_stop(bot, openai_emulator)
    (stop_id,) = custom_ids(bot, message_id)
    click = await bot.emu.click(message_id, stop_id, user=bot.emu.alice)
    await bot.core.service.drain()

    assert await notes(bot, click) == ["Stopped."]
    (reply,) = replies(bot, thread_id)
    assert reply["content"].startswith("word0 word1")
    assert reply["content"].endswith("_(stopped)_")
    assert "word399" not in reply["content"]
    # The Stop button gave way to the feedback buttons.
    turn = int(stop_id.rsplit(":", 1)[1])
    assert custom_ids(bot, message_id) == [f"tb:fb:up:{turn}", f"tb:fb:down:{turn}"]
    # The model's stream was closed: the response is cancelled, not finished.
    (response,) = openai_emulator.response_objects.values()
    assert response["status"] == "cancelled"
    key = ThreadKey("discord", bot.emu.guild_id, thread_id, thread_id)
    thread = await bot.core.store.find_thread(key)
    assert [t.status for t in await bot.core.store.turns_of(thread.id)] == ["stopped"]

    # The thread stays usable: the next message is answered normally.
    await bot.emu.send_message(thread_id, "and now briefly", author=bot.emu.alice)
    await bot.settle(count=2)
    assert replies(bot, thread_id)[-1]["content"] == "echo: [alice] and now briefly"
    assert [t.status for t in await bot.core.store.turns_of(thread.id)] == ["stopped", "done"]


async def test_only_the_asker_or_an_admin_can_stop(make_bot: MakeBot, openai_emulator: Any) -> None:
    bot = await make_bot(edit_interval=0.05)
    bob = bot.emu.add_user("bob")
    bot.emu.add_member(bot.emu.guild_id, bob)
    thread_id, message_id = await mention_and_wait_for_stop(bot, openai_emulator)
    (stop_id,) = custom_ids(bot, message_id)
    click = await bot.emu.click(message_id, stop_id, user=bob)
    assert await notes(bot, click) == [
        "Only the person who asked (or an admin) can stop this answer."
    ]
    await bot.core.service.drain()
    assert replies(bot, thread_id)[-1]["content"].endswith("word399")  # not stopped


async def test_an_admin_can_stop_anyone(make_bot: MakeBot, openai_emulator: Any) -> None:
    bot = await make_bot(edit_interval=0.05, THREADBRIDGE_ADMIN_USERS="discord:4242")
    admin = bot.emu.add_user("admin", user_id="4242")
    bot.emu.add_member(bot.emu.guild_id, admin)
    thread_id, message_id = await mention_and_wait_for_stop(bot, openai_emulator)
    (stop_id,) = custom_ids(bot, message_id)
    click = await bot.emu.click(message_id, stop_id, user=admin)
    await bot.core.service.drain()
    assert await notes(bot, click) == ["Stopped."]
    assert replies(bot, thread_id)[-1]["content"].endswith("_(stopped)_")


async def test_feedback_is_one_vote_per_user_and_changeable(
    bot: Bot, openai_emulator: Any, tmp_path: Path
) -> None:
    bob = bot.emu.add_user("bob")
    bot.emu.add_member(bot.emu.guild_id, bob)
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> hello", author=bot.emu.alice)
    await bot.settle()
    thread_id = str(bot.only_thread()["id"])
    (reply,) = replies(bot, thread_id)
    up, down = custom_ids(bot, reply["id"])
    assert up.startswith("tb:fb:up:") and down.startswith("tb:fb:down:")

    first = await bot.emu.click(reply["id"], up, user=bot.emu.alice)
    assert await notes(bot, first) == ["Thanks for the feedback."]
    changed = await bot.emu.click(reply["id"], down, user=bot.emu.alice)  # changes her vote
    assert await notes(bot, changed) == ["Thanks for the feedback."]
    assert await notes(bot, await bot.emu.click(reply["id"], up, user=bob))
    rows = await bot.core.store.feedback_rows()
    assert sorted((r.user_id, r.value) for r in rows) == sorted(
        [(bot.emu.alice["id"], "down"), (bob["id"], "up")]
    )
    assert {r.posted[0] for r in rows} == {str(reply["id"])}

    # `threadbridge feedback` reports the votes per model and day, and links the reply
    # voted down.
    code, out, err = await run_cli(
        "feedback",
        env={"OPENAI_API_KEY": "sk-x", "DATABASE_URL": bot.core.settings.database_url},
        cwd=tmp_path,
    )
    assert code == 0, err
    model = bot.core.settings.openai_model
    assert any(line.split()[1:] == [model, "1", "1"] for line in out.splitlines()), out
    link = f"https://discord.com/channels/{bot.emu.guild_id}/{thread_id}/{reply['id']}"
    assert "Voted down (1):" in out and link in out


async def test_buttons_posted_before_a_restart_still_work(
    make_bot: MakeBot, openai_emulator: Any
) -> None:
    first = await make_bot()
    await first.emu.send_message(
        first.emu.channel_id, f"<@{first.id}> hello", author=first.emu.alice
    )
    await first.settle()
    thread_id = str(first.only_thread()["id"])
    (reply,) = replies(first, thread_id)
    up, _down = custom_ids(first, reply["id"])
    await first.client.close()

    second = await make_bot()  # a new process: nothing of the first in memory
    click = await second.emu.click(reply["id"], up, user=second.emu.alice)
    assert await notes(second, click) == ["Thanks for the feedback."]
    assert [r.value for r in await second.core.store.feedback_rows()] == ["up"]


async def test_no_buttons_when_turned_off(make_bot: MakeBot) -> None:
    bot = await make_bot(THREADBRIDGE_STOP_BUTTON="false", THREADBRIDGE_FEEDBACK_BUTTONS="false")
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> hello", author=bot.emu.alice)
    await bot.settle()
    (reply,) = replies(bot, str(bot.only_thread()["id"]))
    assert bot.emu.buttons(reply["id"]) == []


async def test_stop_while_a_function_runs_cancels_it_and_the_thread_goes_on(
    make_bot: MakeBot, openai_emulator: Any
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_lookup(query: str) -> str:
        """Look something up slowly.

        Args:
            query: What to look up.
        """
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "42"

    bot = await make_bot(edit_interval=0.05, tools=ToolRegistry.from_functions([slow_lookup]))
    openai_emulator.script(Reply(function_calls=[("slow_lookup", {"query": "answer"})]))
    await bot.emu.send_message(bot.emu.channel_id, f"<@{bot.id}> look it up", author=bot.emu.alice)
    await bot.handled()
    await asyncio.wait_for(started.wait(), 5)
    thread_id = str(bot.only_thread()["id"])

    def stop_button() -> tuple[str, str] | None:
        for m in bot.bot_messages(thread_id):
            for b in bot.emu.buttons(m["id"]):
                if b["custom_id"].startswith("tb:stop:"):
                    return str(m["id"]), str(b["custom_id"])
        return None

    message_id, stop_id = await bot.emu.wait_until(stop_button)
    click = await bot.emu.click(message_id, stop_id, user=bot.emu.alice)
    assert await notes(bot, click) == ["Stopped."]
    await bot.core.service.drain()
    assert cancelled.is_set()
    assert replies(bot, thread_id)[-1]["content"].endswith("_(stopped)_")

    # The call got an output in the conversation, so the next request is accepted
    # (the emulator refuses a call without one, as OpenAI does).
    await bot.emu.send_message(thread_id, "never mind, say hi", author=bot.emu.alice)
    await bot.settle(count=2)
    assert replies(bot, thread_id)[-1]["content"] == "echo: [alice] never mind, say hi"
    last = openai_emulator.responses_requests()[-1].body
    assert last["conversation"] == openai_emulator.responses_requests()[0].body["conversation"]


async def test_stop_cancels_a_background_response(make_bot: MakeBot, openai_emulator: Any) -> None:
    bot = await make_bot(edit_interval=0.05, THREADBRIDGE_BACKGROUND_RESPONSES="true")
    thread_id, message_id = await mention_and_wait_for_stop(bot, openai_emulator)
    (stop_id,) = custom_ids(bot, message_id)
    click = await bot.emu.click(message_id, stop_id, user=bot.emu.alice)
    assert await notes(bot, click) == ["Stopped."]
    await bot.core.service.drain()
    (response,) = openai_emulator.response_objects.values()
    assert response["background"] is True and response["status"] == "cancelled"
    cancels = [
        r for r in openai_emulator.requests if r.path == f"/v1/responses/{response['id']}/cancel"
    ]
    assert len(cancels) == 1
    assert replies(bot, thread_id)[-1]["content"].endswith("_(stopped)_")
