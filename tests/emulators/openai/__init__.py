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

Fixtures: ``tests.emulators.openai.plugin.openai_emulator`` and ``llama_like_emulator``.
"""

from .mcp import McpCallRun
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
from .spec import SPEC_EXCEPTIONS, OpenAPISpec, SpecException, SpecViolation, load_spec

__all__ = [
    "CONVERSATION_LOCKED_MESSAGE",
    "SPEC_EXCEPTIONS",
    "ApiError",
    "ContainerFile",
    "ContainerState",
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
    "StoredFile",
    "VectorStoreFileState",
    "VectorStoreState",
    "default_model",
    "load_spec",
]
