"""Model Markdown -> what Slack receives. Pure functions, no I/O.

Two renderings, because Slack has two text inputs:

* :func:`to_mrkdwn` for the classic ``text`` field (chat.postMessage / chat.update):
  Markdown becomes Slack mrkdwn and ``&``, ``<``, ``>`` are escaped everywhere except
  in the link syntax generated here, so model text can never form ``<!channel>`` or
  ``<@U...>``.
* :func:`safe_markdown` for ``markdown_text`` (chat.startStream / appendStream /
  stopStream), which Slack renders as Markdown itself. Escaping would show up
  literally inside code there, so only the mention tokens are broken up.

Both break bare ``@channel`` / ``@here`` / ``@everyone`` with a zero-width joiner.

:func:`split_markdown` and its helpers cut a long reply into messages at paragraph or
line boundaries, closing a code fence at the cut and reopening it in the next part.
"""

from __future__ import annotations

import re

#: Characters of model Markdown per Slack message. Slack accepts 40K of ``text`` but
#: folds long messages behind "show more" and renders over ~4K poorly; a page this
#: size stays under 4K after mrkdwn conversion in practice.
PAGE_LIMIT = 3_800

ZWJ = "\u200d"  # breaks "@here" without changing what the user reads
ZWSP = "\u200b"  # breaks "<!here>" in Markdown input

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)")
# "<", also as an HTML entity: Slack decodes those in some fields before it looks for
# mentions, so "&lt;!channel&gt;" could ping as well.
_LT = r"(?:<|&lt;|&#0*60;|&#x0*3c;)"
_SPECIAL_MENTION = re.compile(
    _LT + r"(?=!(?:channel|here|everyone|group|subteam\^))", re.IGNORECASE
)
_USER_MENTION = re.compile(_LT + r"(?=@[A-Z0-9])", re.IGNORECASE)
_ALLOWED_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^<>&]*)?>")
_BARE_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)

_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_URL = r"<?((?:[^()\s<>]|\([^()\s<>]*\))+)>?(?:\s+\"[^\"]*\")?"
_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*" + _URL + r"\s*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(\s*" + _URL + r"\s*\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_QUOTE = re.compile(r"^\s{0,3}>+\s?(.*)$")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")

_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_PH_OPEN, _PH_CLOSE = "\ue000", "\ue001"
_BOLD_MARK = "\ue002"


# --- escaping ------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape Slack's control characters ``&``, ``<`` and ``>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def break_broadcasts(text: str) -> str:
    """Make bare ``@channel``/``@here``/``@everyone`` inert (a zero-width joiner after @)."""
    return _BARE_BROADCAST.sub("@" + ZWJ, text)


def safe_markdown(text: str, *, allow_user_mentions: bool = False) -> str:
    """Markdown for ``markdown_text`` with every ping token broken up.

    ``<!channel>``, ``<!here>``, ``<!everyone>``, ``<!subteam^...>`` always, and
    ``<@U...>`` unless `allow_user_mentions`, get a zero-width space after ``<``.
    Other text, including code, is passed through unchanged.
    """
    text = _SPECIAL_MENTION.sub(lambda m: m.group(0) + ZWSP, text)
    if not allow_user_mentions:
        text = _USER_MENTION.sub(lambda m: m.group(0) + ZWSP, text)
    return break_broadcasts(text)


def inert(text: str) -> str:
    """Plain text for a field that is not a message (a file title, the status line, the
    AI pane's thread title, suggested prompts) with every ping token broken up."""
    return safe_markdown(text)


# --- Markdown -> mrkdwn ------------------------------------------------------------


def _safe_url(url: str) -> str | None:
    if not url.lower().startswith(_SAFE_SCHEMES):
        return None
    # Inside <url|label> these would end or split the link.
    return url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")


class _Placeholders:
    """Holds finished mrkdwn fragments while the rest of a line is escaped."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, fragment: str) -> str:
        self.parts.append(fragment)
        return f"{_PH_OPEN}{len(self.parts) - 1}{_PH_CLOSE}"

    def restore(self, text: str) -> str:
        pattern = re.compile(f"{_PH_OPEN}(\\d+){_PH_CLOSE}")
        while True:
            replaced = pattern.sub(lambda m: self.parts[int(m.group(1))], text)
            if replaced == text:
                return replaced
            text = replaced


def _inline(text: str, *, allow_user_mentions: bool) -> str:
    """Convert one line (outside code blocks) of Markdown to escaped mrkdwn."""
    text = text.replace(_PH_OPEN, "").replace(_PH_CLOSE, "").replace(_BOLD_MARK, "")
    held = _Placeholders()

    def code(match: re.Match[str]) -> str:
        return held.add("`" + escape(match.group(2).strip("`")) + "`")

    def link(match: re.Match[str]) -> str:
        label, url = match.group(1), match.group(2)
        safe = _safe_url(url)
        if safe is None:
            return held.add(escape(label))
        shown = _inline(label, allow_user_mentions=False) if label else escape(url)
        return held.add(f"<{safe}|{shown}>" if shown else f"<{safe}>")

    def autolink(match: re.Match[str]) -> str:
        safe = _safe_url(match.group(1))
        return held.add(f"<{safe}>") if safe else match.group(0)

    def mention(match: re.Match[str]) -> str:
        return held.add(f"<@{match.group(1)}>")

    text = _INLINE_CODE.sub(code, text)
    text = _IMAGE.sub(link, text)
    text = _LINK.sub(link, text)
    text = _AUTOLINK.sub(autolink, text)
    if allow_user_mentions:
        text = _ALLOWED_USER_MENTION.sub(mention, text)
    text = break_broadcasts(escape(text))
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = text.replace(_BOLD_MARK, "*")
    return held.restore(text)


def _heading(text: str, *, allow_user_mentions: bool) -> str:
    inner = _inline(text, allow_user_mentions=allow_user_mentions)
    # Bold inside a bold line would toggle it off in mrkdwn.
    inner = inner.replace("*", "")
    return f"*{inner}*" if inner.strip() else ""


def _is_table_row(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("|") and stripped.count("|") >= 2


def to_mrkdwn(markdown: str, *, allow_user_mentions: bool = False) -> str:
    """Render model Markdown as Slack mrkdwn for the ``text`` field.

    Code blocks keep their content (escaped, as Slack requires) and lose the language
    tag, which mrkdwn would show as code; an unclosed block is closed. Headings become
    bold lines, ``**bold**`` ``*bold*``, ``*italic*`` ``_italic_``, ``~~x~~`` ``~x~``,
    ``[text](url)`` ``<url|text>`` (http, https and mailto only), list bullets ``•``,
    Markdown tables a code block (mrkdwn has no tables).
    """
    out: list[str] = []
    lines = markdown.split("\n")
    fence: str | None = None
    table = False
    for index, line in enumerate(lines):
        match = _FENCE.match(line)
        if fence is not None:
            if match and _closes(match, fence):
                out.append("```")
                fence = None
            else:
                out.append(break_broadcasts(escape(line)))
            continue
        if match:
            fence = match.group(1)
            out.append("```")
            continue
        if table:
            if _is_table_row(line):
                out.append(break_broadcasts(escape(line)))
                continue
            out.append("```")
            table = False
        next_line = lines[index + 1] if index + 1 < len(lines) else ""
        if _is_table_row(line) and _TABLE_SEPARATOR.match(next_line):
            out.append("```")
            out.append(break_broadcasts(escape(line)))
            table = True
            continue
        out.append(_block_line(line, allow_user_mentions=allow_user_mentions))
    if fence is not None or table:
        out.append("```")
    return "\n".join(out)


def _block_line(line: str, *, allow_user_mentions: bool) -> str:
    if heading := _HEADING.match(line):
        return _heading(heading.group(1), allow_user_mentions=allow_user_mentions)
    if _RULE.match(line):
        return "──────────"
    if quote := _QUOTE.match(line):
        return "> " + _inline(quote.group(1), allow_user_mentions=allow_user_mentions)
    if bullet := _BULLET.match(line):
        indent = " " * (len(bullet.group(1).expandtabs(4)) // 2 * 4)
        return f"{indent}• " + _inline(bullet.group(2), allow_user_mentions=allow_user_mentions)
    return _inline(line, allow_user_mentions=allow_user_mentions)


# --- splitting -----------------------------------------------------------------------


def _closes(match: re.Match[str], fence: str) -> bool:
    """Whether a fence line ends the block opened with `fence` (same char, as long, no info)."""
    run = match.group(1)
    return run[0] == fence[0] and len(run) >= len(fence) and not match.group(2)


def open_fence(markdown: str) -> str | None:
    """The opening fence (e.g. ``"```python"``) of a code block left open at the end."""
    fence: str | None = None
    opener = ""
    for line in markdown.split("\n"):
        match = _FENCE.match(line)
        if not match:
            continue
        if fence is None:
            fence = match.group(1)
            # Only the fence and a short language tag are repeated in the next part.
            info = match.group(2) if len(match.group(2)) <= 30 else ""
            opener = fence + info
        elif _closes(match, fence):
            fence = None
    return opener if fence is not None else None


def split_point(text: str, limit: int, *, start: int = 0) -> int:
    """Where to cut `text` so the head is at most `limit` characters.

    Prefers the end of a paragraph, then of a line, in the second half of the allowed
    span, then any line end, then (outside code blocks) a space, and never cuts before
    `start` (text already shown). Returns an index in ``(start, limit]``; a cut at
    `limit` itself when nothing better exists.
    """
    if len(text) <= limit:
        return len(text)
    cut = _boundary(text, limit, start)
    return cut if cut is not None else max(limit, start + 1)


def _boundary(text: str, limit: int, start: int) -> int | None:
    """The best paragraph, line or (outside code) word end in ``(start, limit]``."""
    limit = max(limit, start + 1)
    floor = start + (limit - start) // 2
    window = text[:limit]
    for separator, lowest in (("\n\n", floor), ("\n", floor), ("\n", start)):
        cut = window.rfind(separator, lowest)
        if cut != -1 and cut + len(separator) > start:
            return cut + len(separator)
    if open_fence(window) is None:
        cut = window.rfind(" ", floor)
        if cut != -1 and cut + 1 > start:
            return cut + 1
    return None


#: How far past its limit a page may run to end the line it is in. Slack takes 12K
#: characters per streaming call and far more per message; the limit is for reading.
PAGE_OVERFLOW = 2_000


def page_cut(text: str, limit: int, *, start: int = 0, final: bool = False) -> int | None:
    """Where to end a page of `text` (longer than `limit`) whose first `start`
    characters the user already has (streamed): at a line boundary, whatever the timing.

    Like :func:`split_point`, except when the text already shown runs into a line that
    does not end within the limit: then the page ends where that line ends (up to
    `PAGE_OVERFLOW` past the limit), and while that line is still coming in (not
    `final`) the answer is None: wait for more text. Only a line longer than the
    overflow, or a page streamed that far, is cut inside.
    """
    if len(text) <= limit:
        return len(text)
    cut = _boundary(text, limit, start)
    if cut is not None:
        return cut
    end = text.find("\n", max(limit, start))
    if end != -1 and end + 1 <= limit + PAGE_OVERFLOW:
        return end + 1
    if end == -1 and len(text) <= limit + PAGE_OVERFLOW:
        return len(text) if final else None
    return max(start, min(len(text), limit + PAGE_OVERFLOW))


def seal(head: str, tail: str) -> tuple[str, str]:
    """Close a code block open at the end of `head` and reopen it at the start of `tail`."""
    opener = open_fence(head)
    if opener is None:
        return head.rstrip("\n") or head, tail.lstrip("\n")
    closed = head if head.endswith("\n") else head + "\n"
    fence = opener[: len(opener) - len(opener.lstrip(opener[0]))]
    return closed + fence, f"{opener}\n{tail}"


#: Room kept at the end of a page for the fence that `seal` may add.
SEAL_ROOM = 8


def split_markdown(markdown: str, limit: int = PAGE_LIMIT) -> list[str]:
    """Cut `markdown` into parts of at most `limit` characters, code fences intact."""
    if limit <= SEAL_ROOM * 4:
        raise ValueError("limit is too small")
    parts: list[str] = []
    rest = markdown
    while len(rest) > limit:
        cut = split_point(rest, limit - SEAL_ROOM)
        head, rest = seal(rest[:cut], rest[cut:])
        if head.strip():
            parts.append(head)
    if rest.strip() or not parts:
        parts.append(rest)
    return parts


__all__ = [
    "PAGE_LIMIT",
    "SEAL_ROOM",
    "break_broadcasts",
    "escape",
    "inert",
    "open_fence",
    "page_cut",
    "safe_markdown",
    "seal",
    "split_markdown",
    "split_point",
    "to_mrkdwn",
]
