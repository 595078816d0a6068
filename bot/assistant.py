"""The assistant: model, instructions and tools, defined in our config.

The Assistants API kept this object on OpenAI's side; with Responses it is sent with
every request, so it is built once at start and shared by every turn. Nothing is
created remotely, so there is nothing to duplicate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.config import CoreSettings
from bot.tools import ToolRegistry

KNOWLEDGE_STORE_KEY = "knowledge.vector_store_id"
IMAGES_REACH_CODE = (
    "Images you generate are copied into your code interpreter sandbox (/mnt/data) once "
    "your response ends; you are then told their paths and can use them in code in the "
    "same turn, for example to put them on slides."
)


class AssistantConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class McpServer:
    label: str
    url: str
    allowed_tools: tuple[str, ...] = ()
    # OpenAI's values: "always", "never", or {"always": {"tool_names": [...]}, "never":
    # {...}}. None: the allowed tools run without asking.
    require_approval: str | dict[str, Any] | None = None

    def tool(self) -> dict[str, Any]:
        # Only the listed tools are offered. Calls that need approval are asked in the
        # thread (Approve / Deny buttons for the asker).
        approval: str | dict[str, Any] = self.require_approval or {
            "never": {"tool_names": list(self.allowed_tools)}
        }
        return {
            "type": "mcp",
            "server_label": self.label,
            "server_url": self.url,
            "allowed_tools": list(self.allowed_tools),
            "require_approval": approval,
        }


def _require_approval(label: str, value: Any) -> str | dict[str, Any] | None:
    """`require_approval` of a server entry, checked as OpenAI's mcp tool takes it."""
    if value is None or value in ("always", "never"):
        return value  # type: ignore[no-any-return]
    problem = (
        f'THREADBRIDGE_MCP_SERVERS: server {label!r}: require_approval is "always", '
        '"never" or {"always": {"tool_names": [...]}, "never": {"tool_names": [...]}}'
    )
    if not isinstance(value, dict) or not value or set(value) - {"always", "never"}:
        raise AssistantConfigError(problem)
    for part in value.values():
        names = part.get("tool_names") if isinstance(part, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise AssistantConfigError(problem)
    return value


def parse_mcp_servers(raw: str | None) -> tuple[McpServer, ...]:
    if not raw:
        return ()
    try:
        data = json.loads(raw)
        servers = tuple(
            McpServer(
                label=str(entry["label"]),
                url=str(entry["url"]),
                allowed_tools=tuple(str(name) for name in entry.get("allowed_tools", [])),
                require_approval=_require_approval(
                    str(entry["label"]), entry.get("require_approval")
                ),
            )
            for entry in data
        )
    except AssistantConfigError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise AssistantConfigError(
            "THREADBRIDGE_MCP_SERVERS: expected a JSON list like "
            '[{"label": "docs", "url": "https://...", "allowed_tools": ["search"]}]'
            f" ({exc.__class__.__name__})"
        ) from None
    for server in servers:
        if not server.allowed_tools:
            raise AssistantConfigError(
                f"THREADBRIDGE_MCP_SERVERS: server {server.label!r} needs an allowed_tools list"
            )
        if not server.url.startswith("https://"):
            raise AssistantConfigError(
                f"THREADBRIDGE_MCP_SERVERS: server {server.label!r} must use an https:// URL"
            )
    return servers


@dataclass(frozen=True, slots=True)
class Assistant:
    """What the model is told on every turn."""

    model: str
    instructions: str
    name: str = "default"
    functions: ToolRegistry = field(default_factory=ToolRegistry)
    code_interpreter: bool = False
    image_generation: bool = False
    web_search: bool = False
    file_search: bool = True
    mcp_servers: tuple[McpServer, ...] = ()
    # Where it answers ("slack:C123", "discord:123", "discord-guild:456", "dm",
    # "console"); the default answers wherever no other is bound.
    channels: tuple[str, ...] = ()
    default: bool = True
    reasoning_effort: str | None = None
    daily_tokens: int = 0  # this assistant's tokens per UTC day; 0: no limit

    @property
    def request_instructions(self) -> str:
        """The instructions as each request carries them: with image generation and the
        code interpreter both on, the model learns that its images reach its sandbox."""
        if self.image_generation and self.code_interpreter:
            return f"{self.instructions}\n\n{IMAGES_REACH_CODE}"
        return self.instructions

    @property
    def knowledge_key(self) -> str:
        """Where its knowledge base's vector store id is kept (the default keeps the key
        of the single-assistant setup)."""
        return (
            KNOWLEDGE_STORE_KEY if self.name == "default" else f"{KNOWLEDGE_STORE_KEY}:{self.name}"
        )

    @classmethod
    def from_settings(
        cls, settings: CoreSettings, functions: ToolRegistry | None = None
    ) -> Assistant:
        return cls(
            model=settings.openai_model,
            instructions=settings.instructions,
            functions=functions or ToolRegistry(),
            code_interpreter=settings.code_interpreter,
            image_generation=settings.image_generation,
            web_search=settings.web_search,
            file_search=settings.file_search,
            mcp_servers=parse_mcp_servers(settings.mcp_servers),
        )

    def tools(
        self, *, container_id: str | None = None, vector_store_ids: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """The `tools` parameter for one request of a turn."""
        specs: list[dict[str, Any]] = list(self.functions.definitions())
        if self.code_interpreter and container_id:
            specs.append({"type": "code_interpreter", "container": container_id})
        if self.file_search and vector_store_ids:
            specs.append({"type": "file_search", "vector_store_ids": list(vector_store_ids)})
        if self.image_generation:
            specs.append({"type": "image_generation"})
        if self.web_search:
            specs.append({"type": "web_search"})
        specs.extend(server.tool() for server in self.mcp_servers)
        return specs

    def describe(self) -> list[str]:
        """Human names of the enabled tools (for /help)."""
        names = []
        if self.functions:
            names.append("functions: " + ", ".join(self.functions.names()))
        if self.code_interpreter:
            names.append("code interpreter (send data files; get charts, CSV, slides back)")
        if self.file_search:
            names.append("file search over the knowledge base and files shared in the thread")
        if self.image_generation:
            names.append("image generation")
        if self.web_search:
            names.append("web search")
        names.extend(f"MCP server {s.label}" for s in self.mcp_servers)
        return names
