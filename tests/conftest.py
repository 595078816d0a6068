"""Shared fixtures: settings on a real SQLite file, the core wired to the emulators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.assistant import Assistant
from bot.assistants import load_assistants, single
from bot.cli import Settings
from bot.config import load_settings
from bot.engine import Engine, build_client
from bot.service import Service
from bot.store import Store
from bot.tools import ToolRegistry
from tests.helpers import RecordingReplier

pytest_plugins = [
    "tests.emulators.openai.plugin",
    "tests.emulators.slack.plugin",
    "tests.emulators.discord.plugin",
]
# While an emulator is being written its plugin may not exist yet.
pytest_plugins = [
    name
    for name in pytest_plugins
    if (Path(__file__).parent.parent / (name.replace(".", "/") + ".py")).exists()
]

SettingsFactory = Callable[..., Settings]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the developer's .env or environment."""
    import os

    for name in list(os.environ):
        if name.startswith(("OPENAI_", "SLACK_", "DISCORD_", "THREADBRIDGE_")) or name in (
            "DATABASE_URL",
            "DYNO",
            "PORT",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THREADBRIDGE_ENV_FILE", str(tmp_path / "no.env"))


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite by default; tests/dbs.py has the variant over SQLite and PostgreSQL."""
    return f"sqlite:///{tmp_path / 'threadbridge.db'}"


@pytest.fixture
def make_settings(tmp_path: Path, openai_emulator: Any, database_url: str) -> SettingsFactory:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "OPENAI_API_KEY": "sk-test-key-123456",
            "OPENAI_BASE_URL": openai_emulator.base_url,
            "OPENAI_MODEL": "test-model",
            "DATABASE_URL": database_url,
            "OPENAI_MAX_RETRIES": 1,
            "THREADBRIDGE_OUTPUT_DIR": str(tmp_path / "out"),
        }
        values.update(overrides)
        return load_settings(Settings, _env_file=None, **values)

    return make


class Core:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        engine: Engine,
        service: Service,
        replier: RecordingReplier,
    ) -> None:
        self.settings = settings
        self.store = store
        self.engine = engine
        self.service = service
        self.replier = replier


async def build_core(settings: Settings, tools: ToolRegistry | None = None) -> Core:
    url, connect_args = settings.store_url
    store = await Store.open(url, connect_args=connect_args)
    if settings.assistants_file is not None:
        assistants = load_assistants(
            settings.assistants_file,
            settings=settings,
            tools_for=lambda module: tools if tools is not None else ToolRegistry(),
        )
    else:
        assistants = single(Assistant.from_settings(settings, tools))
    engine = Engine(
        client=build_client(settings), assistants=assistants, store=store, settings=settings
    )
    replier = RecordingReplier()
    service = Service(
        store=store,
        engine=engine,
        settings=settings,
        repliers={"test": replier},
        assistants=assistants,
    )
    return Core(settings, store, engine, service, replier)


async def close_core(core: Core) -> None:
    await core.service.stop(budget=5)
    await core.engine.close()
    await core.store.close()


@pytest.fixture
async def make_core(make_settings: SettingsFactory) -> AsyncIterator[Callable[..., Any]]:
    cores: list[Core] = []

    async def make(tools: ToolRegistry | None = None, **overrides: Any) -> Core:
        core = await build_core(make_settings(**overrides), tools)
        cores.append(core)
        return core

    yield make
    for core in cores:
        await close_core(core)
