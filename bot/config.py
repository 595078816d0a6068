"""Settings: environment variables and `.env`, checked once at start.

Three groups, each owned by its package: :class:`CoreSettings` here (OpenAI, the
assistant, the store, limits, logs), `SlackSettings` in adapters/slack/settings.py and
`DiscordSettings` in adapters/discord/settings.py. The command line combines them into
one object (`bot.cli.Settings`) read once at start.

Standard names are used where the ecosystem has them (`OPENAI_API_KEY`,
`DATABASE_URL`, `SLACK_BOT_TOKEN`, ...); everything of our own is prefixed
`THREADBRIDGE_`. A bad value raises :class:`ConfigError` naming the variable, and
the command line turns that into one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant in a team chat. Answer clearly and concisely. "
    "Use Markdown for structure and code blocks for code."
)
DEFAULT_DATABASE_URL = "sqlite:///threadbridge.db"

ConversationMode = Literal["conversations", "stateless"]


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable."""


def _csv(value: Any) -> Any:
    """Comma-separated env values become lists (`A,B` -> ["A", "B"])."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _digits(value: list[str]) -> list[str]:
    bad = [v for v in value if not v.isdigit()]
    if bad:
        raise ValueError(f"ids are numbers; not {', '.join(bad)}")
    return value


# A comma-separated list (`A, B` -> ["A", "B"]); NoDecode: not read as JSON first.
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_csv)]
# The same, of numeric ids (Discord snowflakes).
IdList = Annotated[list[str], NoDecode, BeforeValidator(_csv), AfterValidator(_digits)]


def normalize_database_url(url: str) -> tuple[str, dict[str, Any]]:
    """Return the SQLAlchemy URL `Store.open` takes and extra connect args for `url`.

    Accepts `sqlite:///path`, `sqlite+aiosqlite:///path`, `postgres://...` (Heroku),
    `postgresql://...` and `postgresql+asyncpg://...`. asyncpg rejects `sslmode` in
    the URL, so it is turned into an `ssl` connect argument.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        if not url.split(":", 1)[1].startswith("///"):
            raise ValueError("a SQLite URL looks like sqlite:///path/to/file.db")
        return "sqlite:" + url.split(":", 1)[1], {}
    if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        if not parts.hostname and not parts.path.strip("/"):
            raise ValueError("a PostgreSQL URL needs a host or a database name")
        query = dict(parse_qsl(parts.query))
        connect_args: dict[str, Any] = {}
        sslmode = query.pop("sslmode", None)
        if sslmode in ("require", "prefer", "allow"):
            # Heroku Postgres uses self-signed certificates: encrypt, don't verify.
            connect_args["ssl"] = "require" if sslmode == "require" else sslmode
        elif sslmode in ("verify-ca", "verify-full"):
            connect_args["ssl"] = sslmode
        elif sslmode == "disable":
            connect_args["ssl"] = False
        rebuilt = urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, urlencode(query), ""))
        return rebuilt, connect_args
    raise ValueError(
        f"unsupported scheme {scheme or '(none)'!r}; use sqlite:///file.db or postgres://..."
    )


class SettingsBase(BaseSettings):
    """How every settings group reads the environment and `.env`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )


class CoreSettings(SettingsBase):
    """The core's settings: OpenAI, the assistant, the store, limits, logs."""

    # --- OpenAI -----------------------------------------------------------------
    openai_api_key: SecretStr = Field(
        alias="OPENAI_API_KEY", description="API key for OpenAI or the compatible server."
    )
    openai_base_url: str | None = Field(
        None,
        alias="OPENAI_BASE_URL",
        description="Base URL of an OpenAI-compatible server (default: api.openai.com).",
    )
    openai_model: str = Field("gpt-5-mini", alias="OPENAI_MODEL", description="Model name.")
    instructions: str = Field(
        DEFAULT_INSTRUCTIONS,
        alias="THREADBRIDGE_INSTRUCTIONS",
        description="The assistant's instructions (system prompt).",
    )
    instructions_file: Path | None = Field(
        None,
        alias="THREADBRIDGE_INSTRUCTIONS_FILE",
        description="Read the instructions from this file instead.",
    )
    conversation_mode: ConversationMode = Field(
        "conversations",
        alias="THREADBRIDGE_CONVERSATION_MODE",
        description="`conversations` (OpenAI Conversations API) or `stateless` "
        "(history kept in our database, for servers without Conversations).",
    )
    history_limit: int = Field(
        40,
        ge=1,
        alias="THREADBRIDGE_HISTORY_LIMIT",
        description="Stateless mode: how many past items of a thread are replayed.",
    )
    openai_timeout: float = Field(
        120.0, gt=0, alias="OPENAI_TIMEOUT", description="Seconds for one OpenAI request."
    )
    openai_connect_timeout: float = Field(
        10.0, gt=0, alias="OPENAI_CONNECT_TIMEOUT", description="Seconds to connect to OpenAI."
    )
    openai_max_retries: int = Field(
        2, ge=0, alias="OPENAI_MAX_RETRIES", description="SDK retries for 408/409/429/5xx."
    )
    background_responses: bool = Field(
        False,
        alias="THREADBRIDGE_BACKGROUND_RESPONSES",
        description="Conversations mode: create responses with `background=True`, so an answer "
        "still being written when the process dies keeps going and the next process streams "
        "the rest instead of asking again.",
    )
    stream_idle_timeout: float = Field(
        60.0,
        gt=0,
        alias="THREADBRIDGE_STREAM_IDLE_TIMEOUT",
        description="Seconds without any event from the model's answer stream before the turn "
        "ends with a message (the response is cancelled so the thread stays usable).",
    )
    conversation_pool: int = Field(
        64,
        ge=0,
        alias="THREADBRIDGE_CONVERSATION_POOL",
        description="Conversations mode: Conversations created ahead (kept in the database, "
        "refilled in the background), so a new thread's first words cost one model request; "
        "0 creates each when its thread starts.",
    )
    locked_retry_seconds: float = Field(
        30.0,
        ge=0,
        alias="THREADBRIDGE_LOCKED_RETRY_SECONDS",
        description="How long a `conversation_locked` answer is retried before giving up.",
    )

    # --- Tools (see README "Tools") ----------------------------------------------
    assistants_file: Path | None = Field(
        None,
        alias="THREADBRIDGE_ASSISTANTS_FILE",
        description="A TOML file of several assistants (name, model, instructions, tools, "
        "channels they answer in; see README, Several assistants). Unset: the settings here "
        "define the one assistant.",
    )
    tools_module: str | None = Field(
        None,
        alias="THREADBRIDGE_TOOLS",
        description="Python module whose functions become function tools.",
    )
    tool_timeout: float = Field(
        30.0, gt=0, alias="THREADBRIDGE_TOOL_TIMEOUT", description="Seconds per function call."
    )
    tool_output_limit: int = Field(
        16_000,
        ge=100,
        alias="THREADBRIDGE_TOOL_OUTPUT_LIMIT",
        description="Characters of a function's output sent to the model.",
    )
    tool_rounds: int = Field(
        8, ge=1, alias="THREADBRIDGE_TOOL_ROUNDS", description="Max function-call rounds per turn."
    )
    code_interpreter: bool = Field(
        False, alias="THREADBRIDGE_CODE_INTERPRETER", description="Enable the code interpreter."
    )
    image_generation: bool = Field(
        False, alias="THREADBRIDGE_IMAGE_GENERATION", description="Enable image generation."
    )
    web_search: bool = Field(
        False, alias="THREADBRIDGE_WEB_SEARCH", description="Enable web search."
    )
    file_search: bool = Field(
        True,
        alias="THREADBRIDGE_FILE_SEARCH",
        description="Use the knowledge base (when one exists) and files attached in a thread.",
    )
    mcp_servers: str | None = Field(
        None,
        alias="THREADBRIDGE_MCP_SERVERS",
        description="JSON list of remote MCP servers: "
        '[{"label": "...", "url": "...", "allowed_tools": ["..."]}].',
    )
    transcription_model: str = Field(
        "gpt-4o-mini-transcribe",
        alias="THREADBRIDGE_TRANSCRIPTION_MODEL",
        description="Transcribes voice messages and audio files (`audio.transcriptions`); "
        "empty: audio is not listened to.",
    )
    audio_max_seconds: float = Field(
        600.0,
        gt=0,
        alias="THREADBRIDGE_AUDIO_MAX_SECONDS",
        description="Longest voice message or audio file transcribed.",
    )
    spoken_replies: bool = Field(
        False,
        alias="THREADBRIDGE_SPOKEN_REPLIES",
        description="Answer a voice message with an audio file of the reply too (`audio.speech`).",
    )
    speech_model: str = Field(
        "gpt-4o-mini-tts",
        min_length=1,
        alias="THREADBRIDGE_SPEECH_MODEL",
        description="The voice of spoken replies: its model.",
    )
    speech_voice: str = Field(
        "alloy",
        min_length=1,
        alias="THREADBRIDGE_SPEECH_VOICE",
        description="The voice of spoken replies (alloy, ash, coral, echo, nova, sage, ...).",
    )
    max_file_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1,
        alias="THREADBRIDGE_MAX_FILE_BYTES",
        description="Largest file accepted from or delivered to a chat.",
    )
    max_message_bytes: int = Field(
        50 * 1024 * 1024,
        ge=1,
        alias="THREADBRIDGE_MAX_MESSAGE_BYTES",
        description="Largest total of attachments in one message.",
    )
    output_dir: Path = Field(
        Path("threadbridge-files"),
        alias="THREADBRIDGE_OUTPUT_DIR",
        description="Console: where generated files are saved.",
    )

    # --- Service -----------------------------------------------------------------
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        alias="DATABASE_URL",
        description="sqlite:///file.db (default) or postgres://user:pass@host/db.",
    )
    max_concurrent_turns: int = Field(
        1000,
        ge=1,
        alias="THREADBRIDGE_MAX_CONCURRENT_TURNS",
        description="Turns in flight at once across all threads. A turn mostly waits on "
        "the network, so a burst should not queue behind whole turns: memory is the bound "
        "(about 0.1-0.2 MB a turn in flight, see bench/RESULTS.md).",
    )
    max_concurrent_tools: int = Field(
        8,
        ge=1,
        alias="THREADBRIDGE_MAX_CONCURRENT_TOOLS",
        description="Function tool calls running at once across all turns (the work that "
        "can use CPU or threads); further calls wait for a free one.",
    )
    processes: int = Field(
        1,
        ge=1,
        alias="WEB_CONCURRENCY",
        description="Slack: processes `threadbridge run` starts, at most one per CPU (one "
        "event loop each; Heroku sets it by dyno size). They share the database and 30 "
        "database connections, and Slack's HTTP port (Linux SO_REUSEPORT) or open one "
        "Socket Mode connection each; Discord runs in the first.",
    )
    shutdown_budget: float = Field(
        25.0,
        ge=0,
        alias="THREADBRIDGE_SHUTDOWN_SECONDS",
        description="On SIGTERM, how long running turns may take to finish.",
    )
    daily_user_tokens: int = Field(
        0,
        ge=0,
        alias="THREADBRIDGE_DAILY_USER_TOKENS",
        description="Tokens one user may use per day (UTC); 0 = no limit.",
    )
    daily_scope_tokens: int = Field(
        0,
        ge=0,
        alias="THREADBRIDGE_DAILY_WORKSPACE_TOKENS",
        description="Tokens one Slack workspace / Discord guild may use per day; 0 = no limit.",
    )
    lease_seconds: float = Field(
        60.0,
        gt=0,
        alias="THREADBRIDGE_LEASE_SECONDS",
        description="A thread's lease: a dead process's threads are taken over after this.",
    )
    admin_users: CsvList = Field(
        default_factory=list,
        alias="THREADBRIDGE_ADMIN_USERS",
        description="User ids (Slack `U...`, Discord numbers; `slack:U...` to name the "
        "platform) who may stop anyone's reply (comma-separated; empty: only the asker).",
    )
    stop_button: bool = Field(
        True,
        alias="THREADBRIDGE_STOP_BUTTON",
        description="A Stop button while a reply is written (Slack: shown to the asker "
        "only; Discord: on the reply).",
    )
    feedback_buttons: bool = Field(
        True,
        alias="THREADBRIDGE_FEEDBACK_BUTTONS",
        description="Thumbs up / down under every finished reply (`threadbridge feedback` "
        "reports them).",
    )
    approval_timeout: float = Field(
        600.0,
        gt=0,
        alias="THREADBRIDGE_APPROVAL_TIMEOUT",
        description="Seconds a tool call that needs approval waits for Approve or Deny; "
        "no decision by then counts as Deny.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", alias="THREADBRIDGE_LOG_FORMAT", description="`text` (readable) or `json` lines."
    )
    allow_ephemeral_sqlite: bool = Field(
        False,
        alias="THREADBRIDGE_ALLOW_EPHEMERAL_SQLITE",
        description="Start on Heroku (`DYNO` set) with SQLite anyway (data is lost on restart).",
    )
    log_level: str = Field("INFO", alias="THREADBRIDGE_LOG_LEVEL", description="Log level.")

    context_max_messages: int = Field(
        200,
        ge=1,
        alias="THREADBRIDGE_CONTEXT_MAX_MESSAGES",
        description="Earlier messages of a thread given to the model when the bot is first "
        "asked in it (the root and the most recent are kept).",
    )
    context_max_chars: int = Field(
        60_000,
        ge=100,
        alias="THREADBRIDGE_CONTEXT_MAX_CHARS",
        description="Characters of those earlier messages, at most.",
    )

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        normalize_database_url(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("use one of DEBUG, INFO, WARNING, ERROR")
        return value.upper()

    @field_validator("openai_api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _load_instructions_file(self) -> Self:
        if self.instructions_file is not None:
            try:
                self.instructions = self.instructions_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(
                    f"THREADBRIDGE_INSTRUCTIONS_FILE: cannot read {self.instructions_file}: "
                    f"{exc.strerror}"
                ) from None
        return self

    @model_validator(mode="after")
    def _refuse_sqlite_on_heroku(self) -> Self:
        if (
            os.environ.get("DYNO")
            and self.database_url.startswith("sqlite")
            and not self.allow_ephemeral_sqlite
        ):
            raise ValueError(
                "DATABASE_URL: Heroku wipes the filesystem on every restart, so SQLite would "
                "lose every thread; add Postgres (heroku addons:create heroku-postgresql) or "
                "set THREADBRIDGE_ALLOW_EPHEMERAL_SQLITE=true"
            )
        return self

    @property
    def store_url(self) -> tuple[str, dict[str, Any]]:
        return normalize_database_url(self.database_url)


def _describe(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"]) or "settings"
    message = str(error["msg"])
    if error["type"] == "missing":
        message = "is required but not set"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if ": " in message and message.split(": ", 1)[0].isupper():
        return message  # already names its variable
    if error["type"] == "literal_error" and "input" in error:
        message = f"{message} (got {error['input']!r})"
    return f"{loc} {message}" if error["type"] == "missing" else f"{loc}: {message}"


S = TypeVar("S", bound=SettingsBase)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build `cls` from the environment and `.env`, raising ConfigError on a bad value."""
    env_file = overrides.pop("_env_file", os.environ.get("THREADBRIDGE_ENV_FILE", ".env"))
    try:
        return cls(_env_file=env_file, **overrides)
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(e) for e in exc.errors())) from None


def settings_table(cls: type[SettingsBase]) -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting of `cls`, for the README and
    `--help`."""
    rows: list[tuple[str, str, str]] = []
    for name, field in cls.model_fields.items():
        alias = field.alias or name.upper()
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            default = ""
        else:
            default = "" if field.default is None else str(field.default)
            if isinstance(field.default, bool):
                default = str(field.default).lower()
        rows.append((alias, default, field.description or ""))
    return rows


def settings_markdown(cls: type[SettingsBase]) -> str:
    """The configuration table of `cls` for the README (kept equal by a test)."""
    lines = ["| Variable | Default | What it does |", "|---|---|---|"]
    for name, default, description in settings_table(cls):
        shown = f"`{default}`" if default else ""
        lines.append(f"| `{name}` | {shown} | {description} |")
    return "\n".join(lines)


__all__ = [
    "ConfigError",
    "ConversationMode",
    "CoreSettings",
    "CsvList",
    "IdList",
    "SettingsBase",
    "load_settings",
    "normalize_database_url",
    "settings_markdown",
    "settings_table",
]
