"""Several assistants in one deployment, and which one answers where.

`THREADBRIDGE_ASSISTANTS_FILE` (TOML) lists them, one `[[assistant]]` table each:

```toml
[[assistant]]
name = "support"
model = "gpt-5-mini"
instructions_file = "support.md"   # or instructions = "..."
channels = ["slack:C0123", "discord-guild:4567", "dm"]
default = true
file_search = true

[[assistant]]
name = "coder"
model = "gpt-5"
instructions = "You review code."
channels = ["slack:C0456", "discord:8910"]
code_interpreter = true
reasoning_effort = "high"
```

Without the file, today's settings define one assistant, named "default". A thread gets
the assistant bound to where it starts (the most specific binding wins: a channel, then
a Discord guild, then "dm" / "console"; where several list the same place, the first in
the file; else the default) or the one its first message asks for among those allowed
there (every assistant listing the place, and the default), and keeps it (stored with
the thread).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic

from bot.assistant import Assistant, AssistantConfigError, McpServer, parse_mcp_servers
from bot.config import CoreSettings
from bot.prices import DEFAULT_MEDIA_PRICES, DEFAULT_PRICES, MEDIA_UNITS, Price
from bot.tools import ToolRegistry

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
PLACE = re.compile(r"(slack:[A-Z0-9]+|discord:[0-9]+|discord-guild:[0-9]+|dm|console)")

ToolsFor = Callable[[str | None], ToolRegistry]


class _Entry(pydantic.BaseModel):
    """One `[[assistant]]` table, as written."""

    model_config = pydantic.ConfigDict(extra="forbid")

    name: str
    model: str = pydantic.Field(min_length=1)
    instructions: str | None = None
    instructions_file: str | None = None
    channels: list[str] = []
    default: bool = False
    tools: str | None = None
    code_interpreter: bool = False
    image_generation: bool = False
    web_search: bool = False
    file_search: bool = True
    mcp_servers: list[dict[str, Any]] = []
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    daily_tokens: int = pydantic.Field(0, ge=0)

    @pydantic.field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.fullmatch(value):
            raise ValueError("use 1-32 lowercase letters, digits, - or _")
        return value

    @pydantic.field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not PLACE.fullmatch(v)]
        if bad:
            raise ValueError(
                f"not a place: {', '.join(map(repr, bad))} (use slack:CHANNEL_ID, "
                "discord:CHANNEL_ID, discord-guild:GUILD_ID, dm or console)"
            )
        return value


@dataclass(frozen=True)
class Assistants:
    """The deployment's assistants; `default` answers wherever no other is bound.
    `prices`: USD per 1M input / output tokens by model; `media_prices`: USD per minute
    heard, 1M characters spoken or image, by model (bot/prices.py)."""

    all: tuple[Assistant, ...]
    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    media_prices: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MEDIA_PRICES))

    @property
    def default(self) -> Assistant:
        return next(a for a in self.all if a.default)

    @property
    def several(self) -> bool:
        return len(self.all) > 1

    def get(self, name: str | None) -> Assistant | None:
        return next((a for a in self.all if a.name == name), None)

    def bound(self, places: Sequence[str]) -> Assistant:
        """The assistant of the most specific of `places` (most specific first) that one
        is bound to; else the default."""
        for place in places:
            for assistant in self.all:
                if place in assistant.channels:
                    return assistant
        return self.default

    def allowed(self, places: Sequence[str]) -> list[Assistant]:
        """Who may answer a new thread at `places`: the bound one first, then every
        other assistant that lists one of the places, then the default (which answers
        wherever it is asked)."""
        first = self.bound(places)
        rest = [a for a in self.all if a is not first and set(a.channels) & set(places)]
        if self.default is not first and self.default not in rest:
            rest.append(self.default)
        return [first, *rest]

    def choose(self, places: Sequence[str], requested: str | None) -> Assistant:
        """A new thread's assistant: the one asked for if it may answer there, else the
        bound one."""
        if requested:
            for assistant in self.allowed(places):
                if assistant.name == requested:
                    return assistant
        return self.bound(places)


def single(assistant: Assistant) -> Assistants:
    return Assistants((assistant,))


def load_assistants(path: Path, *, settings: CoreSettings, tools_for: ToolsFor) -> Assistants:
    """Read the assistants file; AssistantConfigError names the file, the assistant and
    the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AssistantConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AssistantConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"assistant", "prices"}
    if unknown:
        raise AssistantConfigError(f"{path}: unknown table(s): {', '.join(sorted(unknown))}")
    tables = data.get("assistant")
    if not isinstance(tables, list) or not tables:
        raise AssistantConfigError(f"{path}: no [[assistant]] tables")
    assistants = [_build(path, i, table, settings, tools_for) for i, table in enumerate(tables)]
    _check_all(path, assistants)
    prices, media = _prices(path, data.get("prices", {}))
    return Assistants(tuple(assistants), prices=prices, media_prices=media)


def _prices(path: Path, table: Any) -> tuple[dict[str, Price], dict[str, float]]:
    """The defaults with the file's `[prices]` on top: token prices, media prices."""
    prices = dict(DEFAULT_PRICES)
    media = dict(DEFAULT_MEDIA_PRICES)
    if not isinstance(table, dict):
        raise AssistantConfigError(f"{path}: prices: a table of model = {{ input, output }}")
    for model, entry in table.items():
        numbers = isinstance(entry, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
            for v in entry.values()
        )
        if numbers and set(entry) == {"input", "output"}:
            prices[str(model)] = (float(entry["input"]), float(entry["output"]))
        elif numbers and len(entry) == 1 and next(iter(entry)) in MEDIA_UNITS:
            media[str(model)] = float(next(iter(entry.values())))
        else:
            raise AssistantConfigError(
                f"{path}: prices: {model}: give input and output, USD per 1M tokens (>= 0), "
                "or one of minute, million_characters, image (USD)"
            )
    return prices, media


def _build(
    path: Path, index: int, table: Any, settings: CoreSettings, tools_for: ToolsFor
) -> Assistant:
    label = (
        repr(table.get("name"))
        if isinstance(table, dict) and table.get("name")
        else f"#{index + 1}"
    )
    try:
        entry = _Entry.model_validate(table)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "table"
        message = "is required" if error["type"] == "missing" else error["msg"]
        message = message.removeprefix("Value error, ")
        raise AssistantConfigError(f"{path}: assistant {label}: {field}: {message}") from None
    where = f"{path}: assistant {entry.name!r}"
    instructions = entry.instructions
    if entry.instructions_file is not None:
        if instructions is not None:
            raise AssistantConfigError(
                f"{where}: instructions_file: give it or instructions, not both"
            )
        file = (path.parent / entry.instructions_file).resolve()
        try:
            instructions = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise AssistantConfigError(
                f"{where}: instructions_file: cannot read {file}: {exc.strerror}"
            ) from None
    try:
        servers: tuple[McpServer, ...] = (
            parse_mcp_servers(json.dumps(entry.mcp_servers)) if entry.mcp_servers else ()
        )
        functions = tools_for(entry.tools)
    except (AssistantConfigError, ValueError) as exc:
        text = (
            str(exc).removeprefix("THREADBRIDGE_MCP_SERVERS: ").removeprefix("THREADBRIDGE_TOOLS: ")
        )
        field = "mcp_servers" if "server" in text else "tools"
        raise AssistantConfigError(f"{where}: {field}: {text}") from None
    return Assistant(
        name=entry.name,
        model=entry.model,
        instructions=instructions if instructions is not None else settings.instructions,
        functions=functions,
        code_interpreter=entry.code_interpreter,
        image_generation=entry.image_generation,
        web_search=entry.web_search,
        file_search=entry.file_search,
        mcp_servers=servers,
        channels=tuple(entry.channels),
        default=entry.default,
        reasoning_effort=entry.reasoning_effort,
        daily_tokens=entry.daily_tokens,
    )


def _check_all(path: Path, assistants: Iterable[Assistant]) -> None:
    listed = list(assistants)
    names = [a.name for a in listed]
    for name in names:
        if names.count(name) > 1:
            raise AssistantConfigError(f"{path}: assistant {name!r}: name: used twice")
    defaults = [a.name for a in listed if a.default]
    if len(defaults) != 1:
        found = ", ".join(map(repr, defaults)) or "none"
        raise AssistantConfigError(
            f"{path}: default: exactly one assistant has default = true (found {found})"
        )


__all__ = ["Assistants", "load_assistants", "single"]
