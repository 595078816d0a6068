"""Loopback OpenAI API emulator (Responses + Conversations, files, containers, vector stores).

    emu = OpenAIEmulator(); await emu.start()          # or the `openai_emulator` fixture
    client = openai.AsyncOpenAI(base_url=emu.base_url, api_key="sk-test", max_retries=0)
    emu.script(Reply(text="hi", ttft=0.2), Reply(status=429))   # FIFO, one per responses.create
    emu.model = lambda req: Reply(text=req.last_user_text())    # when the script is empty
    ... emu.requests / emu.responses_requests() / emu.conversations[cid].items ...
    await emu.stop()

Fixture: ``tests.emulators.openai.plugin.openai_emulator``.
"""

from .model import ModelFn, ModelRequest, Reply, default_model
from .server import (
    CONVERSATION_LOCKED_MESSAGE,
    ApiError,
    ContainerFile,
    ContainerState,
    ConvState,
    OpenAIEmulator,
    Recorded,
    StoredFile,
    VectorStoreFileState,
    VectorStoreState,
)

__all__ = [
    "CONVERSATION_LOCKED_MESSAGE",
    "ApiError",
    "ContainerFile",
    "ContainerState",
    "ConvState",
    "ModelFn",
    "ModelRequest",
    "OpenAIEmulator",
    "Recorded",
    "Reply",
    "StoredFile",
    "VectorStoreFileState",
    "VectorStoreState",
    "default_model",
]
