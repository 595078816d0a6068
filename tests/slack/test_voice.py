"""Slack audio clips and audio files: heard as the user's words, answered aloud when asked."""

from __future__ import annotations

import json
from typing import Any

from tests.emulators.openai import Reply
from tests.emulators.openai.audio import audio_length, webm_bytes
from tests.emulators.slack import BOT_USER_ID, app_mention_event


def mention(text: str, **kwargs: Any) -> dict[str, Any]:
    return app_mention_event(channel="C0001", text=f"<@{BOT_USER_ID}> {text}", **kwargs)


async def test_an_audio_clip_is_transcribed_shown_and_answered_aloud(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot(THREADBRIDGE_SPOKEN_REPLIES="true")
    emu = bot.emulator
    # A clip recorded in Slack: a WebM without a Duration element, the length in the file
    # object (duration_ms), shown as audio.
    clip = emu.host_file(
        "audio_message.webm",
        webm_bytes(4.0, duration=False),
        "audio/webm",
        subtype="slack_audio",
        media_display_type="audio",
        duration_ms=4000,
    )
    openai_emulator.transcripts["audio_message.webm"] = "Can you draft the launch email?"
    openai_emulator.script(Reply(text="Here is a draft of the launch email."))
    event = mention("", files=[clip])
    await bot.send(event)
    await bot.settle()

    (call,) = openai_emulator.transcriptions
    assert (call.filename, call.content_type) == ("audio_message.webm", "audio/webm")
    sent = json.dumps(openai_emulator.responses_requests()[0].body)
    assert "(Voice message audio_message.webm, transcribed) Can you draft the launch email?" in sent
    texts = emu.bot_texts("C0001", event["ts"])
    assert any("Heard in audio_message.webm: “Can you draft the launch email?”" in t for t in texts)
    assert any("Here is a draft of the launch email." in t for t in texts)
    [with_file] = [m for m in emu.bot_messages("C0001", event["ts"]) if m.files]
    [shared] = with_file.files
    stored = emu.files[shared["id"]]
    assert stored.name == "reply.mp3" and (audio_length(stored.content) or 0) > 0
    rows = await bot.store.usage_rows()
    assert rows[0]["audio_seconds"] == 4.0


async def test_a_clip_filed_as_video_without_an_extension_is_heard_as_audio(
    slack_bot: Any, openai_emulator: Any
) -> None:
    bot = await slack_bot()
    emu = bot.emulator
    clip = emu.host_file(
        "Audio clip",
        webm_bytes(2.0),
        "video/webm",
        subtype="slack_audio",
        duration_ms=2000,
    )
    event = mention("what do you think?", files=[clip])
    await bot.send(event)
    await bot.settle()
    (call,) = openai_emulator.transcriptions
    # Sent as audio, under a name the endpoint takes.
    assert (call.filename, call.content_type, call.status) == (
        "Audio clip.webm",
        "audio/webm",
        200,
    )
    texts = emu.bot_texts("C0001", event["ts"])
    assert any("Heard in Audio clip: “transcript of Audio clip.webm”" in t for t in texts)
