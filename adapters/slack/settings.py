"""The Slack adapter's settings (combined with the core's at start: bot/cli.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from bot.config import CoreSettings, CsvList, SettingsBase


class SlackSettings(SettingsBase):
    """Slack: tokens, API and file hosts, who is answered, how replies are posted, and
    the HTTP mode's address."""

    slack_bot_token: SecretStr | None = Field(
        None, alias="SLACK_BOT_TOKEN", description="Slack bot token (xoxb-...)."
    )
    slack_app_token: SecretStr | None = Field(
        None, alias="SLACK_APP_TOKEN", description="Slack app-level token for Socket Mode."
    )
    slack_signing_secret: SecretStr | None = Field(
        None, alias="SLACK_SIGNING_SECRET", description="Slack signing secret (HTTP mode)."
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        alias="SLACK_API_URL",
        description="Slack Web API base (https://slack-gov.com/api/ for GovSlack).",
    )
    slack_file_hosts: CsvList = Field(
        default_factory=lambda: ["files.slack.com"],
        alias="SLACK_FILE_HOSTS",
        description="Hosts the bot token is sent to when downloading shared files, over "
        "https only (comma-separated; default files.slack.com).",
    )
    slack_read_history: bool = Field(
        True,
        alias="THREADBRIDGE_SLACK_READ_HISTORY",
        description="Slack: when first mentioned in an existing thread, read the thread "
        "(`conversations.replies`) and give it to the model as context.",
    )
    slack_require_mention: bool = Field(
        False,
        alias="THREADBRIDGE_SLACK_REQUIRE_MENTION",
        description="Slack: answer in channel threads only when mentioned (by default "
        "follow-ups in a thread the bot is part of are answered without a mention).",
    )
    slack_allow_bots: bool = Field(
        False,
        alias="THREADBRIDGE_SLACK_ALLOW_BOTS",
        description="Slack: answer messages from other bots (never from itself).",
    )
    slack_allowed_channels: CsvList = Field(
        default_factory=list,
        alias="THREADBRIDGE_SLACK_ALLOWED_CHANNELS",
        description="Slack channel ids the bot answers in (comma-separated; empty: all). "
        "Direct messages count as allowed unless the list is set and lacks `dm`.",
    )
    slack_allowed_users: CsvList = Field(
        default_factory=list,
        alias="THREADBRIDGE_SLACK_ALLOWED_USERS",
        description="Slack user ids the bot answers (comma-separated; empty: everyone).",
    )
    slack_refusal: Literal["reply", "ignore"] = Field(
        "reply",
        alias="THREADBRIDGE_SLACK_REFUSAL",
        description="Slack: a message from outside the allowlists gets a short polite "
        "`reply` or is silently `ignore`d.",
    )
    slack_allow_user_mentions: bool = Field(
        False,
        alias="THREADBRIDGE_SLACK_ALLOW_USER_MENTIONS",
        description="Slack: let model output mention (ping) users with `<@U...>`; "
        "@channel/@here/@everyone and user groups are never allowed.",
    )
    slack_task_display: Literal["timeline", "plan", "status"] = Field(
        "timeline",
        alias="THREADBRIDGE_SLACK_TASK_DISPLAY",
        description="Slack: how a streamed reply shows the assistant's steps (code, "
        "searches, function calls): task cards in the `timeline`, one `plan`, or only "
        "the thread `status` line.",
    )
    slack_stop_after: float = Field(
        2.0,
        ge=0,
        alias="THREADBRIDGE_SLACK_STOP_AFTER",
        description="Slack: seconds a reply must still be running before its Stop button "
        "is sent (0: at once); a quicker reply leaves no Stop message behind.",
    )
    slack_streaming: bool = Field(
        True,
        alias="THREADBRIDGE_SLACK_STREAMING",
        description="Slack: stream replies with chat.startStream/appendStream; when off "
        "(or where Slack refuses) a message is posted and edited about once a second.",
    )

    port: int = Field(3000, ge=1, le=65535, alias="PORT", description="HTTP port (HTTP mode).")
    host: str = Field(
        "0.0.0.0",  # noqa: S104 - PaaS routers reach the dyno on its external interface
        min_length=1,
        alias="HOST",
        description="Address the HTTP mode server binds (127.0.0.1 behind a local proxy).",
    )


class SlackAppSettings(CoreSettings, SlackSettings):
    """What the Slack adapter reads: the core's settings and its own."""


__all__ = ["SlackAppSettings", "SlackSettings"]
