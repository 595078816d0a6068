"""Connecting to Slack: Socket Mode (default) or HTTP mode (Events API on $PORT).

Both run until cancelled; cancelling disconnects (the command line cancels on
SIGTERM/SIGINT, then lets running turns finish).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from adapters.slack.settings import SlackAppSettings
from bot.service import Service

from .app import SlackBridge, SlackOptions, build_client, web_session
from .download import ConnectorFactory

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


class SlackConfigError(Exception):
    """A Slack setting needed for the chosen mode is missing; names the variable."""


def build_bridge(
    *,
    service: Service,
    settings: SlackAppSettings,
    http: bool,
    connector_factory: ConnectorFactory | None = None,
) -> SlackBridge:
    """The Bolt app for `settings`, registered with `service` as the "slack" replier."""
    if settings.slack_bot_token is None:
        raise SlackConfigError("SLACK_BOT_TOKEN is required for Slack")
    secret: str | None = None
    if http:
        if settings.slack_signing_secret is None:
            raise SlackConfigError("SLACK_SIGNING_SECRET is required for HTTP mode (--http)")
        secret = settings.slack_signing_secret.get_secret_value()
    elif settings.slack_app_token is None:
        raise SlackConfigError("SLACK_APP_TOKEN is required for Socket Mode")
    client = build_client(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        session=web_session(),
    )
    return SlackBridge(
        service=service,
        client=client,
        options=SlackOptions.from_settings(settings),
        signing_secret=secret,
        connector_factory=connector_factory,
    )


def http_app(bridge: SlackBridge) -> web.Application:
    """aiohttp app: POST /slack/events (Bolt checks the signature), GET /healthz."""

    async def events(request: web.Request) -> web.Response:
        try:
            bolt_request = await to_bolt_request(request)
        except ValueError as exc:  # a body that is not the JSON or form it claims
            logger.warning("rejected a malformed Slack request: %s", exc.__class__.__name__)
            return web.json_response({"error": "malformed request"}, status=400)
        response = await bridge.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(EVENTS_PATH, events)
    app.router.add_get(HEALTH_PATH, health)
    return app


async def start_http(
    bridge: SlackBridge, *, host: str, port: int, shared: bool = False
) -> web.AppRunner:
    """Serve `http_app(bridge)` on host:port (port 0 picks one); returns the runner.
    `shared`: other processes listen on the same port (SO_REUSEPORT: the kernel spreads
    the connections over them)."""
    runner = web.AppRunner(http_app(bridge), access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=shared or None).start()
    return runner


async def serve_http(bridge: SlackBridge, *, host: str, port: int, shared: bool = False) -> None:
    runner = await start_http(bridge, host=host, port=port, shared=shared)
    logger.info("Slack HTTP mode: listening on %s:%s%s", host, port, EVENTS_PATH)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def start_socket_mode(bridge: SlackBridge, *, app_token: str) -> AsyncSocketModeHandler:
    handler = AsyncSocketModeHandler(bridge.app, app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    return handler


async def serve_socket_mode(bridge: SlackBridge, *, app_token: str) -> None:
    handler = await start_socket_mode(bridge, app_token=app_token)
    logger.info("Slack Socket Mode: connected")
    try:
        await asyncio.Event().wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def run_slack(*, service: Service, settings: SlackAppSettings, http: bool) -> None:
    """Run the Slack adapter until cancelled (the composition root's entry point).

    Like every platform runner: cancelled, it stops taking events, gives running turns
    THREADBRIDGE_SHUTDOWN_SECONDS to post their replies, then closes its Web API client.
    """
    bridge = build_bridge(service=service, settings=settings, http=http)
    try:
        if http:
            shared = settings.processes > 1
            await serve_http(bridge, host=settings.host, port=settings.port, shared=shared)
        else:
            assert settings.slack_app_token is not None
            await serve_socket_mode(bridge, app_token=settings.slack_app_token.get_secret_value())
    except asyncio.CancelledError:
        # Intake is closed (the listener or socket went with the cancellation); the
        # replies still in flight post through this bridge's client.
        if not await service.stop(budget=settings.shutdown_budget):
            logger.warning("Slack: some turns did not finish before shutdown")
        raise
    finally:
        await bridge.close()


__all__ = [
    "EVENTS_PATH",
    "HEALTH_PATH",
    "SlackConfigError",
    "build_bridge",
    "http_app",
    "run_slack",
    "serve_http",
    "serve_socket_mode",
    "start_http",
    "start_socket_mode",
]
