"""`threadbridge check` for Slack: the token works and has the scopes the bot uses."""

from __future__ import annotations

from adapters.slack.app import SCOPES, build_client
from adapters.slack.errors import FAILURES, error_code
from adapters.slack.settings import SlackAppSettings
from bot.models import CheckResult


async def check_slack(*, settings: SlackAppSettings) -> list[CheckResult]:
    assert settings.slack_bot_token is not None
    client = build_client(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    try:
        response = await client.auth_test()
    except FAILURES as exc:
        error = error_code(exc)
        return [CheckResult("Slack token", False, f"SLACK_BOT_TOKEN was refused: {error}")]
    results = [
        CheckResult(
            "Slack token", True, f"bot {response.get('user')} in team {response.get('team')}"
        )
    ]
    granted = {s.strip() for s in response.headers.get("x-oauth-scopes", "").split(",") if s}
    missing = sorted(set(SCOPES) - granted)
    if missing:
        results.append(
            CheckResult(
                "Slack scopes",
                False,
                f"missing {', '.join(missing)}: add them (manifest.yml) and reinstall the app",
            )
        )
    else:
        results.append(CheckResult("Slack scopes", True, "all scopes in manifest.yml granted"))
    if settings.slack_app_token is None and settings.slack_signing_secret is None:
        results.append(
            CheckResult(
                "Slack connection",
                False,
                "set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)",
            )
        )
    return results
