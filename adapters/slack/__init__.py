"""Slack adapter: Bolt listeners, a streaming reply sink, safe file downloads.

`runner.run_slack` is what the command line starts (Socket Mode, or HTTP mode with
``--http``); `app.SlackBridge` is the Bolt app wired to the service; `settings` holds the
adapter's settings. Nothing is imported here, so reading the settings does not load Bolt.
"""
