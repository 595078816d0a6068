"""Several assistants on Discord: the channel's binding, /ask's choice, /help, names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.discord.conftest import MakeBot


def assistants_file(tmp_path: Path, guild_id: str, channel_id: str) -> str:
    path = tmp_path / "assistants.toml"
    path.write_text(
        f"""
[[assistant]]
name = "support"
model = "model-support"
instructions = "You help customers."
channels = ["discord-guild:{guild_id}"]
default = true

[[assistant]]
name = "coder"
model = "model-coder"
instructions = "You review code."
channels = ["discord:{channel_id}"]
"""
    )
    return str(path)


async def test_binding_choice_help_and_signature(
    make_bot: MakeBot, discord_emulator: Any, openai_emulator: Any, tmp_path: Path
) -> None:
    emu = discord_emulator
    path = assistants_file(tmp_path, emu.guild_id, emu.channel_id)
    bot = await make_bot(THREADBRIDGE_ASSISTANTS_FILE=path)
    # A mention in the channel: the channel's own binding (coder) beats the guild's.
    await emu.send_message(emu.channel_id, f"<@{bot.id}> check this", author=emu.alice)
    await bot.settle()
    assert openai_emulator.responses_requests()[-1].body["model"] == "model-coder"
    thread = bot.only_thread()
    assert bot.bot_messages(thread["id"])[-1]["content"].endswith("— _coder_")

    # /ask with an explicit choice that may answer here (support is the guild's).
    await emu.send_slash_command("ask", {"prompt": "a customer question", "assistant": "support"})
    await bot.settle(count=2)
    assert openai_emulator.responses_requests()[-1].body["model"] == "model-support"

    # A name that does not answer here is refused with the choices.
    refused = await emu.send_slash_command("ask", {"prompt": "x", "assistant": "nobody"})
    await emu.wait_until(lambda: emu.interaction(refused["id"]).acknowledged)
    body = emu.interaction(refused["id"]).callbacks[0].body
    assert body["data"]["flags"] & 64
    assert "does not answer here" in body["data"]["content"]
    assert "coder, support" in body["data"]["content"]

    # Typing the assistant option offers those allowed here, filtered by what is typed.
    for typed, offered in (("", ["coder", "support"]), ("sup", ["support"])):
        auto = await emu.send_autocomplete(
            "ask", {"prompt": "x", "assistant": typed}, focused="assistant"
        )
        record = emu.interaction(auto["id"])
        await emu.wait_until(lambda record=record: record.acknowledged)
        (callback,) = record.callbacks
        assert callback.type == 8
        assert [c["value"] for c in callback.body["data"]["choices"]] == offered

    # /help names the channel's assistant and the others allowed there.
    inter = await emu.send_slash_command("help")
    await emu.wait_until(lambda: emu.interaction(inter["id"]).acknowledged)
    text = emu.interaction(inter["id"]).callbacks[0].body["data"]["content"]
    assert "Assistant here: **coder**; also **support**" in text
