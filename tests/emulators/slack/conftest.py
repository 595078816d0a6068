from tests.emulators.slack.plugin import slack_emulator  # noqa: F401
