"""Deployment files and operations: Heroku guard, app.json, logs without secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bot.cli import all_settings_table
from bot.logs import RedactingFilter
from tests.core.test_config import run_cli
from tests.helpers import inbound

ROOT = Path(__file__).parents[2]


async def test_heroku_with_sqlite_refuses_to_start(tmp_path: Path) -> None:
    code, _, err = await run_cli(
        "run", env={"OPENAI_API_KEY": "sk-x", "DYNO": "web.1"}, cwd=tmp_path
    )
    assert code == 2
    assert "DATABASE_URL" in err and "Postgres" in err
    assert "Traceback" not in err


async def test_heroku_sqlite_override(tmp_path: Path) -> None:
    code, _, err = await run_cli(
        "run",
        env={
            "OPENAI_API_KEY": "sk-x",
            "DYNO": "web.1",
            "THREADBRIDGE_ALLOW_EPHEMERAL_SQLITE": "true",
        },
        cwd=tmp_path,
    )
    assert code == 2 and "no chat platform is configured" in err


def test_app_json_and_procfile_name_real_settings() -> None:
    app = json.loads((ROOT / "app.json").read_text())
    known = {name for name, _, _ in all_settings_table()}
    # Every setting but those Heroku sets itself (the add-on's DATABASE_URL, PORT, and
    # WEB_CONCURRENCY by dyno size: a value here would pin it).
    assert set(app["env"]) == known - {"DATABASE_URL", "PORT", "WEB_CONCURRENCY"}
    assert all(spec["description"] for spec in app["env"].values())
    assert app["env"]["OPENAI_API_KEY"]["required"] is True
    assert {"plan": "heroku-postgresql"} in app["addons"]
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines())
    assert procfile == {"worker": "threadbridge run", "web": "threadbridge run --http"}


def test_redacting_filter_hides_tokens() -> None:
    f = RedactingFilter(["my-configured-secret"])
    text = (
        "key sk-abcdefghijklmnop slack xoxb-123-456-abc app xapp-1-A1-xyz "
        "cfg my-configured-secret Authorization: Bearer abc.def"
    )
    assert f.redact(text) == (
        "key [redacted] slack [redacted] app [redacted] cfg [redacted] "
        "Authorization: Bearer [redacted]"
    )


async def test_debug_logs_of_a_full_turn_contain_no_secrets(make_core: Any, caplog: Any) -> None:
    core = await make_core(
        SLACK_BOT_TOKEN="xoxb-999-secret-token", DISCORD_TOKEN="discord-secret-abc"
    )
    secrets = [
        core.settings.openai_api_key.get_secret_value(),
        "xoxb-999-secret-token",
        "discord-secret-abc",
    ]
    caplog.set_level(logging.DEBUG)
    for handler in (caplog.handler,):
        handler.addFilter(RedactingFilter(secrets))
    await core.service.submit(inbound("hello"))
    await core.service.drain()
    assert core.replier.replies[0].text == "echo: hello"
    assert caplog.records  # the turn did log at DEBUG
    text = "\n".join(caplog.handler.format(r) for r in caplog.records)
    for secret in secrets:
        assert secret not in text
