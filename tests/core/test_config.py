"""Settings: bad values stop the process at start with the variable named."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.cli import Settings, all_settings_table, settings_tables_markdown
from bot.config import ConfigError, CoreSettings, load_settings, normalize_database_url
from tests.helpers import this_tree


async def run_cli(
    *args: str, env: dict[str, str], cwd: Path, stdin: bytes = b""
) -> tuple[int, str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "SLACK_", "DISCORD_", "THREADBRIDGE_"))
    }
    base.pop("DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=this_tree({**base, **env}),
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "OPENAI_API_KEY"),
        ({"OPENAI_API_KEY": "sk-x", "DATABASE_URL": "mysql://db/x"}, "DATABASE_URL"),
        ({"OPENAI_API_KEY": "sk-x", "DATABASE_URL": "not a url"}, "DATABASE_URL"),
        (
            {"OPENAI_API_KEY": "sk-x", "THREADBRIDGE_CONVERSATION_MODE": "threads"},
            "THREADBRIDGE_CONVERSATION_MODE",
        ),
        (
            {"OPENAI_API_KEY": "sk-x", "THREADBRIDGE_MAX_CONCURRENT_TURNS": "many"},
            "THREADBRIDGE_MAX_CONCURRENT_TURNS",
        ),
    ],
)
async def test_bad_setting_exits_2_naming_the_variable(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    code, out, err = await run_cli("run", env=env, cwd=tmp_path)
    assert code == 2
    assert variable in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""


async def test_run_without_platforms_says_what_enables_them(tmp_path: Path) -> None:
    code, _, err = await run_cli("run", env={"OPENAI_API_KEY": "sk-x"}, cwd=tmp_path)
    assert code == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_TOKEN", "threadbridge console"):
        assert name in err
    assert "Traceback" not in err


async def test_settings_from_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    instructions = tmp_path / "instructions.md"
    instructions.write_text("Be a pirate.")
    env_file.write_text(
        "OPENAI_API_KEY=sk-from-dotenv\nOPENAI_MODEL=gpt-test\n"
        f"THREADBRIDGE_INSTRUCTIONS_FILE={instructions}\nDISCORD_GUILD_IDS=1, 2\n"
    )
    settings = load_settings(Settings, _env_file=str(env_file))
    assert settings.openai_api_key.get_secret_value() == "sk-from-dotenv"
    assert "sk-from-dotenv" not in repr(settings)
    assert settings.openai_model == "gpt-test"
    assert settings.instructions == "Be a pirate."
    assert settings.discord_guild_ids == ["1", "2"]
    assert settings.conversation_mode == "conversations"


def test_missing_instructions_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="THREADBRIDGE_INSTRUCTIONS_FILE"):
        load_settings(
            CoreSettings,
            _env_file=None,
            OPENAI_API_KEY="sk-x",
            THREADBRIDGE_INSTRUCTIONS_FILE=str(tmp_path / "missing.md"),
        )


@pytest.mark.parametrize(
    ("url", "expected", "connect_args"),
    [
        ("sqlite:///bot.db", "sqlite:///bot.db", {}),
        ("sqlite+aiosqlite:///bot.db", "sqlite:///bot.db", {}),
        ("sqlite:////var/data/bot.db", "sqlite:////var/data/bot.db", {}),
        ("postgres://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d", {}),
        ("postgres://u:p@h/d?sslmode=require", "postgresql+asyncpg://u:p@h/d", {"ssl": "require"}),
        (
            "postgresql://u@h/d?sslmode=disable&application_name=x",
            "postgresql+asyncpg://u@h/d?application_name=x",
            {"ssl": False},
        ),
    ],
)
def test_database_urls(url: str, expected: str, connect_args: dict[str, object]) -> None:
    assert normalize_database_url(url) == (expected, connect_args)


def test_settings_table_lists_every_variable() -> None:
    names = [row[0] for row in all_settings_table()]
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_MODEL",
        "DATABASE_URL",
        "THREADBRIDGE_CONVERSATION_MODE",
        "THREADBRIDGE_MAX_CONCURRENT_TURNS",
    ):
        assert name in names


def test_readme_config_table_matches_settings() -> None:
    """Regenerate with: python -c 'from bot.cli import settings_tables_markdown as m; print(m())'"""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("<!-- config-table -->\n", 1)[1].split("\n<!-- /config-table -->", 1)[0]
    assert block == settings_tables_markdown()
