"""`threadbridge console` as a user scripts it: piped lines in, streamed replies out."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.core.test_config import run_cli
from tests.emulators.openai import Reply


def env_for(emulator: Any, tmp_path: Path) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-console-test-123",
        "OPENAI_BASE_URL": emulator.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}",
        # Conversations counted one per thread here; tests/core/test_pool.py has the pool.
        "THREADBRIDGE_CONVERSATION_POOL": "0",
    }


async def test_piped_console_prints_replies_and_persists_the_thread(
    openai_emulator: Any, tmp_path: Path
) -> None:
    env = env_for(openai_emulator, tmp_path)
    openai_emulator.script(Reply(text="Hello! I stream.", chunk_chars=2))
    code, out, err = await run_cli(
        "console", "--thread", "demo", env=env, cwd=tmp_path, stdin=b"hi\nsecond line\n"
    )
    assert code == 0, err
    assert out.splitlines() == ["assistant> Hello! I stream.", "assistant> echo: second line"]
    assert err == ""  # no log lines (alembic's among them) around the conversation
    deltas = openai_emulator.responses_requests()
    assert len(deltas) == 2

    with sqlite3.connect(tmp_path / "console.db") as db:
        (conv,) = db.execute(
            "SELECT conversation_id FROM threads WHERE platform='console' AND thread='demo'"
        ).fetchone()
    assert conv.startswith("conv_")

    # A second run resumes the same conversation.
    code, out, _ = await run_cli(
        "console", "--thread", "demo", env=env, cwd=tmp_path, stdin=b"third\n"
    )
    assert code == 0
    assert out.splitlines() == ["assistant> echo: third"]
    last = openai_emulator.responses_requests()[-1].body
    assert last["conversation"] in (conv, {"id": conv})
    assert [r.path for r in openai_emulator.requests].count("/v1/conversations") == 1


async def test_console_new_starts_another_conversation(
    openai_emulator: Any, tmp_path: Path
) -> None:
    env = env_for(openai_emulator, tmp_path)
    code, out, err = await run_cli("console", env=env, cwd=tmp_path, stdin=b"a\n/new\nb\n")
    assert code == 0, err
    assert "assistant> echo: a" in out and "assistant> echo: b" in out
    assert [r.path for r in openai_emulator.requests].count("/v1/conversations") == 2
    convs = {str(r.body["conversation"]) for r in openai_emulator.responses_requests()}
    assert len(convs) == 2


async def test_console_failure_prints_error_with_ref(openai_emulator: Any, tmp_path: Path) -> None:
    env = env_for(openai_emulator, tmp_path) | {"OPENAI_MAX_RETRIES": "0"}
    openai_emulator.script(Reply(status=500))
    code, out, _ = await run_cli("console", env=env, cwd=tmp_path, stdin=b"a\nb\n")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("  [error] ") and "(ref " in lines[0]
    assert lines[1] == "assistant> echo: b"


async def test_the_console_keeps_at_most_one_conversation_ahead(
    openai_emulator: Any, tmp_path: Path
) -> None:
    """The default pool (64, for bursts of new threads) is not for one person."""
    env = env_for(openai_emulator, tmp_path)
    del env["THREADBRIDGE_CONVERSATION_POOL"]
    code, out, err = await run_cli("console", env=env, cwd=tmp_path, stdin=b"hi\n")
    assert code == 0, err
    assert out.splitlines() == ["assistant> echo: hi"]
    # The thread's own and at most one ahead (the refill may or may not have run).
    assert [r.path for r in openai_emulator.requests].count("/v1/conversations") <= 2
