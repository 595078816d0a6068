"""Slash commands: /ask, /reset, /help.

Discord gives an interaction 3 seconds for its first answer, so /ask defers before
anything else that touches the network; the rest (posting the question, opening the
thread, queueing the turn) happens inside the 15 minutes the token allows.
"""

from __future__ import annotations

import logging
import uuid

import discord
from discord import app_commands

from adapters.discord.access import Access
from adapters.discord.anchor import History
from adapters.discord.download import CdnFetcher
from adapters.discord.events import (
    AUTO_ARCHIVE_MINUTES,
    conversation_key,
    inbound_from_interaction,
    interaction_places,
    is_thread,
    parent_id,
    prompt_text,
    role_ids,
    thread_name,
)
from adapters.discord.settings import DiscordAppSettings
from adapters.discord.state import DiscordState
from adapters.discord.threads import Threads
from bot.attachments import human_size
from bot.service import Service

logger = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
ASK_DESCRIPTION = "Ask the assistant (in a channel, opens a thread)"
PROMPT_HELP = "Your question or request"
FILE_HELP = "A file for the assistant (optional)"
QUESTION_LIMIT = 2000
Interaction = discord.Interaction[discord.Client]


class SlashCommands:
    """/ask, /reset and /help with what they need passed in; `tree(client)` registers
    them on a new command tree of `client`. The bot's own user and intents come from
    the interaction's client."""

    def __init__(
        self,
        *,
        service: Service,
        settings: DiscordAppSettings,
        access: Access,
        fetcher: CdnFetcher,
        state: DiscordState,
        threads: Threads,
    ) -> None:
        self.service = service
        self.settings = settings
        self.access = access
        self.fetcher = fetcher
        self.state = state
        self.threads = threads

    def tree(self, client: discord.Client) -> app_commands.CommandTree[discord.Client]:
        tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

        if len(self.service.assistant_names()) > 1:
            self._ask_with_choice(tree)
        else:

            @tree.command(name="ask", description=ASK_DESCRIPTION)
            @app_commands.describe(prompt=PROMPT_HELP, file=FILE_HELP)
            async def ask(
                interaction: Interaction, prompt: str, file: discord.Attachment | None = None
            ) -> None:
                await self.ask(interaction, prompt=prompt, file=file)

        @tree.command(name="reset", description="Start a new conversation in this thread")
        async def reset(interaction: Interaction) -> None:
            await self.reset(interaction)

        @tree.command(name="help", description="What this bot can do")
        async def help_(interaction: Interaction) -> None:
            await interaction.response.send_message(self.help_text(interaction), ephemeral=True)

        return tree

    def _ask_with_choice(self, tree: app_commands.CommandTree[discord.Client]) -> None:
        """/ask with an `assistant` option, offered from the assistants allowed where it
        is used (a new thread only; a thread keeps its assistant)."""

        @tree.command(name="ask", description=ASK_DESCRIPTION)
        @app_commands.describe(
            prompt=PROMPT_HELP,
            file=FILE_HELP,
            assistant="Which assistant answers (a new thread keeps it)",
        )
        async def ask(
            interaction: Interaction,
            prompt: str,
            file: discord.Attachment | None = None,
            assistant: str | None = None,
        ) -> None:
            await self.ask(interaction, prompt=prompt, file=file, assistant=assistant)

        @ask.autocomplete("assistant")
        async def choices(interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
            names = self.service.assistants_at(interaction_places(interaction))
            wanted = current.strip().lower()
            return [
                app_commands.Choice(name=name, value=name) for name, _ in names if wanted in name
            ][:25]

    def _refusal(self, interaction: Interaction) -> str | None:
        return self.access.refusal(
            guild_id=interaction.guild_id,
            channel_ids=(interaction.channel_id, parent_id(interaction.channel)),
            role_ids=role_ids(interaction.user),
        )

    async def ask(
        self,
        interaction: Interaction,
        *,
        prompt: str,
        file: discord.Attachment | None,
        assistant: str | None = None,
    ) -> None:
        """/ask: in a text channel, open a thread from the question; in a thread or DM,
        continue that conversation (the reply comes as the command's follow-up). A
        chosen `assistant` answers a new thread if it may answer there."""
        refusal = self._refusal(interaction)
        if refusal is not None:
            await interaction.response.send_message(f"Sorry, {refusal}.", ephemeral=True)
            return
        if assistant is not None:
            allowed = [n for n, _ in self.service.assistants_at(interaction_places(interaction))]
            if assistant not in allowed:
                await interaction.response.send_message(
                    f"“{discord.utils.escape_markdown(assistant)[:64]}” does not answer here. "
                    f"Choose one of: {', '.join(allowed)}.",
                    ephemeral=True,
                    allowed_mentions=NO_MENTIONS,
                )
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
        self.state.upload_limits[str(guild_id or "")] = interaction.filesize_limit
        prompt = prompt_text(
            interaction, prompt, bot_id=interaction.client.user.id if interaction.client.user else 0
        )
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
                    history = await self.threads.history(channel, key, before=original.id)
                    await self.threads.adopt(channel)
            inbound = inbound_from_interaction(
                interaction,
                key=key,
                prompt=prompt,
                file=file,
                # Follow-ups can only go to the command's own channel, not a new thread.
                follow_up=not new_thread,
                fetcher=self.fetcher,
                history=history,
                assistant=assistant,
            )
            outcome = await self.threads.submit(inbound)
            self.state.stats[outcome] += 1
            if outcome == "stopping":
                await _tell(interaction, "The bot is restarting; please ask again in a minute.")
        except discord.HTTPException as exc:
            ref = uuid.uuid4().hex[:8]
            logger.warning("/ask failed (ref %s): %s", ref, exc)
            reason = "I may lack permission to open threads here" if exc.status == 403 else ""
            because = f" ({reason})" if reason else ""
            await _tell(interaction, f"⚠️ Sorry, I could not start on this{because}. (ref {ref})")

    async def reset(self, interaction: Interaction) -> None:
        """/reset: the next message in this thread (or DM) starts a new conversation."""
        refusal = self._refusal(interaction)
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
        if guild_id is not None and not await self.threads.owns(channel, key):
            await interaction.response.send_message(
                "This thread has no conversation with me to reset.", ephemeral=True
            )
            return
        # The old conversation stays in the store as history; a new epoch takes over.
        await self.service.reset_thread(key)
        await interaction.response.send_message(
            "🔄 New conversation: I have forgotten the earlier messages of this thread.",
            allowed_mentions=NO_MENTIONS,
        )

    def help_text(self, interaction: Interaction) -> str:
        me = interaction.client.user
        name = me.display_name if me else "the bot"
        if interaction.client.intents.message_content:
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
            f"• Attach files (up to {human_size(self.settings.max_file_bytes)} each) "
            "to a message or to /ask.",
        ]
        here = self.service.assistants_at(interaction_places(interaction))
        bound = here[0][0]
        if len(self.service.assistant_names()) > 1:
            others = ", ".join(f"**{n}**" for n, _ in here[1:])
            lines.append(
                f"Assistant here: **{bound}**"
                + (f"; also {others} (`/ask assistant:` for a new thread)" if others else "")
                + "."
            )
        tools = self.service.describe_assistant(bound)
        lines.append("Tools: " + ("; ".join(tools) if tools else "none (text answers only)") + ".")
        return "\n".join(lines)


def question_line(name: str, prompt: str, file: discord.Attachment | None) -> str:
    """How the question is shown in the channel (and starts the thread)."""
    line = f"**{name} asked:** {prompt.strip()}"
    if file is not None:
        line += f"\n📎 {file.filename} ({human_size(file.size)})"
    if len(line) > QUESTION_LIMIT:
        line = line[: QUESTION_LIMIT - 1] + "…"
    return line


async def _tell(interaction: Interaction, text: str) -> None:
    """Replace the command's response; the token may already be gone."""
    try:
        await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as exc:
        logger.warning("could not answer the interaction: %s", exc)


__all__ = ["SlashCommands", "question_line"]
