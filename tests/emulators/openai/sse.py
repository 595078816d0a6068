"""Server-sent event framing as the OpenAI API writes it."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["format_sse"]


def format_sse(event: dict[str, Any]) -> bytes:
    """``event: TYPE\\ndata: {json}\\n\\n`` for one Responses stream event."""
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()
