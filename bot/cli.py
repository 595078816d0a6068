"""The `threadbridge` command: the one place that wires adapters to the core."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.discord.settings import DiscordAppSettings, DiscordSettings
from adapters.slack.settings import SlackAppSettings, SlackSettings
from bot.assistant import Assistant, AssistantConfigError
from bot.assistants import Assistants, load_assistants, single
from bot.config import ConfigError, CoreSettings, load_settings, settings_markdown, settings_table
from bot.engine import Engine, build_client
from bot.logs import setup_logging
from bot.models import CheckResult
from bot.service import Service
from bot.store import Store
from bot.supervisor import CHILD_OPTION, become_supervisor, die_with_supervisor
from bot.tools import ToolRegistry

logger = logging.getLogger(__name__)

EXIT_CONFIG = 2
# Socket Mode connections Slack allows one app.
SOCKET_MODE_LIMIT = 10
# How long past THREADBRIDGE_SHUTDOWN_SECONDS the supervisor waits for a process to exit.
SUPERVISOR_GRACE_SECONDS = 10.0
# Conversations the console keeps created ahead (`threadbridge run`: the setting).
CONSOLE_POOL = 1
# Database connections of all the processes of one container (PostgreSQL).
DB_CONNECTIONS = 30


class Settings(SlackAppSettings, DiscordAppSettings):
    """Every setting: the core's, Slack's and Discord's, read once at start."""


SETTINGS_GROUPS: dict[str, type[CoreSettings | SlackSettings | DiscordSettings]] = {
    "Core": CoreSettings,
    "Slack": SlackSettings,
    "Discord": DiscordSettings,
}


def all_settings_table() -> list[tuple[str, str, str]]:
    """(variable, default, description) of every setting, group by group."""
    return [row for group in SETTINGS_GROUPS.values() for row in settings_table(group)]


def settings_tables_markdown() -> str:
    """The README's configuration section: one table per group (kept equal by a test)."""
    return "\n\n".join(
        f"**{name}**\n\n{settings_markdown(group)}" for name, group in SETTINGS_GROUPS.items()
    )


class UsageError(Exception):
    """A problem the user must fix; printed as one line, exit code 2."""


@dataclass
class Core:
    settings: Settings
    store: Store
    engine: Engine
    service: Service


def _secrets(settings: Settings) -> list[str]:
    values = [settings.openai_api_key]
    values += [
        s
        for s in (
            settings.slack_bot_token,
            settings.slack_app_token,
            settings.slack_signing_secret,
            settings.discord_token,
        )
        if s is not None
    ]
    return [v.get_secret_value() for v in values]


def _tools(settings: Settings, module: str | None, *, named_by: str = "") -> ToolRegistry:
    """The function tools of `module` (none if it is empty); `named_by` prefixes the
    error of a module that cannot be loaded."""
    kwargs = {
        "timeout": settings.tool_timeout,
        "output_limit": settings.tool_output_limit,
        "concurrency": settings.max_concurrent_tools,
    }
    if not module:
        return ToolRegistry(**kwargs)  # type: ignore[arg-type]
    try:
        return ToolRegistry.from_module(module, **kwargs)
    except (ImportError, TypeError, SyntaxError) as exc:
        raise AssistantConfigError(f"{named_by}cannot load {module!r}: {exc}") from None


def _assistants(settings: Settings) -> Assistants:
    """THREADBRIDGE_ASSISTANTS_FILE's assistants, or the one the settings define."""
    if settings.assistants_file is None:
        tools = _tools(settings, settings.tools_module, named_by="THREADBRIDGE_TOOLS: ")
        return single(Assistant.from_settings(settings, tools))
    return load_assistants(
        settings.assistants_file,
        settings=settings,
        tools_for=lambda module: _tools(settings, module),
    )


def process_count(settings: CoreSettings) -> int:
    """How many processes `run` may start: WEB_CONCURRENCY, at most one per CPU (Heroku's
    value is meant for pre-forking web servers: up to 2 x CPUs + 1)."""
    return max(1, min(settings.processes, len(os.sched_getaffinity(0))))


async def open_store(settings: Settings) -> Store:
    url, connect_args = settings.store_url
    try:
        # The processes of one container share the database's connections.
        connections = max(3, DB_CONNECTIONS // process_count(settings))
        return await Store.open(url, connect_args=connect_args, connections=connections)
    except OSError as exc:
        raise UsageError(f"DATABASE_URL: cannot open the database: {exc}") from None


@asynccontextmanager
async def core(settings: Settings) -> AsyncIterator[Core]:
    """Store, engine and service, closed in reverse order."""
    try:
        assistants = _assistants(settings)
    except AssistantConfigError as exc:
        raise UsageError(str(exc)) from None
    store = await open_store(settings)
    engine = Engine(
        client=build_client(settings), assistants=assistants, store=store, settings=settings
    )
    service = Service(store=store, engine=engine, settings=settings, assistants=assistants)
    try:
        yield Core(settings, store, engine, service)
    finally:
        # Let turns whose reply is already out record that they are done.
        await service.stop(budget=settings.shutdown_budget)
        await engine.close()
        await store.close()


# --- commands ---------------------------------------------------------------------


async def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.console import Console

    # One person, one thread at a time: a pool of Conversations ahead is for bursts.
    settings = settings.model_copy(
        update={"conversation_pool": min(settings.conversation_pool, CONSOLE_POOL)}
    )
    async with core(settings) as c:
        console = Console(service=c.service, thread=args.thread, output_dir=settings.output_dir)
        await c.service.start()
        return await console.run()


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    runners: list[Callable[[Core], Awaitable[None]]] = []
    http = bool(getattr(args, "http", False))
    if http:
        missing = [
            name
            for name, value in (
                ("SLACK_BOT_TOKEN", settings.slack_bot_token),
                ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
            )
            if value is None
        ]
        if missing:
            raise UsageError(f"--http (Slack HTTP mode) needs {' and '.join(missing)}")
    index: int | None = getattr(args, "process_index", None)
    slack = settings.slack_bot_token is not None and (http or settings.slack_app_token is not None)
    discord = settings.discord_token is not None and bool(
        settings.discord_token.get_secret_value().strip()
    )
    # Processes with work: every one serves Slack (up to Slack's Socket Mode connection
    # limit); Discord's gateway connection belongs to the first.
    count = process_count(settings)
    useful = (count if http else min(count, SOCKET_MODE_LIMIT)) if slack else 1
    if slack and (index is None or index < useful):
        from adapters.slack.runner import run_slack

        runners.append(lambda c: run_slack(service=c.service, settings=c.settings, http=http))
    if discord and not index:
        from adapters.discord.runner import run_discord

        runners.append(lambda c: run_discord(service=c.service, settings=c.settings))
    if not runners and index is None:
        raise UsageError(
            "no chat platform is configured: set SLACK_BOT_TOKEN and SLACK_APP_TOKEN "
            "(Socket Mode) or SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP mode, --http) "
            "for Slack, or DISCORD_TOKEN for Discord. To try the assistant with only "
            "OPENAI_API_KEY set, run: threadbridge console"
        )
    if index is not None:
        die_with_supervisor()
    elif useful > 1:
        # Migrate once, before the processes would race to.
        await (await open_store(settings)).close()
        become_supervisor(
            useful,
            ["run", *(["--http"] if http else [])],
            log_level=settings.log_level,
            json_logs=settings.log_format == "json",
            grace=settings.shutdown_budget + SUPERVISOR_GRACE_SECONDS,
        )
    async with core(settings) as c:
        await c.service.start()
        _freeze_startup_objects()
        await _serve_until_signal([runner(c) for runner in runners])
    # Leaving core() gives running turns THREADBRIDGE_SHUTDOWN_SECONDS to finish;
    # whatever is left stays queued in the store for the next start.
    return 0


def _freeze_startup_objects() -> None:
    """Keep what start-up built (modules, SDK types, schemas) out of later collections.

    A full garbage collection walks every tracked object, the ~100 MB the libraries build
    at import included, and the event loop, with every turn in it, stands still
    meanwhile. Frozen objects are not walked again: a full collection after this walks
    only what the bot allocated since. Measured: bench/RESULTS.md.
    """
    gc.collect()
    gc.freeze()


async def _serve_until_signal(runners: list[Awaitable[None]]) -> None:
    """Run the platform connections until SIGTERM/SIGINT or until one of them fails."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tasks = [asyncio.ensure_future(r) for r in runners]
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            logger.info("signal received: stopping intake, finishing running turns")
    finally:
        # Draining: a repeated SIGTERM (Heroku signals every process of the dyno, a
        # supervisor passes its own on) changes nothing; a second Ctrl-C quits at once.
        loop.add_signal_handler(signal.SIGTERM, _already_stopping)
        loop.remove_signal_handler(signal.SIGINT)
        # Cancelling a runner disconnects it (Socket Mode, gateway, HTTP listener).
        for task in (stopper, *tasks):
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            raise result


async def cmd_knowledge(settings: Settings, args: argparse.Namespace) -> int:
    from bot.knowledge import KnowledgeBase

    async with core(settings) as c:
        assistants = c.engine.assistants
        assistant = assistants.get(args.assistant) if args.assistant else assistants.default
        if assistant is None:
            names = ", ".join(a.name for a in assistants.all)
            raise UsageError(f"--assistant: no assistant {args.assistant!r} (there are: {names})")
        kb = KnowledgeBase(
            client=c.engine.client,
            store=c.store,
            key=assistant.knowledge_key,
            name=f"threadbridge knowledge base ({assistant.name})",
            others=tuple(a.knowledge_key for a in assistants.all if a is not assistant),
        )
        if args.action == "add":
            results = await kb.add([Path(p) for p in args.paths])
            for result in results:
                print(f"{'ok    ' if result.ok else 'FAILED'} {result.name}: {result.detail}")
            return 0 if all(r.ok for r in results) else 1
        if args.action == "list":
            files = await kb.files()
            if not files:
                print(
                    "the knowledge base is empty; add files with: threadbridge knowledge add PATH"
                )
            for f in files:
                print(f"{f.name}\t{f.status}\t{f.size} bytes\t{f.file_id}")
            return 0
        removed = await kb.remove(args.name)
        print(f"removed {removed} file(s) named {args.name}")
        return 0 if removed else 1


async def cmd_usage(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from bot.prices import cost, media_cost

    async with core(settings) as c:
        since = time.time() - args.days * 86400
        rows = await c.store.usage_summary(since=since, by=args.by)
        prices = c.engine.assistants.prices
        media_prices = c.engine.assistants.media_prices
    media_models = (settings.transcription_model, settings.speech_model)
    # [turns, input, output, audio seconds, speech characters, images, USD, a price unknown]
    totals: dict[tuple[str, str], list[Any]] = {}
    for line in rows:
        entry = totals.setdefault((line.platform, line.key), [0, 0, 0, 0.0, 0, 0, 0.0, False])
        for i, value in enumerate(
            (
                line.turns,
                line.input_tokens,
                line.output_tokens,
                line.audio_seconds,
                line.speech_characters,
                line.images,
            )
        ):
            entry[i] += value
        tokens_usd = cost(line.model, line.input_tokens, line.output_tokens, prices)
        media_usd, media_unknown = media_cost(
            audio_seconds=line.audio_seconds,
            speech_characters=line.speech_characters,
            images=line.images,
            models=media_models,
            prices=media_prices,
        )
        entry[6] += (tokens_usd or 0.0) + media_usd
        if tokens_usd is None or media_unknown:
            entry[7] = True  # something without a price: the estimate is a lower bound
    print(
        f"{'platform':<9} {args.by:<24} {'turns':>6} {'input':>10} {'output':>10} "
        f"{'audio min':>9} {'spoken ch':>9} {'images':>6} {'est. USD':>10}"
    )
    for (platform, who), (turns, tin, tout, seconds, spoken, images, usd, unknown) in sorted(
        totals.items(), key=lambda item: -(item[1][1] + item[1][2])
    ):
        shown = f"{usd:.4f}" + ("+?" if unknown else "")
        print(
            f"{platform:<9} {who:<24} {turns:>6} {tin:>10} {tout:>10} "
            f"{seconds / 60:>9.1f} {spoken:>9} {images:>6} {shown:>10}"
        )
    return 0


async def cmd_feedback(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from bot.feedback import report

    async with core(settings) as c:
        rows = await c.store.feedback_rows(since=time.time() - args.days * 86400)
    print(report(rows))
    return 0


async def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """Validate settings (already done by loading them) and call every configured service."""
    results: list[CheckResult] = [CheckResult("settings", True, "all settings are valid")]
    async with core(settings) as c:
        results.append(
            CheckResult(
                "database", True, f"{c.store.dialect} at revision {await c.store.revision()}"
            )
        )
        results += await c.engine.check()
    results += await _platform_checks(settings)
    width = max(len(r.name) for r in results)
    for r in results:
        print(f"{'ok ' if r.ok else 'FIX'}  {r.name:<{width}}  {r.detail}")
    return 0 if all(r.ok for r in results) else 1


async def _platform_checks(settings: Settings) -> list[CheckResult]:
    results: list[CheckResult] = []
    if settings.slack_bot_token is not None:
        from adapters.slack.check import check_slack

        results += await check_slack(settings=settings)
    if settings.discord_token is not None:
        from adapters.discord.check import check_discord

        results += await check_discord(settings=settings)
    if not results:
        results.append(
            CheckResult("chat platforms", False, "none configured (SLACK_BOT_TOKEN, DISCORD_TOKEN)")
        )
    return results


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    url, connect_args = settings.store_url
    store = await Store.open(url, connect_args=connect_args, migrate=False)
    try:
        if args.action == "upgrade":
            await store.migrate()
            print(f"database at revision {await store.revision()}")
        else:
            print(await store.revision() or "empty (no migrations applied)")
    finally:
        await store.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="threadbridge",
        description="An OpenAI assistant in Slack and Discord threads.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="connect to every configured chat platform")
    run.add_argument("--http", action="store_true", help="Slack over HTTP on $PORT")
    # Set by the supervisor on its children (WEB_CONCURRENCY > 1): bot/supervisor.py.
    run.add_argument(CHILD_OPTION, type=int, dest="process_index", help=argparse.SUPPRESS)
    run.set_defaults(handler=cmd_run)

    console = sub.add_parser("console", help="chat with the assistant in the terminal")
    console.add_argument("--thread", help="resume (or start) the thread with this name")
    console.set_defaults(handler=cmd_console)

    knowledge = sub.add_parser("knowledge", help="manage the knowledge base (file search)")
    knowledge.add_argument(
        "--assistant", help="whose knowledge base (default: the default assistant's)"
    )
    kb_sub = knowledge.add_subparsers(dest="action", required=True)
    kb_add = kb_sub.add_parser("add", help="upload files and wait until they are indexed")
    kb_add.add_argument("paths", nargs="+")
    kb_sub.add_parser("list", help="list the files")
    kb_remove = kb_sub.add_parser("remove", help="remove a file by name")
    kb_remove.add_argument("name")
    knowledge.set_defaults(handler=cmd_knowledge)

    usage = sub.add_parser("usage", help="tokens per user, thread or assistant")
    usage.add_argument("--days", type=float, default=30, help="period (default 30 days)")
    usage.add_argument("--by", choices=["user", "thread", "assistant"], default="user")
    usage.set_defaults(handler=cmd_usage)

    feedback = sub.add_parser(
        "feedback", help="thumbs up/down per model and day, and the replies voted down"
    )
    feedback.add_argument("--days", type=float, default=30, help="period (default 30 days)")
    feedback.set_defaults(handler=cmd_feedback)

    check = sub.add_parser("check", help="check settings and call every configured service")
    check.set_defaults(handler=cmd_check)

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "current"])
    db.set_defaults(handler=cmd_db)
    return parser


def _already_stopping() -> None:
    logger.info("SIGTERM again: still finishing running turns")


QUIET_COMMANDS = (cmd_console, cmd_check, cmd_usage, cmd_knowledge, cmd_feedback)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(Settings)
        if settings.assistants_file is not None:
            _assistants(settings)  # a bad file stops every command here, before any work
    except (ConfigError, AssistantConfigError) as exc:
        print(f"threadbridge: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    level = settings.log_level
    if args.handler in QUIET_COMMANDS and "log_level" not in settings.model_fields_set:
        # Their output is the point: only warnings and errors join it, unless asked.
        level = "WARNING"
    setup_logging(level, secrets=_secrets(settings), json_lines=settings.log_format == "json")
    try:
        code: int = asyncio.run(args.handler(settings, args))
        return code
    except (UsageError, ConfigError) as exc:
        print(f"threadbridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
