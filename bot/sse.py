"""Server-sent events: a small incremental decoder for the engine's answer streams.

Pure and synchronous, no I/O: feed it the body's bytes as they arrive and it returns the
`data` of each event that is complete. Follows the WHATWG event-stream rules for what
the engine needs: lines end with LF, CR or CRLF (also when a chunk ends between the CR
and the LF), `data:` lines of one event are joined with "\\n", a blank line ends the
event, lines starting with ":" are comments, and the other fields (`event:`, `id:`,
`retry:`, unknown ones) are ignored. An event without any `data` line is not reported,
nor is an event the stream ends in the middle of. A leading UTF-8 BOM is skipped.

OpenAI's convention on top: data starting with `[DONE]` ends the stream (:attr:`done`);
nothing after it is reported.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SSEDecoder", "decode"]

_BOM = b"\xef\xbb\xbf"


class SSEDecoder:
    """Feed body chunks in order; each call returns the events those bytes completed."""

    __slots__ = ("_at_start", "_data", "_partial", "_skip_lf", "done")

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # pieces of an unfinished line
        self._data: list[bytes] = []  # `data` values of the event being read
        self._skip_lf = False  # the last chunk ended with CR: a LF next is the same break
        self._at_start = True
        self.done = False  # `[DONE]` was seen

    def feed(self, chunk: bytes) -> list[str]:
        if self.done or not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if self._partial:
            self._partial.append(chunk)
            if b"\n" not in chunk and b"\r" not in chunk:
                return []  # a long line (an image, say) still arriving: no copies yet
            chunk = b"".join(self._partial)
            self._partial = []
        # bytes.splitlines breaks at LF, CR and CRLF only (str.splitlines knows more).
        lines = chunk.splitlines()
        last = chunk[-1]
        if last == 0x0D:
            self._skip_lf = True
        elif last != 0x0A:
            self._partial.append(lines.pop())
        if not lines:
            return []
        if self._at_start:
            self._at_start = False
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][len(_BOM) :]
        events: list[str] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    value = b"\n".join(data).decode("utf-8", "replace")
                    data.clear()
                    if value.startswith("[DONE]"):
                        self.done = True
                        break
                    events.append(value)
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line == b"data":  # a field name alone has the empty value
                data.append(b"")
            # Anything else is a comment (":...") or a field the engine does not use.
        return events


def decode(chunks: Iterable[bytes]) -> list[str]:
    """The `data` of every complete event in `chunks` (up to `[DONE]`)."""
    decoder = SSEDecoder()
    events: list[str] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
        if decoder.done:
            break
    return events
