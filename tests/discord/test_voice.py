"""Discord voice messages: heard as the user's words, answered aloud when asked to."""

from __future__ import annotations

import json
from typing import Any

from tests.discord.conftest import MakeBot
from tests.emulators.discord import payloads as P
from tests.emulators.openai import Reply
from tests.emulators.openai.audio import audio_length, ogg_opus_bytes


async def test_a_voice_message_is_transcribed_and_answered_aloud(
    make_bot: MakeBot, openai_emulator: Any
) -> None:
    bot = await make_bot(THREADBRIDGE_SPOKEN_REPLIES="true")
    openai_emulator.transcripts["voice-message.ogg"] = "Remind me what we shipped on Friday."
    openai_emulator.script(Reply(text="You shipped the new billing page."))
    dm = bot.emu.create_dm_channel(bot.emu.alice)
    voice = bot.emu.voice_attachment(ogg_opus_bytes(2.5), 2.5, channel_id=dm["id"])
    await bot.emu.send_message(
        dm["id"], "", author=bot.emu.alice, attachments=[voice], flags=P.FLAG_IS_VOICE_MESSAGE
    )
    await bot.settle()

    (call,) = openai_emulator.transcriptions
    assert call.filename == "voice-message.ogg"
    sent = json.dumps(openai_emulator.responses_requests()[0].body)
    assert "(Voice message voice-message.ogg, transcribed) Remind me what we shipped" in sent
    messages = bot.bot_messages(dm["id"])
    text = "\n".join(m["content"] for m in messages)
    assert "Heard in voice-message.ogg: “Remind me what we shipped on Friday.”" in text
    assert "You shipped the new billing page." in text
    uploads = [u for m in messages for u in m.get("uploaded_files", [])]
    (spoken,) = uploads
    assert spoken.filename == "reply.mp3" and (audio_length(spoken.data) or 0) > 0
    (speech,) = openai_emulator.speeches
    assert speech.input == "You shipped the new billing page."


async def test_a_voice_message_over_the_cap_is_noted_not_sent(
    make_bot: MakeBot, openai_emulator: Any
) -> None:
    bot = await make_bot(THREADBRIDGE_AUDIO_MAX_SECONDS="30")
    dm = bot.emu.create_dm_channel(bot.emu.alice)
    # Discord says how long it is; the file itself is short.
    voice = bot.emu.voice_attachment(ogg_opus_bytes(1.0), 95.0, channel_id=dm["id"])
    await bot.emu.send_message(
        dm["id"], "", author=bot.emu.alice, attachments=[voice], flags=P.FLAG_IS_VOICE_MESSAGE
    )
    await bot.settle()
    assert openai_emulator.transcriptions == []
    text = "\n".join(m["content"] for m in bot.bot_messages(dm["id"]))
    assert "voice-message.ogg is too long to transcribe (1:35; limit 0:30)." in text
