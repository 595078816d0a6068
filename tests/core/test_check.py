"""`threadbridge check` against the emulators: all fine, or names what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.core.test_config import run_cli


def env_for(openai_emulator: Any, slack: Any, discord: Any, tmp_path: Path) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-check-123456",
        "OPENAI_BASE_URL": openai_emulator.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "DISCORD_TOKEN": discord.bot_token,
        "DISCORD_API_URL": discord.api_base,
    }


async def test_check_all_fine(
    openai_emulator: Any, slack_emulator: Any, discord_emulator: Any, tmp_path: Path
) -> None:
    env = env_for(openai_emulator, slack_emulator, discord_emulator, tmp_path)
    code, out, err = await run_cli("check", env=env, cwd=tmp_path)
    assert code == 0, out + err
    assert err == ""  # no log lines (alembic's among them) around the report
    lines = out.splitlines()
    assert all(line.startswith("ok ") for line in lines), out
    for name in (
        "settings",
        "database",
        "OpenAI model",
        "OpenAI Conversations",
        "Slack token",
        "Slack scopes",
        "Discord token",
        "Discord intents",
    ):
        assert any(name in line for line in lines), name


async def test_check_names_a_missing_scope_and_a_bad_token(
    openai_emulator: Any, slack_emulator: Any, discord_emulator: Any, tmp_path: Path
) -> None:
    slack_emulator.scopes = [s for s in slack_emulator.scopes if s != "files:write"]
    env = env_for(openai_emulator, slack_emulator, discord_emulator, tmp_path)
    env["DISCORD_TOKEN"] = "wrong-token"
    env["OPENAI_MODEL"] = "no-such-model"
    openai_emulator.unknown_models.add("no-such-model")
    code, out, _ = await run_cli("check", env=env, cwd=tmp_path)
    assert code == 1
    fixes = [line for line in out.splitlines() if line.startswith("FIX")]
    assert any("Slack scopes" in f and "files:write" in f for f in fixes)
    assert any("Discord token" in f and "DISCORD_TOKEN" in f for f in fixes)
    assert any("OPENAI_MODEL" in f for f in fixes)
