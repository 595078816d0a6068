"""Voice in, spoken replies out, and generated images the code interpreter can use."""

from __future__ import annotations

import asyncio
import base64
import io
import struct
import zlib
from typing import Any

import pptx
from pptx.util import Inches

from bot.models import Attachment, AttachmentError
from tests.core.test_tools import with_files
from tests.emulators.openai import Reply
from tests.emulators.openai.audio import audio_length, mp3_bytes, ogg_opus_bytes, wav_bytes
from tests.helpers import inbound, key, model_input


def attachment(
    name: str, data: bytes, mime: str, *, duration: float | None = None, voice: bool = False
) -> Attachment:
    async def download(max_bytes: int) -> bytes:
        if len(data) > max_bytes:
            raise AttachmentError("it is over the size limit")
        return data

    return Attachment(
        name=name,
        mime_type=mime,
        size=len(data),
        download=download,
        duration=duration,
        voice=voice,
    )


def voice_message(seconds: float = 3.0, *, declared: float | None = None) -> Attachment:
    return attachment(
        "voice-message.ogg",
        ogg_opus_bytes(seconds),
        "audio/ogg",
        duration=declared if declared is not None else seconds,
        voice=True,
    )


def png(red: int, green: int, blue: int) -> bytes:
    """A real 2x2 PNG of one colour."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\x00" + bytes([red, green, blue]) * 2
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * 2))
        + chunk(b"IEND", b"")
    )


def user_texts(body: dict[str, Any]) -> list[str]:
    texts = []
    for item in model_input(body):
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p["text"] for p in content if p.get("type") == "input_text")
    return texts


async def usage_row(core: Any) -> dict[str, Any]:
    (row,) = await core.store.usage_rows()
    return row


# --- audio in -------------------------------------------------------------------------


async def test_a_voice_message_reaches_the_model_as_its_transcript(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    openai_emulator.transcripts["voice-message.ogg"] = "What is on my calendar tomorrow?"
    await core.service.submit(with_files("", voice_message(3.0)))
    await core.service.drain()
    (call,) = openai_emulator.transcriptions
    assert (call.model, call.filename) == ("gpt-4o-mini-transcribe", "voice-message.ogg")
    body = openai_emulator.responses_requests()[0].body
    assert any(
        "(Voice message voice-message.ogg, transcribed) What is on my calendar tomorrow?" in t
        for t in user_texts(body)
    )
    reply = core.replier.replies[0]
    # The user sees what was heard, before the answer.
    assert reply.notices == ["Heard in voice-message.ogg: “What is on my calendar tomorrow?”"]
    assert "What is on my calendar tomorrow?" in reply.text  # the echo model answers it
    assert reply.error is None
    assert (await usage_row(core))["audio_seconds"] == 3.0
    assert openai_emulator.speeches == []  # spoken replies are off by default


async def test_an_audio_file_length_is_read_from_its_headers(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    clip = attachment("standup.wav", wav_bytes(4.0), "audio/wav")  # no declared length
    await core.service.submit(with_files("summarise this", clip))
    await core.service.drain()
    assert [c.filename for c in openai_emulator.transcriptions] == ["standup.wav"]
    body = openai_emulator.responses_requests()[0].body
    assert any(
        "(Audio file standup.wav, transcribed) transcript of standup.wav" in t
        for t in user_texts(body)
    )
    assert (await usage_row(core))["audio_seconds"] == 4.0


async def test_a_clip_over_the_length_cap_gets_a_note_and_the_text_is_answered(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_AUDIO_MAX_SECONDS="60")
    await core.service.submit(with_files("and also hello", voice_message(2.0, declared=754.0)))
    await core.service.drain()
    assert openai_emulator.transcriptions == []  # never sent
    reply = core.replier.replies[0]
    assert reply.notices == ["voice-message.ogg is too long to transcribe (12:34; limit 1:00)."]
    assert "and also hello" in reply.text
    assert reply.error is None


async def test_audio_over_the_endpoints_size_limit_is_not_sent(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(
        THREADBRIDGE_MAX_FILE_BYTES=str(40 * 1024 * 1024),
        THREADBRIDGE_AUDIO_MAX_SECONDS="3600",
    )
    big = attachment("meeting.wav", wav_bytes(830.0), "audio/wav")  # 25.3 MiB
    await core.service.submit(with_files("notes please", big))
    await core.service.drain()
    assert openai_emulator.transcriptions == []
    reply = core.replier.replies[0]
    assert reply.notices == ["meeting.wav is too large to transcribe (25.3 MB; limit 25.0 MB)."]
    assert "notes please" in reply.text and reply.error is None


async def test_undecodable_audio_gets_a_note_once_and_the_thread_stays_usable(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    broken = attachment("memo.mp3", b"this is not audio at all" * 10, "audio/mpeg")
    await core.service.submit(with_files("here is my memo", broken))
    await core.service.drain()
    assert len(openai_emulator.transcriptions) == 1  # a 400 is not retried
    reply = core.replier.replies[0]
    assert reply.notices == ["I couldn't make out memo.mp3: the audio could not be decoded."]
    assert "here is my memo" in reply.text and reply.error is None
    await core.service.submit(inbound("still there?"))
    await core.service.drain()
    assert "still there?" in core.replier.replies[1].text


async def test_a_failing_transcription_service_is_retried_once_then_noted(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core()
    openai_emulator.fail_transcriptions(10, status=500)
    await core.service.submit(with_files("listen", voice_message()))
    await core.service.drain()
    assert len(openai_emulator.transcriptions) == 2
    reply = core.replier.replies[0]
    assert reply.notices == [
        "I couldn't transcribe voice-message.ogg just now (the service is busy); please try again."
    ]
    assert "listen" in reply.text and reply.error is None


async def test_audio_is_not_listened_to_without_a_transcription_model(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_TRANSCRIPTION_MODEL="")
    await core.service.submit(with_files("hi", voice_message()))
    await core.service.drain()
    assert openai_emulator.transcriptions == []
    assert core.replier.replies[0].notices == [
        "I can't listen to audio here, so I left out voice-message.ogg."
    ]


async def test_stateless_server_without_transcription_gets_a_note(
    make_core: Any, openai_emulator: Any
) -> None:
    openai_emulator.compat = "llama.cpp"  # answers /v1/audio/transcriptions with a 500
    core = await make_core(THREADBRIDGE_CONVERSATION_MODE="stateless")
    await core.service.submit(with_files("what did I say?", voice_message()))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.notices == [
        "This model server can't transcribe audio, so I left out voice-message.ogg."
    ]
    assert reply.error is None and "what did I say?" in reply.text


# --- spoken replies ---------------------------------------------------------------------


async def test_spoken_reply_is_attached_when_enabled(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core(THREADBRIDGE_SPOKEN_REPLIES="true", THREADBRIDGE_SPEECH_VOICE="coral")
    openai_emulator.script(Reply(text="Tomorrow you have **two** meetings."))
    await core.service.submit(with_files("", voice_message()))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.text == "Tomorrow you have **two** meetings."
    (spoken,) = reply.files
    assert (spoken.name, spoken.mime_type) == ("reply.mp3", "audio/mpeg")
    assert (audio_length(spoken.data) or 0) > 0  # real audio
    (speech,) = openai_emulator.speeches
    assert (speech.model, speech.voice, speech.input) == (
        "gpt-4o-mini-tts",
        "coral",
        "Tomorrow you have two meetings.",  # read aloud without the markup
    )
    row = await usage_row(core)
    assert row["speech_characters"] == len("Tomorrow you have two meetings.")


async def test_no_spoken_reply_to_a_typed_question(make_core: Any, openai_emulator: Any) -> None:
    core = await make_core(THREADBRIDGE_SPOKEN_REPLIES="true")
    await core.service.submit(inbound("typed"))
    await core.service.drain()
    assert core.replier.replies[0].files == []
    assert openai_emulator.speeches == []


# --- images for the code ------------------------------------------------------------------


def build_deck(files: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """What the model's code does in the sandbox: one slide per generated image."""
    deck = pptx.Presentation()
    for path in sorted(p for p in files if "/image-" in p):
        slide = deck.slides.add_slide(deck.slide_layouts[6])
        slide.shapes.add_picture(io.BytesIO(files[path]), Inches(1), Inches(1), width=Inches(4))
    out = io.BytesIO()
    deck.save(out)
    return [("deck.pptx", out.getvalue())]


async def test_generated_images_reach_the_code_and_make_a_deck_in_one_turn(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(
        THREADBRIDGE_CODE_INTERPRETER="true", THREADBRIDGE_IMAGE_GENERATION="true"
    )
    pictures = [png(255, 0, 0), png(0, 255, 0), png(0, 0, 255)]
    openai_emulator.script(
        Reply(
            text="Generating the pictures.",
            images_b64=[base64.b64encode(p).decode() for p in pictures],
        ),
        Reply(
            text="Here is your deck: sandbox:/mnt/data/deck.pptx",
            code="build_deck()",
            make_files=build_deck,
        ),
    )
    await core.service.submit(inbound("make me a 3-slide deck with a generated picture on each"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.error is None
    names = [f.name for f in reply.files]
    assert names == ["image-1.png", "image-2.png", "image-3.png", "deck.pptx"]
    deck = pptx.Presentation(io.BytesIO(reply.files[3].data))
    blobs = [shape.image.blob for slide in deck.slides for shape in slide.shapes]
    assert blobs == pictures  # each slide carries its generated image
    # The images went into the thread's container, and the model was told where.
    thread = await core.store.find_thread(key())
    assert thread is not None
    uploads = [
        u for u in openai_emulator.container_uploads if u.container_id == thread.container_id
    ]
    assert len(uploads) == 3
    first, second = (r.body for r in openai_emulator.responses_requests())
    assert "copied into your code interpreter sandbox" in first["instructions"]
    (note,) = [i for i in model_input(second) if i.get("role") == "developer"]
    for upload in uploads:
        assert upload.path in note["content"]
    assert (await usage_row(core))["images"] == 3


async def test_images_are_not_copied_without_the_code_interpreter(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_IMAGE_GENERATION="true")
    openai_emulator.script(Reply(text="A dot", image_b64=base64.b64encode(png(1, 2, 3)).decode()))
    await core.service.submit(inbound("draw"))
    await core.service.drain()
    assert len(openai_emulator.responses_requests()) == 1  # no continuation
    assert openai_emulator.container_uploads == []


async def test_a_shared_image_is_also_in_the_container(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_CODE_INTERPRETER="true")
    picture = attachment("photo.png", png(9, 9, 9), "image/png")
    await core.service.submit(with_files("crop this", picture))
    await core.service.drain()
    (upload,) = openai_emulator.container_uploads
    assert upload.filename == "photo.png"
    body = openai_emulator.responses_requests()[0].body
    parts = model_input(body)[0]["content"]
    assert [p["type"] for p in parts] == ["input_text", "input_image", "input_text"]
    assert upload.path in parts[2]["text"]


# --- what the review found ----------------------------------------------------------------


async def test_a_refused_transcription_model_is_named_and_asked_again_next_time(
    make_core: Any, openai_emulator: Any
) -> None:
    openai_emulator.unknown_models.add("gpt-4o-mini-transcribe")
    core = await make_core()
    for text in ("one", "two"):
        await core.service.submit(with_files(text, voice_message()))
        await core.service.drain()
    assert len(openai_emulator.transcriptions) == 2  # not taken for "no endpoint"
    for reply in core.replier.replies:
        assert reply.notices == [
            "I couldn't transcribe voice-message.ogg: the transcription model is misconfigured."
        ]


async def test_an_audio_file_gets_no_spoken_reply_only_a_voice_message_does(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_SPOKEN_REPLIES="true")
    podcast = attachment("podcast.mp3", mp3_bytes(2.0), "audio/mpeg")
    await core.service.submit(with_files("summarise this", podcast))
    await core.service.drain()
    assert [c.filename for c in openai_emulator.transcriptions] == ["podcast.mp3"]
    assert core.replier.replies[0].files == [] and openai_emulator.speeches == []


async def test_a_failed_spoken_reply_is_a_note_and_the_text_stands(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(THREADBRIDGE_SPOKEN_REPLIES="true")
    openai_emulator.fail_speeches(5, status=500)
    openai_emulator.script(Reply(text="Here you are."))
    await core.service.submit(with_files("", voice_message()))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.text == "Here you are." and reply.files == [] and reply.error is None
    assert reply.notices[-1] == "I couldn't make the spoken reply this time."
    assert len(openai_emulator.speeches) == 2  # one retry, not more


def test_speech_leaves_out_code_and_markup_and_fits_the_endpoint() -> None:
    from bot.engine.audio import SPEECH_MAX_CHARS, speakable

    said = speakable("# Plan\n> note\nRun `make` **now**:\n```sh\nmake all\n```\nsee file_name.")
    assert said == "Plan note Run make now: (code left out) see file_name."
    long = speakable("A sentence that goes on. " * 400)
    assert len(long) <= SPEECH_MAX_CHARS and long.endswith("goes on.")


async def test_images_are_copied_into_a_new_container_when_the_old_one_expired(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(
        THREADBRIDGE_CODE_INTERPRETER="true", THREADBRIDGE_IMAGE_GENERATION="true"
    )
    picture = png(200, 100, 0)

    def model(req: Any) -> Reply:
        if req.call_index == 0:
            # The container expires while the image is being made.
            openai_emulator.expire_container(req.tool("code_interpreter")["container"])
            return Reply(text="A picture.", image_b64=base64.b64encode(picture).decode())
        return Reply(text="It is in the sandbox.")

    openai_emulator.model = model
    await core.service.submit(inbound("draw, then keep it for code"))
    await core.service.drain()
    reply = core.replier.replies[0]
    assert reply.error is None
    assert reply.text == "A picture.\n\nIt is in the sandbox."
    first, second = (r.body for r in openai_emulator.responses_requests())
    old = first["tools"][[t["type"] for t in first["tools"]].index("code_interpreter")]
    new = second["tools"][[t["type"] for t in second["tools"]].index("code_interpreter")]
    assert old["container"] != new["container"]
    files = openai_emulator.containers[new["container"]].files.values()
    (copied,) = [f for f in files if f.data == picture]
    (note,) = [i for i in model_input(second) if i.get("role") == "developer"]
    assert copied.path in note["content"]


async def test_images_of_the_last_allowed_round_are_not_copied(
    make_core: Any, openai_emulator: Any
) -> None:
    core = await make_core(
        THREADBRIDGE_CODE_INTERPRETER="true",
        THREADBRIDGE_IMAGE_GENERATION="true",
        THREADBRIDGE_TOOL_ROUNDS="1",
    )
    image = base64.b64encode(png(5, 5, 5)).decode()
    openai_emulator.script(Reply(text="one", image_b64=image), Reply(text="two", image_b64=image))
    await core.service.submit(inbound("draw twice"))
    await core.service.drain()
    assert len(openai_emulator.responses_requests()) == 2
    assert len(openai_emulator.container_uploads) == 1  # no round is left for the second
    assert [f.name for f in core.replier.replies[0].files] == ["image-1.png", "image-2.png"]


async def test_usage_reports_media_and_its_estimated_cost(
    make_core: Any, openai_emulator: Any, tmp_path: Any
) -> None:
    from tests.core.test_config import run_cli

    core = await make_core(
        THREADBRIDGE_SPOKEN_REPLIES="true",
        THREADBRIDGE_CODE_INTERPRETER="true",
        THREADBRIDGE_IMAGE_GENERATION="true",
    )
    openai_emulator.script(
        Reply(text="Drawn.", image_b64=base64.b64encode(png(1, 1, 1)).decode(), usage=(0, 0)),
        Reply(text="Ready.", usage=(0, 0)),
    )
    await core.service.submit(with_files("", voice_message(90.0)))
    await core.service.drain()
    (tmp_path / "assistants.toml").write_text(
        '[[assistant]]\nname = "default"\nmodel = "gpt-5-mini"\ninstructions = "x"\n'
        "default = true\n[prices]\n"
        '"gpt-4o-mini-transcribe" = { minute = 0.01 }\n"gpt-image-1" = { image = 0.5 }\n'
        '"gpt-4o-mini-tts" = { million_characters = 1000000 }\n'
        f'"{core.settings.openai_model}" = {{ input = 0, output = 0 }}\n'
    )
    code, out, err = await run_cli(
        "usage",
        env={
            "OPENAI_API_KEY": "sk-x",
            "DATABASE_URL": core.settings.database_url,
            "THREADBRIDGE_ASSISTANTS_FILE": str(tmp_path / "assistants.toml"),
        },
        cwd=tmp_path,
    )
    assert code == 0, err
    (line,) = out.splitlines()[1:]
    *_, minutes, spoken, images, usd = line.split()
    characters = len("Drawn.\n\nReady.".replace("\n\n", " "))
    assert (minutes, spoken, images) == ("1.5", str(characters), "1")
    # 1.5 min x 0.01 + characters x 1 USD + 1 image x 0.5; the tokens were zero.
    assert usd == f"{0.015 + characters + 0.5:.4f}"


async def test_a_turn_resumed_after_a_crash_keeps_what_was_heard(
    make_core: Any, openai_emulator: Any
) -> None:
    from tests.core.test_resume import LEASE, StallingReplier, cut_off
    from tests.helpers import RecordingReplier

    replier = RecordingReplier()
    settings = {"THREADBRIDGE_LEASE_SECONDS": LEASE, "THREADBRIDGE_SPOKEN_REPLIES": "true"}
    first = await make_core(**settings)
    first.service.register("test", StallingReplier(replier))
    openai_emulator.transcripts["voice-message.ogg"] = "Book the usual room for Monday."
    openai_emulator.script(
        Reply(text="Booking the room for you now", chunk_chars=2, tokens_per_second=10)
    )
    await first.service.submit(with_files("", voice_message(3.0)))
    await cut_off(first)  # died mid-answer; the voice file is gone with the process

    second = await make_core(**settings)
    second.service.register("test", replier)
    openai_emulator.script(Reply(text="The room is booked."))
    await second.service.start()
    await asyncio.sleep(0.2)
    await second.service.drain()

    assert len(openai_emulator.transcriptions) == 1  # heard once
    asked_again = openai_emulator.responses_requests()[-1].body
    assert any(
        "(Voice message voice-message.ogg, transcribed) Book the usual room for Monday." in t
        for t in user_texts(asked_again)
    )
    reply = replier.replies[0]
    assert reply.finished and reply.text == "The room is booked."
    assert not any("could not be fetched" in n for n in reply.notices)
    assert [f.name for f in reply.files] == ["reply.mp3"]  # still answered aloud
    (row,) = await second.store.usage_rows()
    assert row["audio_seconds"] == 3.0
