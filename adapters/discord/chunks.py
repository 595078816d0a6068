"""Split a reply into Discord messages of at most 2000 characters.

A cut never leaves a code block broken: a chunk that ends inside a ``` block closes
it, and the next chunk reopens it with the same info string (```python). The split of
a chunk depends only on the text inside its own window, so as a reply grows while
streaming, chunks that are already full never change: only the last message is
still being edited.
"""

from __future__ import annotations

import re

MESSAGE_LIMIT = 2000
FENCE = "```"
_CLOSE = "\n" + FENCE
# Below this share of the window a cut at a "nice" boundary wastes too much space.
_MIN_FILL = 0.5
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,})(.*)$")


def split_message(text: str, *, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Return the chunks of `text`, each at most `limit` characters.

    Args:
        text: The whole reply so far (Markdown).
        limit: Largest chunk size; Discord's message limit by default.

    Returns:
        Non-empty chunks in order; `[]` for blank text.
    """
    chunks: list[str] = []
    rest = text
    reopen = ""  # the fence line of a block the previous chunk had to close
    while rest.strip():
        if reopen:
            rest, reopen = _drop_closing_fence(rest, reopen)
            if not rest.strip():
                break
        prefix = reopen + "\n" if reopen else ""
        if len(prefix) + len(rest) <= limit:
            chunks.append(prefix + rest)
            break
        # Room for the fence that may have to be closed at the end of this chunk.
        budget = max(1, limit - len(prefix) - len(_CLOSE))
        cut = _cut_point(rest[:budget], rest, in_code=bool(open_fence_of(prefix + rest[:budget])))
        piece = rest[:cut].rstrip()
        open_fence = open_fence_of(prefix + piece)
        chunk = prefix + piece
        if open_fence:
            chunk += _CLOSE
        if chunk.strip():
            chunks.append(chunk)
        rest = rest[cut:].lstrip("\n")
        reopen = open_fence
    return chunks


def _cut_point(window: str, rest: str, *, in_code: bool) -> int:
    """Where to end the chunk: a paragraph or line boundary, else (outside code) a
    word boundary, else a hard cut. Inside a code block any line end is better than a
    line of code split across two messages."""
    if len(rest) > len(window) and rest[len(window)] == "\n":
        return len(window)
    floor = int(len(window) * _MIN_FILL)
    for separator in ("\n\n", "\n"):
        at = window.rfind(separator)
        if at >= floor:
            return at
    if in_code:
        at = window.rfind("\n")
        return at if at > 0 else len(window)
    at = window.rfind(" ")
    return at + 1 if at >= floor else len(window)


def open_fence_of(text: str) -> str:
    """The opening fence line if `text` ends inside a code block, else ""."""
    opened = ""
    for line in text.split("\n"):
        match = _FENCE_LINE.match(line)
        if match is None:
            continue
        if opened:
            if not match.group(2).strip():
                opened = ""
        else:
            opened = FENCE + match.group(2).strip()
    return opened


def _drop_closing_fence(rest: str, reopen: str) -> tuple[str, str]:
    """If the text continues with the block's closing fence, reopening it would only
    make an empty block: drop both."""
    first, _, remainder = rest.partition("\n")
    match = _FENCE_LINE.match(first)
    if match is not None and not match.group(2).strip():
        return remainder, ""
    return rest, reopen


__all__ = ["FENCE", "MESSAGE_LIMIT", "open_fence_of", "split_message"]
