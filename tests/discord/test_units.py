"""Pure pieces: message splitting, anchors, allowlists, text cleanup."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from adapters.discord.access import Access
from adapters.discord.anchor import Anchor, History
from adapters.discord.chunks import open_fence_of, split_message
from adapters.discord.client import INVITE_PERMISSIONS, invite_url
from adapters.discord.events import clean_text, thread_name
from bot.models import ThreadKey


def test_short_text_is_one_chunk() -> None:
    assert split_message("hello") == ["hello"]
    assert split_message("   \n") == []
    assert split_message("x" * 2000) == ["x" * 2000]


def test_split_prefers_paragraphs_then_lines() -> None:
    text = ("a" * 1200) + "\n\n" + ("b" * 1200)
    assert split_message(text) == ["a" * 1200, "b" * 1200]
    lines = "\n".join(f"line {i:04d}" for i in range(400))
    chunks = split_message(lines)
    assert all(len(c) <= 2000 for c in chunks)
    assert "\n".join(chunks).splitlines() == lines.splitlines()


def test_split_without_any_break_cuts_hard() -> None:
    chunks = split_message("y" * 4500)
    assert [len(c) for c in chunks] == [1996, 1996, 508]


def test_code_block_is_closed_and_reopened() -> None:
    code = "\n".join(f"print({i})" for i in range(400))
    text = f"Here:\n\n```python\n{code}\n```\n\nDone."
    chunks = split_message(text)
    assert len(chunks) >= 3
    for chunk in chunks:
        assert len(chunk) <= 2000
        assert open_fence_of(chunk) == ""
    assert all(c.startswith("```python\n") for c in chunks[1:-1])
    body = [ln for c in chunks for ln in c.splitlines() if not ln.startswith("```")]
    assert body == [ln for ln in text.splitlines() if not ln.startswith("```")]


def test_no_empty_block_when_the_cut_lands_on_the_closing_fence() -> None:
    code = ("a" * 99 + "\n") * 19 + "a" * 92  # the window ends right before "```"
    text = f"```\n{code}\n```\nafter the block"
    chunks = split_message(text)
    assert chunks == [f"```\n{code}\n```", "after the block"]


def test_finished_chunks_do_not_change_as_text_grows() -> None:
    text = "\n\n".join(f"para {i} " + "w " * 80 for i in range(40))
    final = split_message(text)
    for end in range(500, len(text), 97):
        partial = split_message(text[:end])
        # every chunk but the last one being written is already final
        assert partial[:-1] == final[: len(partial) - 1]


def test_anchor_round_trip_and_fallback() -> None:
    key = ThreadKey("discord", "1", "55", "55")
    anchor = Anchor(channel_id=55, interaction_token="tok", interaction_created=time.time())
    assert Anchor.loads(anchor.dumps(), key=key) == anchor
    assert anchor.token_usable()
    assert not Anchor(55, "tok", time.time() - 15 * 60).token_usable()
    assert Anchor.loads("", key=key) == Anchor(channel_id=55)
    assert Anchor.loads("{broken", key=key) == Anchor(channel_id=55)


@pytest.mark.parametrize(
    "history",
    [
        History("thread", before=123),
        History("thread"),
        History("reply", message_id=7, channel_id=8),
    ],
)
def test_anchor_keeps_what_the_first_turn_reads(history: History) -> None:
    key = ThreadKey("discord", "1", "55", "55")
    anchor = Anchor(channel_id=55, history=history)
    assert Anchor.loads(anchor.dumps(), key=key) == anchor


@pytest.mark.parametrize(
    "mark", ['"t"', '{"k": "x"}', '{"k": "r", "m": "7"}', '{"k": "t", "b": "nope"}']
)
def test_a_damaged_history_mark_reads_nothing_but_keeps_the_destination(mark: str) -> None:
    key = ThreadKey("discord", "1", "55", "55")
    assert Anchor.loads(f'{{"c": "56", "h": {mark}}}', key=key) == Anchor(channel_id=56)


@pytest.mark.parametrize(
    ("access", "guild", "channels", "roles", "allowed"),
    [
        (Access(), 1, (2, None), [3], True),
        (Access(guilds=frozenset({1})), 9, (2, None), [], False),
        (Access(channels=frozenset({2})), 1, (7, 2), [], True),  # thread of an allowed channel
        (Access(channels=frozenset({2})), 1, (7, 8), [], False),
        (Access(roles=frozenset({3})), 1, (2, None), [4, 3], True),
        (Access(roles=frozenset({3})), 1, (2, None), [4], False),
        (Access(roles=frozenset({3})), None, (2, None), None, False),  # DM: no roles
        (Access(dms=False), None, (2, None), None, False),
        (Access(), None, (2, None), None, True),
    ],
)
def test_access(
    access: Access,
    guild: int | None,
    channels: tuple[int, int | None],
    roles: list[int] | None,
    allowed: bool,
) -> None:
    refusal = access.refusal(guild_id=guild, channel_ids=channels, role_ids=roles)
    assert (refusal is None) == allowed


def test_clean_text_and_thread_name() -> None:
    assert clean_text("<@99> hi <@!99> there <#5> <@&7>", bot_id=99) == "hi there #channel @role"
    assert thread_name("  \n first line \n second") == "first line"
    assert thread_name("") == "Question"
    long = thread_name("q" * 300)
    assert len(long) == 100 and long.endswith("…")


def test_readme_invite_url_has_exactly_the_needed_permissions() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"permissions={INVITE_PERMISSIONS.value}" in readme
    assert f"permissions={INVITE_PERMISSIONS.value}" in invite_url(1)
    assert {name for name, on in INVITE_PERMISSIONS if on} == {
        "send_messages",
        "send_messages_in_threads",
        "create_public_threads",
        "attach_files",
        "read_message_history",
        "use_application_commands",
    }
