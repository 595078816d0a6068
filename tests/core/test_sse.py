"""The server-sent events decoder the engine reads answer streams with (pure)."""

from __future__ import annotations

import json

from bot.sse import SSEDecoder, decode


def every_split(body: bytes) -> list[list[bytes]]:
    """`body` cut into two chunks at each position (and one chunk per byte)."""
    cuts = [[body[:i], body[i:]] for i in range(len(body) + 1)]
    return [*cuts, [body[i : i + 1] for i in range(len(body))]]


def test_openai_framing_gives_the_json_of_each_event() -> None:
    first = {"type": "response.output_text.delta", "delta": "Hi"}
    second = {"type": "response.completed", "response": {"id": "resp_1"}}
    body = b"".join(
        f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in (first, second)
    )
    assert [json.loads(d) for d in decode([body])] == [first, second]


def test_chunks_split_anywhere_give_the_same_events() -> None:
    body = b'event: a\ndata: {"x": "caf\xc3\xa9"}\n\n: ping\n\ndata: two\r\ndata: lines\r\n\r\n'
    for chunks in every_split(body):
        assert decode(chunks) == ['{"x": "café"}', "two\nlines"], chunks


def test_crlf_cr_and_lf_line_ends() -> None:
    assert decode([b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]) == ["a", "b", "c"]


def test_crlf_split_between_chunks_is_one_line_break() -> None:
    # Were the CR and the LF two breaks, the blank line between would end the event.
    assert decode([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == ["a\nb"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode([b'data: {\ndata:  "k": 1\ndata: }\n\n']) == ['{\n "k": 1\n}']


def test_one_leading_space_is_dropped_and_no_space_is_fine() -> None:
    assert decode([b"data:x\n\ndata:  y\n\ndata\n\n"]) == ["x", " y", ""]


def test_comments_and_other_fields_are_ignored() -> None:
    body = b": keep-alive\nevent: x\nid: 7\nretry: 100\nfoo: bar\ndata: d\n:\n\n"
    assert decode([body]) == ["d"]


def test_an_event_without_data_is_not_reported() -> None:
    assert decode([b"event: ping\n\n: comment\n\n\n\ndata: real\n\n"]) == ["real"]


def test_an_event_cut_off_by_the_end_of_the_stream_is_not_reported() -> None:
    assert decode([b"data: whole\n\ndata: half"]) == ["whole"]
    assert decode([b"data: whole\n\ndata: half\n"]) == ["whole"]


def test_done_ends_the_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n\ndata: [DONE]\n\ndata: after\n\n") == ["one"]
    assert decoder.done
    assert decoder.feed(b"data: later\n\n") == []
    assert decode([b"data: a\n\n", b"data: [DO", b"NE]\n\n", b"data: b\n\n"]) == ["a"]


def test_a_leading_bom_is_skipped() -> None:
    assert decode([b"\xef\xbb", b"\xbfdata: a\n\n"]) == ["a"]
    assert decode([b"\xef\xbb\xbfdata: a\n\n\xef\xbb\xbfdata: b\n\n"]) == ["a"]  # only at the start


def test_a_long_line_in_many_chunks() -> None:
    payload = "x" * 100_000
    body = f"data: {payload}\n\n".encode()
    chunks = [body[i : i + 997] for i in range(0, len(body), 997)]
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    assert events == [payload]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode([b"data: \xff\n\n"]) == ["\ufffd"]
