"""Slash commands: /ask, /reset, /help.

Discord gives an interaction 3 seconds for its first answer, so /ask defers before
anything else that touches the network; the rest (posting the question, opening the
thread, queueing the turn) happens inside the 15 minutes the token allows.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

import discord
from discord import app_commands

from adapters.discord.access import Access
from adapters.discord.anchor import History
from adapters.discord.download import CdnFetcher
from adapters.discord.events import (
    AUTO_ARCHIVE_MINUTES,
    conversation_key,
    inbound_from_interaction,
    is_thread,
    parent_id,
    prompt_text,
    role_ids,
    thread_name,
)
from adapters.discord.settings import DiscordAppSettings
from adapters.discord.state import DiscordState
from bot.attachments import human_size
from bot.models import Inbound, ThreadKey
from bot.service import Service

logger = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
QUESTION_LIMIT = 2000
Interaction = discord.Interaction[discord.Client]


class CommandHost(Protocol):
    """What the slash commands need of the client that serves them: its identity and
    intents, the shared state and resources, and its thread handling (defined once, in
    adapters/discord/client.py, for messages and commands alike)."""

    @property
    def user(self) -> discord.ClientUser | None: ...

    @property
    def intents(self) -> discord.Intents: ...

    service: Service
    settings: DiscordAppSettings
    access: Access
    fetcher: CdnFetcher
    state: DiscordState

    async def thread_history(
        self, thread: discord.Thread, key: ThreadKey, *, before: int
    ) -> History | None: ...

    async def adopt_thread(self, thread: discord.Thread) -> None: ...

    async def owns_thread(self, channel: object, key: ThreadKey) -> bool: ...

    async def submit(self, inbound: Inbound) -> str: ...


def build_tree(
    client: discord.Client, host: CommandHost
) -> app_commands.CommandTree[discord.Client]:
    """The command tree of `client` with /ask, /reset and /help, served by `host`."""
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    @tree.command(name="ask", description="Ask the assistant (in a channel, opens a thread)")
    @app_commands.describe(
        prompt="Your question or request", file="A file for the assistant (optional)"
    )
    async def ask(
        interaction: discord.Interaction[discord.Client],
        prompt: str,
        file: discord.Attachment | None = None,
    ) -> None:
        await handle_ask(host, interaction, prompt=prompt, file=file)

    @tree.command(name="reset", description="Start a new conversation in this thread")
    async def reset(interaction: discord.Interaction[discord.Client]) -> None:
        await handle_reset(host, interaction)

    @tree.command(name="help", description="What this bot can do")
    async def help_(interaction: discord.Interaction[discord.Client]) -> None:
        await handle_help(host, interaction)

    return tree


def _refusal(client: CommandHost, interaction: Interaction) -> str | None:
    return client.access.refusal(
        guild_id=interaction.guild_id,
        channel_ids=(interaction.channel_id, parent_id(interaction.channel)),
        role_ids=role_ids(interaction.user),
    )


def question_line(name: str, prompt: str, file: discord.Attachment | None) -> str:
    """How the question is shown in the channel (and starts the thread)."""
    line = f"**{name} asked:** {prompt.strip()}"
    if file is not None:
        line += f"\n📎 {file.filename} ({human_size(file.size)})"
    if len(line) > QUESTION_LIMIT:
        line = line[: QUESTION_LIMIT - 1] + "…"
    return line


async def handle_ask(
    client: CommandHost,
    interaction: Interaction,
    *,
    prompt: str,
    file: discord.Attachment | None,
) -> None:
    """/ask: in a text channel, open a thread from the question; in a thread or DM,
    continue that conversation (the reply comes as the command's follow-up)."""
    refusal = _refusal(client, interaction)
    if refusal is not None:
        await interaction.response.send_message(f"Sorry, {refusal}.", ephemeral=True)
        return
    channel = interaction.channel
    guild_id = interaction.guild_id
    new_thread = guild_id is not None and isinstance(channel, discord.TextChannel)
    if guild_id is not None and not new_thread and not is_thread(channel):
        await interaction.response.send_message(
            "Use /ask in a text channel, in a thread or in a DM with me.", ephemeral=True
        )
        return
    await interaction.response.defer(thinking=True)
    client.state.upload_limits[str(guild_id or "")] = interaction.filesize_limit
    prompt = prompt_text(interaction, prompt, bot_id=client.user.id if client.user else 0)
    history: History | None = None
    try:
        original = await interaction.edit_original_response(
            content=question_line(interaction.user.display_name, prompt, file),
            allowed_mentions=NO_MENTIONS,
        )
        if new_thread:
            thread = await original.create_thread(
                name=thread_name(prompt), auto_archive_duration=AUTO_ARCHIVE_MINUTES
            )
            key = conversation_key(guild_id=guild_id, channel_id=thread.id)
        else:
            assert interaction.channel_id is not None
            key = conversation_key(guild_id=guild_id, channel_id=interaction.channel_id)
            if isinstance(channel, discord.Thread):
                # The thread up to the question line just posted is read for context.
                history = await client.thread_history(channel, key, before=original.id)
                await client.adopt_thread(channel)
        inbound = inbound_from_interaction(
            interaction,
            key=key,
            prompt=prompt,
            file=file,
            # Follow-ups can only go to the command's own channel, not a new thread.
            follow_up=not new_thread,
            fetcher=client.fetcher,
            history=history,
        )
        outcome = await client.submit(inbound)
        client.state.stats[outcome] += 1
        if outcome == "stopping":
            await _tell(interaction, "The bot is restarting; please ask again in a minute.")
    except discord.HTTPException as exc:
        ref = uuid.uuid4().hex[:8]
        logger.warning("/ask failed (ref %s): %s", ref, exc)
        reason = "I may lack permission to open threads here" if exc.status == 403 else ""
        await _tell(
            interaction,
            f"⚠️ Sorry, I could not start on this{f' ({reason})' if reason else ''}. (ref {ref})",
        )


async def handle_reset(client: CommandHost, interaction: Interaction) -> None:
    """/reset: the next message in this thread (or DM) starts a new conversation."""
    refusal = _refusal(client, interaction)
    if refusal is not None:
        await interaction.response.send_message(f"Sorry, {refusal}.", ephemeral=True)
        return
    channel = interaction.channel
    guild_id = interaction.guild_id
    if interaction.channel_id is None or (guild_id is not None and not is_thread(channel)):
        await interaction.response.send_message(
            "Use /reset inside a thread I answer in (or in a DM with me).", ephemeral=True
        )
        return
    key = conversation_key(guild_id=guild_id, channel_id=interaction.channel_id)
    if guild_id is not None and not await client.owns_thread(channel, key):
        await interaction.response.send_message(
            "This thread has no conversation with me to reset.", ephemeral=True
        )
        return
    # The old conversation stays in the store as history; a new epoch takes over.
    await client.service.reset_thread(key)
    await interaction.response.send_message(
        "🔄 New conversation: I have forgotten the earlier messages of this thread.",
        allowed_mentions=NO_MENTIONS,
    )


async def handle_help(client: CommandHost, interaction: Interaction) -> None:
    """/help: what the bot does here and which tools are on (only the asker sees it)."""
    await interaction.response.send_message(help_text(client), ephemeral=True)


def help_text(client: CommandHost) -> str:
    name = client.user.display_name if client.user else "the bot"
    if client.intents.message_content:
        follow = "In a thread I opened, just write: I answer every message."
    else:
        follow = f"In a thread I opened, mention @{name} to continue the conversation."
    lines = [
        f"**{name}** answers with an AI assistant, one conversation per thread.",
        "• `/ask prompt [file]` in a channel opens a thread for the answer; "
        "in a thread or DM it continues the conversation there.",
        f"• {follow}",
        f"• Mention @{name} in a channel to open a thread from your message; "
        "in a DM every message is part of one conversation.",
        "• `/reset` in a thread starts a new conversation.",
        f"• Attach files (up to {human_size(client.settings.max_file_bytes)} each) "
        "to a message or to /ask.",
    ]
    tools = client.service.describe_assistant()
    lines.append("Tools: " + ("; ".join(tools) if tools else "none (text answers only)") + ".")
    return "\n".join(lines)


async def _tell(interaction: Interaction, text: str) -> None:
    """Replace the command's response; the token may already be gone."""
    try:
        await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        logger.warning("could not answer the interaction: %s", exc)


__all__ = ["build_tree", "handle_ask", "handle_help", "handle_reset", "help_text"]
