"""Text from chat platforms made safe to store and to send on. Pure functions."""

from __future__ import annotations

import re

# A lone UTF-16 surrogate (JSON can carry "\ud800") cannot be encoded as UTF-8, and
# PostgreSQL refuses NUL in text: either would fail the message's every delivery.
_UNENCODABLE = re.compile("[\ud800-\udfff\x00]")


def valid_text(text: str) -> str:
    """`text` with what UTF-8 or the store cannot hold replaced by U+FFFD."""
    return _UNENCODABLE.sub("\ufffd", text)


__all__ = ["valid_text"]
