"""/audio/transcriptions and /audio/speech as the real API answers them, through the real
SDK; the code interpreter's make_files and the container upload records."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import mutagen
import openai
import pytest
from openai.types.audio import Transcription, TranscriptionVerbose
from openai.types.audio.transcription import UsageDuration, UsageTokens

from tests.emulators.openai import OpenAIEmulator, Reply
from tests.emulators.openai.audio import (
    audio_length,
    flac_bytes,
    mp3_bytes,
    ogg_opus_bytes,
    wav_bytes,
    webm_bytes,
)
from tests.emulators.openai.server import MAX_AUDIO_BYTES

FORMATS_MESSAGE = (
    "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', "
    "'oga', 'ogg', 'wav', 'webm']"
)


def webm_live(seconds: float) -> bytes:
    return webm_bytes(seconds, duration=False)


# ------------------------------------------------------------------ the test files


@pytest.mark.parametrize(
    "make",
    [wav_bytes, mp3_bytes, ogg_opus_bytes, flac_bytes, webm_bytes, webm_live],
)
def test_the_helpers_make_files_of_the_length_asked(make: Callable[[float], bytes]) -> None:
    for seconds in (0.5, 2.0, 61.0):
        assert audio_length(make(seconds)) == pytest.approx(seconds, abs=0.03)


def test_mutagen_reads_the_helpers_files() -> None:
    assert type(mutagen.File(io.BytesIO(ogg_opus_bytes(1.5)))).__name__ == "OggOpus"
    assert type(mutagen.File(io.BytesIO(mp3_bytes(1.5)))).__name__ == "MP3"
    assert type(mutagen.File(io.BytesIO(wav_bytes(1.5)))).__name__ == "WAVE"
    assert type(mutagen.File(io.BytesIO(flac_bytes(1.5)))).__name__ == "FLAC"
    assert audio_length(b"OggS....") is None
    assert audio_length(b"not audio at all") is None


# ------------------------------------------------------------------ transcriptions


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("voice.wav", wav_bytes(1.0)),
        ("voice.mp3", mp3_bytes(1.0)),
        ("voice.mpeg", mp3_bytes(1.0)),
        ("voice.mpga", mp3_bytes(1.0)),
        ("voice.ogg", ogg_opus_bytes(1.0)),
        ("voice.oga", ogg_opus_bytes(1.0)),
        ("voice.flac", flac_bytes(1.0)),
        ("clip.webm", webm_bytes(1.0)),
        ("recorded.webm", webm_live(1.0)),
        ("VOICE.OGG", ogg_opus_bytes(1.0)),
    ],
)
async def test_supported_formats_are_transcribed(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI, name: str, data: bytes
) -> None:
    heard = await client.audio.transcriptions.create(model="whisper-1", file=(name, data))
    assert heard.text == f"transcript of {name}"
    (call,) = openai_emulator.transcriptions
    assert call.status == 200 and call.filename == name and call.size == len(data)
    assert call.duration == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("name", ["voice.opus", "voice.aac", "notes.txt", "voice"])
async def test_other_file_names_are_refused(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI, name: str
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=(name, ogg_opus_bytes(1.0))
        )
    assert err.value.body == {
        "message": FORMATS_MESSAGE,
        "type": "invalid_request_error",
        "param": "file",
        "code": "invalid_value",
    }
    (call,) = openai_emulator.transcriptions
    assert call.status == 400 and call.error == FORMATS_MESSAGE and call.text is None


async def test_a_file_over_25_mb_is_413(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    # A WAV of exactly 26214400 bytes is taken (the limit is the file's size) ...
    at_limit = wav_bytes((MAX_AUDIO_BYTES - 44) / 2 / 16_000)
    assert len(at_limit) == MAX_AUDIO_BYTES
    heard = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", at_limit))
    assert heard.usage is not None and heard.usage.type == "duration"
    # ... one byte more is not: 413, counting the bytes of the request read.
    with pytest.raises(openai.APIStatusError) as err:
        await client.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", at_limit + b"\x00")
        )
    assert err.value.status_code == 413
    body: Any = err.value.body
    assert body["type"] == "server_error"
    read = openai_emulator.requests[-1].headers["content-length"]
    assert int(read) > MAX_AUDIO_BYTES + 1
    assert body["message"] == (
        f"Maximum content size limit (26214400) exceeded ({read} bytes read)"
    )
    assert [c.status for c in openai_emulator.transcriptions] == [200, 413]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("voice.ogg", b"OggS...."),
        ("voice.mp3", b"ID3 but nothing else"),
        ("voice.wav", b"RIFF\x00\x00\x00\x00WAVE"),
        ("voice.webm", b"\x1a\x45\xdf\xa3 broken"),
        ("voice.m4a", b"\x00" * 64),
        ("voice.wav", b""),
    ],
)
async def test_undecodable_audio_is_400(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI, name: str, data: bytes
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.transcriptions.create(model="whisper-1", file=(name, data))
    assert err.value.body == {
        "message": "Audio file might be corrupted or unsupported",
        "type": "invalid_request_error",
        "param": "file",
        "code": "invalid_value",
    }
    assert openai_emulator.transcriptions[0].duration is None


async def test_audio_under_a_tenth_of_a_second_is_too_short(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.transcriptions.create(
            model="whisper-1", file=("tap.wav", wav_bytes(0.05))
        )
    assert err.value.code == "audio_too_short"
    assert err.value.message.endswith(
        "Audio file is too short. Minimum audio length is 0.1 seconds."
    )


async def test_the_gpt_4o_models_take_at_most_1500_seconds(client: openai.AsyncOpenAI) -> None:
    long = ogg_opus_bytes(1501)
    heard = await client.audio.transcriptions.create(model="whisper-1", file=("long.ogg", long))
    assert isinstance(heard.usage, UsageDuration) and heard.usage.seconds == 1501
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("long.ogg", long))
    assert err.value.message.endswith(
        "audio duration 1501.0 seconds is longer than 1500 seconds which is the maximum for "
        "this model"
    )


async def test_whisper_usage_is_seconds_rounded_up(client: openai.AsyncOpenAI) -> None:
    heard = await client.audio.transcriptions.create(
        model="whisper-1", file=("memo.wav", wav_bytes(3.2), "audio/wav")
    )
    assert isinstance(heard, Transcription)
    assert isinstance(heard.usage, UsageDuration)
    assert heard.usage.type == "duration" and heard.usage.seconds == 4


async def test_gpt_4o_usage_is_tokens(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    openai_emulator.transcript = "three little words"
    heard = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("voice.ogg", ogg_opus_bytes(2.5), "audio/ogg")
    )
    usage = heard.usage
    assert isinstance(usage, UsageTokens)
    assert usage.input_token_details is not None
    assert usage.input_token_details.audio_tokens == 25
    assert usage.input_token_details.text_tokens == 0
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (25, 3, 28)
    # A prompt is billed as text tokens.
    heard = await client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("voice.ogg", ogg_opus_bytes(1.0)), prompt="names: Ada"
    )
    assert isinstance(heard.usage, UsageTokens) and heard.usage.input_token_details is not None
    assert heard.usage.input_token_details.text_tokens == 2
    assert heard.usage.input_tokens == 12
    call = openai_emulator.transcriptions[-1]
    assert call.form["prompt"] == "names: Ada" and call.model == "gpt-4o-transcribe"


async def test_text_format_is_plain_text(client: openai.AsyncOpenAI) -> None:
    text = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe",
        file=("voice.ogg", ogg_opus_bytes(1.0)),
        response_format="text",
    )
    assert isinstance(text, str) and text == "transcript of voice.ogg\n"


async def test_verbose_json_only_for_whisper(client: openai.AsyncOpenAI) -> None:
    verbose = await client.audio.transcriptions.create(
        model="whisper-1",
        file=("voice.wav", wav_bytes(2.0)),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        language="de",
    )
    assert isinstance(verbose, TranscriptionVerbose)
    assert verbose.duration == 2.0 and verbose.language == "german"
    assert verbose.segments is not None and verbose.segments[0].end == verbose.duration
    assert verbose.words is not None and [w.word for w in verbose.words][-1] == "voice.wav"
    assert verbose.usage is not None and verbose.usage.seconds == 2
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe",
            file=("voice.mp3", mp3_bytes(2.0)),
            response_format="verbose_json",
        )
    assert err.value.body == {
        "message": "response_format 'verbose_json' is not compatible with model "
        "'gpt-4o-mini-transcribe'. Use 'json' or 'text' instead.",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": "unsupported_value",
    }


async def test_srt_vtt_and_diarized(client: openai.AsyncOpenAI) -> None:
    srt = await client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", wav_bytes(2.5)), response_format="srt"
    )
    assert srt == "1\n00:00:00,000 --> 00:00:02,500\ntranscript of a.wav\n\n"
    vtt = await client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", wav_bytes(2.5)), response_format="vtt"
    )
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n")
    diarized = await client.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize",
        file=("a.wav", wav_bytes(2.5)),
        response_format="diarized_json",
    )
    assert diarized.segments[0].speaker == "A" and diarized.duration == 2.5
    with pytest.raises(openai.BadRequestError):
        await client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=("a.wav", wav_bytes(2.5)), response_format="srt"
        )


async def test_transcription_models(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.transcriptions.create(model="gpt-4o", file=("a.wav", wav_bytes(1)))
    assert err.value.param == "model" and err.value.code == "invalid_value"
    assert err.value.message.endswith(
        "Invalid value: 'gpt-4o'. Supported values are: 'whisper-1', 'gpt-4o-transcribe', "
        "'gpt-4o-mini-transcribe', 'gpt-4o-mini-transcribe-2025-12-15', and "
        "'gpt-4o-transcribe-diarize'."
    )
    openai_emulator.unknown_models.add("whisper-1")
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_bytes(1)))
    assert err.value.code == "model_not_found"
    for model in ("gpt-4o-transcribe", "gpt-4o-transcribe-diarize"):
        heard = await client.audio.transcriptions.create(model=model, file=("a.wav", wav_bytes(1)))
        assert isinstance(heard.usage, UsageTokens)


async def test_language_must_be_iso_639_1(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", wav_bytes(1)), language="english"
        )
    assert err.value.param == "language" and err.value.code == "invalid_language_format"
    assert err.value.message.endswith(
        "Invalid language 'english'. Language parameter must be specified in ISO-639-1 format."
    )


async def test_transcripts_by_file_name_and_recorded_calls(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    openai_emulator.transcripts = {"a.ogg": "first voice message"}
    openai_emulator.transcript = "everything else"
    a = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("a.ogg", ogg_opus_bytes(1.0), "audio/ogg")
    )
    b = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("b.ogg", ogg_opus_bytes(2.0), "audio/ogg")
    )
    assert (a.text, b.text) == ("first voice message", "everything else")
    first, second = openai_emulator.transcriptions
    assert first.model == "gpt-4o-mini-transcribe" and first.content_type == "audio/ogg"
    assert first.text == "first voice message" and first.status == 200
    assert second.duration == pytest.approx(2.0) and second.form["model"] == first.model


async def test_scripted_failures_bound_the_retries(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.fail_transcriptions(3, status=500)
    async with openai.AsyncOpenAI(
        base_url=openai_emulator.base_url, api_key="sk-test", max_retries=1, timeout=10
    ) as client:
        with pytest.raises(openai.InternalServerError) as err:
            await client.audio.transcriptions.create(
                model="whisper-1", file=("a.wav", wav_bytes(1))
            )
        assert err.value.type == "server_error"
        assert err.value.response.headers["retry-after-ms"] == "10"
        # The third failure, then the retry succeeds.
        heard = await client.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", wav_bytes(1))
        )
    assert heard.text == "transcript of a.wav"
    assert [c.status for c in openai_emulator.transcriptions] == [500, 500, 500, 200]
    assert openai_emulator.audio_failures_left == {"transcription": 0, "speech": 0}

    openai_emulator.fail_transcriptions(1, status=429, message="Slow down.")
    async with openai.AsyncOpenAI(
        base_url=openai_emulator.base_url, api_key="sk-test", max_retries=0
    ) as client:
        with pytest.raises(openai.RateLimitError) as limited:
            await client.audio.transcriptions.create(
                model="whisper-1", file=("a.wav", wav_bytes(1))
            )
        assert limited.value.message.endswith("Slow down.")
        # A request the API refuses anyway does not use up a scripted failure.
        openai_emulator.fail_transcriptions(1)
        with pytest.raises(openai.BadRequestError):
            await client.audio.transcriptions.create(
                model="whisper-1", file=("a.txt", wav_bytes(1))
            )
        assert openai_emulator.audio_failures_left["transcription"] == 1


async def test_streamed_transcription(client: openai.AsyncOpenAI) -> None:
    stream = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe",
        file=("a.ogg", ogg_opus_bytes(1.0)),
        stream=True,
        include=["logprobs"],
    )
    events = [e async for e in stream]
    assert [e.type for e in events] == [
        "transcript.text.delta",
        "transcript.text.delta",
        "transcript.text.delta",
        "transcript.text.done",
    ]
    done: Any = events[-1]
    assert done.text == "transcript of a.ogg" and done.usage.input_tokens == 10
    assert [lp.token for lp in done.logprobs] == ["transcript", " of", " a.ogg"]


# ------------------------------------------------------------------ speech


@pytest.mark.parametrize(
    ("fmt", "mime", "kind"),
    [
        ("mp3", "audio/mpeg", "MP3"),
        ("opus", "audio/opus", "OggOpus"),
        ("flac", "audio/flac", "FLAC"),
        ("wav", "audio/wav", "WAVE"),
        ("aac", "audio/aac", "WAVE"),  # WAV bytes under the aac type (no AAC encoder)
    ],
)
async def test_speech_is_real_audio_that_grows_with_the_input(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI, fmt: str, mime: str, kind: str
) -> None:
    lengths = []
    for text in ("Hi.", "A longer reply, read out loud for the whole thread to hear. " * 4):
        speech = await client.audio.speech.create(
            model="tts-1",
            voice="alloy",
            input=text,
            response_format=fmt,  # type: ignore[arg-type]
        )
        assert speech.response.headers["content-type"] == mime
        found = mutagen.File(io.BytesIO(speech.content))
        assert type(found).__name__ == kind
        lengths.append(found.info.length)
    assert 0 < lengths[0] < lengths[1]
    assert lengths[1] == pytest.approx(240 / 15, abs=0.05)
    call = openai_emulator.speeches[-1]
    assert (call.model, call.voice, call.response_format) == ("tts-1", "alloy", fmt)
    assert call.status == 200 and call.duration == pytest.approx(16.0)


async def test_speech_defaults_to_mp3_and_pcm_is_raw_samples(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    speech = await client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="coral", input="x" * 30
    )
    assert speech.response.headers["content-type"] == "audio/mpeg"
    assert audio_length(speech.content) == pytest.approx(2.0, abs=0.03)
    assert openai_emulator.speeches[0].response_format == "mp3"
    pcm = await client.audio.speech.create(
        model="tts-1-hd", voice="echo", input="x" * 30, response_format="pcm", speed=2.0
    )
    assert pcm.response.headers["content-type"] == "audio/pcm"
    assert len(pcm.content) == 24_000 * 2  # 1 s (2 s at double speed), 24 kHz 16-bit


async def test_speech_instructions_only_for_gpt_4o_mini_tts(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    for model in ("tts-1", "tts-1-hd"):
        with pytest.raises(openai.BadRequestError) as err:
            await client.audio.speech.create(
                model=model, voice="alloy", input="hi", instructions="Speak warmly."
            )
        assert err.value.body == {
            "message": "Unsupported parameter: 'instructions' is not supported with this model.",
            "type": "invalid_request_error",
            "param": "instructions",
            "code": "unsupported_parameter",
        }
    ok = await client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="alloy", input="hi", instructions="Speak warmly."
    )
    assert audio_length(ok.content)
    assert [(c.model, c.instructions, c.status) for c in openai_emulator.speeches] == [
        ("tts-1", "Speak warmly.", 400),
        ("tts-1-hd", "Speak warmly.", 400),
        ("gpt-4o-mini-tts", "Speak warmly.", 200),
    ]


async def test_speech_input_limits(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    # The definition's maxLength (spec.py), worded as the API words it.
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.speech.create(model="tts-1", voice="alloy", input="x" * 4097)
    assert err.value.body == {
        "message": "Invalid 'input': string too long. Expected a string with maximum length "
        "4096, but got a string with length 4097 instead.",
        "type": "invalid_request_error",
        "param": "input",
        "code": "string_above_max_length",
    }
    assert openai_emulator.speeches == []  # refused before the handler
    assert len(openai_emulator.spec_violations) == 1
    at_most = await client.audio.speech.create(model="tts-1", voice="alloy", input="x" * 4096)
    assert audio_length(at_most.content) == pytest.approx(4096 / 15, abs=0.05)
    with pytest.raises(openai.BadRequestError) as empty:
        await client.audio.speech.create(model="tts-1", voice="alloy", input="")
    assert empty.value.code == "string_below_min_length" and empty.value.param == "input"


async def test_speech_models_and_voices(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await client.audio.speech.create(model="gpt-4o", voice="alloy", input="hi")
    assert err.value.param == "model" and err.value.code == "invalid_value"
    with pytest.raises(openai.BadRequestError) as voice:
        await client.audio.speech.create(model="tts-1", voice="robot", input="hi")
    assert voice.value.param == "voice" and voice.value.code == "invalid_value"
    custom = await client.audio.speech.create(
        model="gpt-4o-mini-tts", voice={"id": "voice_123"}, input="hi"
    )
    assert audio_length(custom.content)


async def test_speech_failures_and_sse(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    openai_emulator.fail_speeches(1, status=503)
    with pytest.raises(openai.InternalServerError) as err:
        await client.audio.speech.create(model="tts-1", voice="alloy", input="hi")
    assert err.value.status_code == 503
    with pytest.raises(openai.BadRequestError) as sse:
        await client.audio.speech.create(
            model="tts-1", voice="alloy", input="hi", stream_format="sse"
        )
    assert sse.value.param == "stream_format"
    streamed = await client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="alloy", input="hello there", stream_format="sse"
    )
    events = [
        json.loads(line.removeprefix("data: "))
        for line in streamed.text.splitlines()
        if line.startswith("data: ")
    ]
    assert [e["type"] for e in events] == ["speech.audio.delta", "speech.audio.done"]
    assert events[-1]["usage"]["input_tokens"] == 2
    assert [c.status for c in openai_emulator.speeches] == [503, 400, 200]


# ------------------------------------------------------------------ containers


async def test_make_files_builds_from_an_uploaded_file(
    openai_emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    container = await client.containers.create(name="deck")
    photo = b"\x89PNG\r\n\x1a\n" + b"pixels"
    added = await client.containers.files.create(container.id, file=("photo.png", photo))
    assert added.path == "/mnt/data/photo.png" and added.source == "user"
    notes = await client.files.create(file=("notes.txt", b"speaker notes"), purpose="user_data")
    by_id = await client.containers.files.create(container.id, file_id=notes.id)
    assert by_id.path == "/mnt/data/notes.txt" and by_id.source == "user"
    assert [(u.filename, u.path, u.size, u.by) for u in openai_emulator.container_uploads] == [
        ("photo.png", "/mnt/data/photo.png", len(photo), "upload"),
        ("notes.txt", "/mnt/data/notes.txt", 13, "file_id"),
    ]
    assert openai_emulator.container_uploads[0].container_id == container.id
    assert openai_emulator.container_uploads[1].file_id == by_id.id

    seen: list[dict[str, bytes]] = []

    def build(files: dict[str, bytes]) -> list[tuple[str, bytes]]:
        seen.append(dict(files))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as deck:
            deck.writestr("ppt/media/image1.png", files["/mnt/data/photo.png"])
            deck.writestr("notes.txt", files["/mnt/data/notes.txt"])
        return [("/mnt/data/deck.pptx", out.getvalue())]

    openai_emulator.script(
        Reply(
            text="Your deck: [deck.pptx](sandbox:/mnt/data/deck.pptx)",
            code="build_deck()",
            files=[("outline.md", b"# outline")],
            make_files=build,
        )
    )
    resp = await client.responses.create(
        model="gpt-4.1",
        input="make slides",
        tools=[{"type": "code_interpreter", "container": container.id}],
    )
    assert sorted(seen[0]) == [
        "/mnt/data/notes.txt",
        "/mnt/data/outline.md",
        "/mnt/data/photo.png",
    ]
    message: Any = resp.output[1]
    annotations = message.content[0].annotations
    # Cited where the text names them; outline.md, not named, at the end.
    assert [a.filename for a in annotations] == ["deck.pptx", "outline.md"]
    deck = annotations[0]
    assert resp.output_text[deck.start_index : deck.end_index] == "sandbox:/mnt/data/deck.pptx"
    data = await client.containers.files.content.retrieve(deck.file_id, container_id=container.id)
    with zipfile.ZipFile(io.BytesIO(data.content)) as z:
        assert z.read("ppt/media/image1.png") == photo
    listed = {f.path: f.source async for f in client.containers.files.list(container.id)}
    assert listed["/mnt/data/deck.pptx"] == "assistant"
    assert openai_emulator.errors == []
