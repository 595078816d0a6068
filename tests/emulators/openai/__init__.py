"""Loopback OpenAI API emulator (Responses + Conversations, files, containers, vector stores).

    emu = OpenAIEmulator(); await emu.start()          # or the `openai_emulator` fixture
    client = openai.AsyncOpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0)
    emu.script(Reply(text="hi", ttft=0.2), Reply(status=429))   # FIFO, one per responses.create
    emu.model = lambda req: Reply(text=req.last_user_text())    # when the script is empty
    ... emu.requests / emu.responses_requests() / emu.conversations[cid].items ...
    await emu.stop()

Requests are held to OpenAI's official OpenAPI definition (tests/spec/openai/, spec.py):
one it rejects gets 400 (``openai.BadRequestError``, ``param`` = the JSON path) and is kept
in ``emu.spec_violations`` and on its ``Recorded.violations``. ``emu.spec_validation``:
"reject" (default), "record" (answer anyway), "off".

``OpenAIEmulator(compat="llama.cpp")`` (or ``emu.compat = "llama.cpp"``) answers like
llama.cpp's llama-server instead (llama.py): no Conversations/files/containers/vector
stores, its input rules, its error bodies. Validation is off there unless asked for.

Remote MCP (mcp.py): ``Reply(mcp_calls=[("docs", "search", {"q": "x"})], mcp_output=...)``
calls the request's ``{"type": "mcp", "server_label": "docs", ...}`` tool; by its
``require_approval`` (default "always") the output holds an ``mcp_approval_request`` or an
``mcp_call``; an ``mcp_approval_response`` input answers. ``emu.mcp_approval_requests``,
``emu.mcp_approvals`` (id -> approve), ``emu.mcp_calls_run`` (``McpCallRun``),
``emu.mcp_calls_ignored``; ``emu.mcp_server_tools`` sets what a server lists.

Audio (checked as the real API checks it): ``POST /audio/transcriptions`` takes the file
names of ``TRANSCRIPTION_FORMATS`` up to 25 MB, decodes them (mutagen; audio.py) and
answers ``emu.transcripts[NAME]``, else ``emu.transcript``, else "transcript of NAME";
``POST /audio/speech`` answers real silent audio as long as the input. Every call is in
``emu.transcriptions`` (``TranscriptionCall``) / ``emu.speeches`` (``SpeechCall``);
``emu.fail_transcriptions(n, status)`` / ``emu.fail_speeches(n, status)`` make the next
``n`` valid calls fail. Test files: ``audio.wav_bytes``, ``ogg_opus_bytes``, ``mp3_bytes``,
``flac_bytes``, ``webm_bytes`` (seconds -> bytes), ``audio.audio_length(data)``.

Code interpreter: ``Reply(code=..., files=[(NAME, bytes)], make_files=fn)``: ``fn`` gets
the container's files ({"/mnt/data/NAME": bytes}) and returns more to create; all are
cited. Files added through ``POST /containers/{id}/files`` are in ``emu.container_uploads``.

Fixtures: ``tests.emulators.openai.plugin.openai_emulator`` and ``llama_like_emulator``.
"""

from .mcp import McpCallRun
from .model import ModelFn, ModelRequest, Reply, default_model
from .server import (
    CONVERSATION_LOCKED_MESSAGE,
    MAX_AUDIO_BYTES,
    TRANSCRIPTION_FORMATS,
    ApiError,
    ContainerFile,
    ContainerState,
    ContainerUpload,
    ConvState,
    OpenAIEmulator,
    Recorded,
    SpeechCall,
    StoredFile,
    TranscriptionCall,
    VectorStoreFileState,
    VectorStoreState,
)
from .spec import SPEC_EXCEPTIONS, OpenAPISpec, SpecException, SpecViolation, load_spec

__all__ = [
    "CONVERSATION_LOCKED_MESSAGE",
    "MAX_AUDIO_BYTES",
    "SPEC_EXCEPTIONS",
    "TRANSCRIPTION_FORMATS",
    "ApiError",
    "ContainerFile",
    "ContainerState",
    "ContainerUpload",
    "ConvState",
    "McpCallRun",
    "ModelFn",
    "ModelRequest",
    "OpenAIEmulator",
    "OpenAPISpec",
    "Recorded",
    "Reply",
    "SpecException",
    "SpecViolation",
    "SpeechCall",
    "StoredFile",
    "TranscriptionCall",
    "VectorStoreFileState",
    "VectorStoreState",
    "default_model",
    "load_spec",
]
