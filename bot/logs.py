"""Logging set-up: readable or JSON lines, with secrets redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable

TOKEN_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"sk-[A-Za-z0-9_-]{8,}"),
    # Discord bot tokens: three base64url parts separated by dots.
    re.compile(r"[MNO][A-Za-z\d_-]{22,28}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,40}"),
    re.compile(r"(?i)(authorization:\s*bearer\s+)\S+"),
]


#: Our own loggers; every other one is a library's.
OWN_LOGGERS = ("bot", "adapters", "__main__")
# Where a library's message starts quoting a request: "body: ...", "request body ...",
# or a payload dict ("for the request ({'token': ...})", Bolt's words).
_BODY = re.compile(r"(?i)\b(?:request )?body\b\s*[:=(]?\s*\S|[({]\s*\{?\s*['\"]\w+['\"]\s*:")
WITHHELD = "[request body withheld]"


def withhold_bodies(text: str) -> str:
    """`text` up to where it starts quoting a request body."""
    match = _BODY.search(text)
    return text if match is None else text[: match.start()] + WITHHELD


class RedactingFilter(logging.Filter):
    """Replaces known secrets and token-shaped strings in every record, and keeps the
    request bodies that libraries log (slack_bolt does, at INFO, for a bad signature)
    out of the log: anyone can send a body, and user text would land there."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        for pattern in TOKEN_PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + "[redacted]", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if not record.name.startswith(OWN_LOGGERS):
            redacted = withhold_bodies(redacted)
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = self.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(level: str, *, secrets: Iterable[str] = (), json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The HTTP stacks log request details at DEBUG; keep them out of our logs.
    for noisy in (
        "httpcore",
        "httpcore2",
        "openai._base_client",
        "websockets",
        "aiohttp.access",
    ):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    # At INFO SQLAlchemy echoes every SQL statement (dozens of lines per turn, a large
    # share of the CPU under load) and httpx a line per OpenAI request: warnings only.
    for chatty in ("sqlalchemy.engine", "sqlalchemy.pool", "httpx", "httpx2"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
