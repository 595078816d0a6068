"""Voice in and out: audio files transcribed into the user's words, replies spoken.

`Audio.listen` turns a voice message or audio file into the input part the model reads
(its transcript) and a line for the user saying what was heard; anything that stops it
(no transcription model, a format or size the endpoint refuses, a clip over the length
cap, a server without the endpoint, audio that does not decode) is a short note instead,
and the rest of the message is answered. `Audio.speak` makes the spoken copy of a reply.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI

from bot.attachments import audio_seconds, clock, guess_mime, human_size, transcribable_name
from bot.config import CoreSettings
from bot.engine.resources import NO_ENDPOINT_STATUSES
from bot.models import InputFile, Transcript

logger = logging.getLogger(__name__)

# The transcription endpoint's own limit.
TRANSCRIBE_MAX_BYTES = 25 * 1024 * 1024
# The speech endpoint's limit on `input`.
SPEECH_MAX_CHARS = 4096
# How much of a transcript the user is shown.
SHOWN_CHARS = 300
# A server found without transcription is not asked again for this long.
NO_ENDPOINT_SECONDS = 600.0


class NotHeard(Exception):
    """An audio file that was not transcribed; the message is the note for the user."""


@dataclass(frozen=True, slots=True)
class Heard:
    """A transcribed audio file: what was heard, and the line that shows it to the user."""

    transcript: Transcript
    shown: str

    @property
    def part(self) -> dict[str, Any]:
        return heard_part(self.transcript)


def heard_part(heard: Transcript) -> dict[str, Any]:
    """The input part that gives the model a transcript as the user's words."""
    what = "Voice message" if heard.voice else "Audio file"
    return {"type": "input_text", "text": f"({what} {heard.name}, transcribed) {heard.text}"}


class Audio:
    """Transcription and speech with the process's client (one per engine)."""

    def __init__(self, *, client: AsyncOpenAI, settings: CoreSettings) -> None:
        # One retry at most: a clip that fails twice is noted, not retried for ever.
        self.client = client.with_options(max_retries=min(1, settings.openai_max_retries))
        self.settings = settings
        self.stateless = settings.conversation_mode == "stateless"
        # Until when the server is taken to have no transcription (it said so).
        self._no_endpoint_until = 0.0

    async def listen(self, file: InputFile) -> Heard:
        """The transcript of `file`, or NotHeard saying why there is none."""
        model = self.settings.transcription_model
        if not model:
            raise NotHeard(f"I can't listen to audio here, so I left out {file.name}.")
        if time.monotonic() < self._no_endpoint_until:
            raise NotHeard(f"This model server can't transcribe audio, so I left out {file.name}.")
        name = transcribable_name(file.name, file.mime_type)
        if name is None:
            raise NotHeard(f"I can't listen to {file.name}: I can't transcribe that format.")
        if len(file.data) > TRANSCRIBE_MAX_BYTES:
            raise NotHeard(
                f"{file.name} is too large to transcribe ({human_size(len(file.data))}; "
                f"limit {human_size(TRANSCRIBE_MAX_BYTES)})."
            )
        seconds = file.duration or audio_seconds(file.data)
        limit = self.settings.audio_max_seconds
        if seconds is not None and seconds > limit:
            raise NotHeard(
                f"{file.name} is too long to transcribe ({clock(seconds)}; limit {clock(limit)})."
            )
        try:
            result = await self.client.audio.transcriptions.create(
                model=model, file=(name, file.data, guess_mime(name, file.mime_type))
            )
        except openai.APIStatusError as exc:
            raise NotHeard(self._refusal(file.name, exc)) from None
        except openai.APIConnectionError:
            raise NotHeard(f"I couldn't reach the transcription service for {file.name}.") from None
        usage = result.usage
        if seconds is None and usage is not None and usage.type == "duration":
            seconds = usage.seconds
        text = " ".join(result.text.split())
        if not text:
            raise NotHeard(f"I heard no words in {file.name}.")
        shown = text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1].rstrip() + "…"
        return Heard(
            Transcript(file.name, text, voice=file.voice, seconds=seconds or 0.0),
            shown=f"Heard in {file.name}: “{shown}”",
        )

    def _refusal(self, name: str, exc: openai.APIStatusError) -> str:
        status = exc.status_code
        logger.warning("transcription of %s refused: %s %s", name, status, exc.message)
        # OpenAI's errors carry a string code; a route the server lacks does not.
        coded = isinstance(exc.code, str)
        if exc.code == "model_not_found" or exc.param == "model":
            logger.error("THREADBRIDGE_TRANSCRIPTION_MODEL is refused: %s", exc.message)
            return f"I couldn't transcribe {name}: the transcription model is misconfigured."
        if (status in NO_ENDPOINT_STATUSES and not coded) or (status >= 500 and self.stateless):
            # No such route; or llama.cpp's server, which answers 500 for a model without
            # audio input. Not asked again for a while.
            self._no_endpoint_until = time.monotonic() + NO_ENDPOINT_SECONDS
            return f"This model server can't transcribe audio, so I left out {name}."
        if status == 413:
            return f"{name} is too large to transcribe."
        if status == 400 and "longer than" in exc.message:
            # The length cap of the gpt-4o models, for a file whose headers do not tell it.
            return f"{name} is too long to transcribe."
        if status in (400, 415):
            return f"I couldn't make out {name}: the audio could not be decoded."
        if status >= 500 or status == 429:
            return f"I couldn't transcribe {name} just now (the service is busy); please try again."
        return f"I couldn't transcribe {name} (the service refused it: {status})."

    async def speak(self, reply: str) -> tuple[bytes, int] | None:
        """The reply as an MP3 and the characters spoken; None for nothing to say.
        Raises the SDK's APIError."""
        text = speakable(reply)
        if not text:
            return None
        answer = await self.client.audio.speech.create(
            model=self.settings.speech_model,
            voice=self.settings.speech_voice,
            input=text,
            response_format="mp3",
        )
        return answer.content, len(text)


_CODE_BLOCK = re.compile(r"```.*?(```|$)", re.S)
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
# Emphasis, inline code and strike marks, underscores that are not inside a word,
# heading and quote marks at a line's start.
_MARKUP = re.compile(r"[*`~]+|(?<!\w)_+|_+(?!\w)|^\s*(#+|>)\s?", re.M)


def speakable(reply: str) -> str:
    """The reply as it is read aloud: code blocks left out, links as their text, markup
    dropped, at most what the speech endpoint takes (cut at a sentence's end)."""
    text = _CODE_BLOCK.sub(" (code left out) ", reply)
    text = _LINK.sub(r"\1", text)
    text = _MARKUP.sub("", text)
    text = " ".join(text.split())
    if len(text) <= SPEECH_MAX_CHARS:
        return text
    cut = text[:SPEECH_MAX_CHARS]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > SPEECH_MAX_CHARS // 2 else cut
